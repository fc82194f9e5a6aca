"""The admins' audit log page: every change (content, inbox marks, accounts) and every login, newest first.

    GET /dashboard/audit?actor=NAME&limit=N     the table (limit: 1 to MAX_SHOWN, default SHOWN)
    GET /dashboard/audit.csv?actor=NAME         the same as CSV (up to MAX_CSV entries)

Read from accounts.audit_log on the dashboard's auth thread (sessions.AuthStore: small indexed reads, by
time). What an entry's detail holds is shown as "key: value" text; the CSV keeps it as JSON. No secret
is ever in it (accounts.audit refuses detail keys that name one). The path of the CSV is not
/dashboard/export/audit.csv: that is the overview's route for its sections.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ..accounts import AuditEntry, audit_log
from .auth import AUTH, Principal, require
from .common import PREFIX, Dashboard, NavPage, csv_response, request_lang
from ..formatting import vn_time
from .templating import render
from .words import LANGS, T

PATH = PREFIX + "/audit"
SHOWN, MAX_SHOWN, MAX_CSV = 200, 5000, 100_000
CSV_HEADER = ["time", "actor", "action", "target", "detail"]


def detail_text(detail: dict[str, Any]) -> str:
    """An entry's detail as one line people read: "role: editor · wards: phuc-yen, xuan-hoa"."""
    def value(v: Any) -> str:
        if isinstance(v, (list, tuple)):
            return ", ".join(map(str, v)) or "–"
        if isinstance(v, dict):
            return json.dumps(v, ensure_ascii=False, sort_keys=True)
        return str(v)

    return " · ".join(f"{k}: {value(v)}" for k, v in detail.items())


def action_label(action: str, lang: str) -> str:
    """The action in words (words.T act_<action>), or as recorded for one without words (a later page's)."""
    return T[lang].get(f"act_{action}", action)


def asked(request: web.Request) -> tuple[str | None, int]:
    """The actor filter (None: everyone) and how many entries, from the query; a bad limit is the default."""
    actor = request.query.get("actor", "").strip()[:200] or None
    try:
        limit = min(max(int(request.query.get("limit", SHOWN)), 1), MAX_SHOWN)
    except ValueError:
        limit = SHOWN
    return actor, limit


async def entries(request: web.Request, actor: str | None, limit: int) -> tuple[list[AuditEntry], list[str]]:
    """The newest entries (by `actor`) and every actor there is (the filter's menu)."""

    def read(s: Any, a: Any) -> tuple[list[AuditEntry], list[str]]:
        actors = [r[0] for r in s.db.execute("select distinct actor from audit_log order by actor")]
        return audit_log(s.db, limit=limit, actor=actor), actors

    return await request.app[AUTH].store.run(read)


@require("admin", page=True)
async def page(request: web.Request, who: Principal) -> web.Response:
    lang = request_lang(request)
    actor, limit = asked(request)
    found, actors = await entries(request, actor, limit)
    rows = [
        {"when": vn_time(e.ts, lang), "actor": e.actor, "action": action_label(e.action, lang), "code": e.action,
         "target": e.target or "", "detail": detail_text(e.detail)}
        for e in found
    ]
    csv_href = f"{PATH}.csv" + ("?" + urlencode({"actor": actor}) if actor else "")
    return render(request, "audit.html", current="audit", rows=rows, actors=sorted(set(actors) | ({actor} if actor else set())),
                  actor=actor or "", shown_text=T[lang]["shown_newest"].replace("{n}", str(len(rows))), csv_href=csv_href)


@require("admin")
async def export(request: web.Request, who: Principal) -> web.Response:
    actor, _ = asked(request)
    found, _ = await entries(request, actor, MAX_CSV)
    rows = [[vn_time(e.ts, "en"), e.actor, e.action, e.target, json.dumps(e.detail, ensure_ascii=False, sort_keys=True)] for e in found]
    return csv_response(CSV_HEADER, rows, "digiguide-audit.csv")


def setup(app: web.Application, dash: Dashboard) -> None:
    dash.nav.append(NavPage("audit", "/audit", {lang: T[lang]["audit"] for lang in LANGS}, role="admin"))
    app.router.add_get(PATH, page)
    app.router.add_get(PATH + ".csv", export)
