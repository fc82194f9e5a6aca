"""GET /dashboard/review: the answers that need an official's review (issue 11, section 3), most asked first.

What needs review is decided by bot.freshness (the same list `python -m bot check --stale` prints): past
`valid_until` or close to it, reviewed more than `review_months` (locality.yaml) ago, a source re-checked or
changed after the entry's review. How often each entry was given in the last ASKED_DAYS days orders the list,
so an office starts with what citizens read most. Every role may read it (viewers plan, editors fix);
GET /dashboard/api/review gives the same as JSON.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any

from aiohttp import web

from bot.freshness import CHANGED, EXPIRED, EXPIRES, OVERDUE, RECHECKED, ReviewItem, review_list

from ..freshness_data import asked_counts
from ..store import VIETNAM
from .auth import Principal, require
from .common import DASHBOARD, PREFIX, Dashboard, NavPage, request_lang, secure
from .templating import render
from .words import LANGS, T

ASKED_DAYS = 90
SEVERITY_KEYS = {EXPIRED: "review_expired", CHANGED: "review_changed", EXPIRES: "review_expires", RECHECKED: "review_rechecked", OVERDUE: "review_overdue"}


async def items(request: web.Request) -> tuple[list[ReviewItem], dt.date]:
    """Today's review list on the live content, with asked counts (cached like the other sections)."""
    dash: Dashboard = request.app[DASHBOARD]
    today = dt.datetime.now(VIETNAM).date()
    since = today - dt.timedelta(days=ASKED_DAYS)
    asked = await dash.cache.get(("review-asked", since), lambda: dash.query(lambda db: asked_counts(db, since)))
    return review_list(dash.kb, today, asked=asked), today


@require("viewer", page=True)
async def page(request: web.Request, who: Principal) -> web.Response:
    found, today = await items(request)
    kb = request.app[DASHBOARD].kb
    lang = request_lang(request)
    offices = {key: _name(value, lang) for key, value in (kb.locality.get("offices") or {}).items()}
    return render(
        request, "review.html", current="review",
        items=found, today=today, months=kb.review_months, asked_days=ASKED_DAYS,
        severity_keys=SEVERITY_KEYS, offices=offices,
    )


def _name(office: Any, lang: str) -> str:
    """An office's name in the page's language (locality.yaml keeps {vi, en})."""
    name = office.get("name") if isinstance(office, dict) else None
    if isinstance(name, dict):
        return str(name.get(lang) or name.get("vi") or "")
    return str(name or "")


@require("viewer")
async def api(request: web.Request, who: Principal) -> web.Response:
    found, today = await items(request)
    rows: list[dict[str, Any]] = [{**asdict(item), "key": item.key, "reviewed": item.reviewed.isoformat()} for item in found]
    return secure(web.json_response({"today": today.isoformat(), "asked_days": ASKED_DAYS, "items": rows}))


def setup(app: web.Application, dash: Dashboard) -> None:
    dash.nav.append(NavPage("review", "/review", {lang: T[lang]["review_page"] for lang in LANGS}))
    app.router.add_get(PREFIX + "/review", page)
    app.router.add_get(PREFIX + "/api/review", api)
