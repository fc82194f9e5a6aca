"""The working groups' page: every group's links, Zalo codes and posters, and their results
(analytics/outreach_report.py). templates/groups.html draws it.

    GET /dashboard/groups                        links, codes, posters and results of every group
                                                 (?since=&until= Vietnam days; lang=vi|en)
    GET /dashboard/groups/export/<section>.csv   a results section as CSV (outreach_report.SECTIONS)

Without dates the page redirects to the last DEFAULT_WEEKS weeks with data. The Telegram links need the
bot's username (TELEGRAM_BOT_USERNAME, or the running Telegram channel's): without it the page shows a
placeholder and a hint. The results come through the dashboard's result cache (the page and its CSV
exports share one computation; new events show within the cache's time to live, as on the dashboard).
The posters themselves: analytics.web.poster_pages.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.knowledge import KnowledgeBase

from .. import outreach_report as orr
from .. import report as rpt
from ..posters import QR_KINDS, group_rows
from .auth import Principal, require
from .common import DASHBOARD, NONE_VALUE, Dashboard, NavPage, csv_response, last_day, request_lang, secure, span
from ..formatting import entry_title, number, plain, topic_title
from .outreach import PATH, bot_username, level_name, target_title, ward_name, ward_options, web_is_public, web_url, zalo_name
from .templating import render
from .words import GROUPS, LANGS

DEFAULT_WEEKS = 12
CHART_W, CHART_H, CHART_LEFT, CHART_BOTTOM, CHART_TOP = 720, 220, 34, 26, 12  # the weekly chart (SVG user units)


def filters(request: web.Request) -> rpt.Filters:
    """The dates and the ward (a ward-bound official's is always one of theirs: auth.scope_wards)."""
    q = request.query
    ward = (q.get("ward") or "").strip() or None
    return rpt.Filters(
        since=(q.get("since") or "").strip() or None, until=(q.get("until") or "").strip() or None,
        ward="" if ward == NONE_VALUE else ward,
    )


async def results(dash: Dashboard, f: rpt.Filters) -> dict[str, Any]:
    """The outreach report for `f`, through the dashboard's result cache."""
    kb = dash.kb
    return await dash.cache.get(("groups", f, kb.version), lambda: dash.query(lambda db: orr.for_kb(db, kb, f)))


# -- what the page shows ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Series:
    css: str  # the colour class, s0..s5
    name: str
    points: str  # the polyline's
    dots: list[tuple[str, str]]  # circles' (cx, cy)


def weekly_chart(kb: KnowledgeBase, weekly: list[dict], lang: str) -> dict[str, Any] | None:
    """New citizens per week, one line per group, as coordinates for an SVG of attributes only (the CSP
    allows no inline style); None without data."""
    series: dict[str, list[tuple[str, int]]] = {}
    for row in weekly:
        if row["level"] == "group":
            series.setdefault(row["id"], []).append((row["period"], row["new_citizens"]))
    weeks = sorted({p for points in series.values() for p, _ in points})
    if not weeks:
        return None
    most = max([n for points in series.values() for _, n in points] + [1])
    step = (CHART_W - CHART_LEFT - 10) / max(len(weeks) - 1, 1)

    def x(i: int) -> str:
        return f"{CHART_LEFT + i * step:.1f}"

    def y(n: int) -> float:
        return CHART_TOP + (CHART_H - CHART_TOP - CHART_BOTTOM) * (1 - n / most)

    every = max(1, round(len(weeks) / 8))
    lines = []
    for n, (group, points) in enumerate(series.items()):
        by_week = dict(points)
        dots = [(x(i), f"{y(by_week.get(w, 0)):.1f}") for i, w in enumerate(weeks)]
        lines.append(Series(f"s{n % 6}", level_name(kb, "group", group, lang), " ".join(f"{cx},{cy}" for cx, cy in dots), dots))
    return {
        "width": CHART_W, "height": CHART_H, "left": CHART_LEFT, "zero": f"{y(0):.1f}", "most": number(most, lang),
        "most_label_y": f"{y(most) + 4:.1f}", "zero_label_y": f"{y(0) + 4:.1f}",
        "ticks": [(x(i), week[5:]) for i, week in enumerate(weeks) if i % every == 0 or i == len(weeks) - 1],
        "series": lines,
    }


def pivot(rows: list[dict], key: str, value: str) -> dict[str, dict[str, int]]:
    """{rows' `key`: {group: `value`}} of the group-level rows."""
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        if r["level"] == "group":
            out.setdefault(r[key], {})[r["id"]] = r[value]
    return out


def page_view(kb: KnowledgeBase, lang: str, data: dict[str, Any]) -> dict[str, Any]:
    """The results' tables for the template: names resolved, pivots built (figures formatted there)."""
    t = GROUPS[lang]

    def topic_name(topic: str | None) -> str:
        return topic_title(kb, topic, lang) if topic else t["no_topic"]

    def result_rows(rows: list[dict], level: str) -> list[dict[str, Any]]:
        out = []
        for r in rows:
            group = kb.working_groups.get(r["id"]) if level == "group" else None
            extra = [ward_name(kb, r["ward"], lang), group.code if group else ""] if level == "group" else []
            top = topic_name(r["top_topic"]) if r["top_topic"] is not None else "–"
            out.append({**r, "name": level_name(kb, r["level"], r["id"], lang), "extra": extra, "top": top})
        return out

    group_ids = [r["id"] for r in data["groups"]]
    codes = {g: (kb.working_groups[g].code if g in kb.working_groups else g) for g in group_ids}
    topics = sorted(pivot(data["topics"], "topic", "questions").items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    return {
        "total": next((r for r in data["wards"] if r["level"] == "all"), None) or {},
        "chart": weekly_chart(kb, data["weekly"], lang),
        "groups": result_rows(data["groups"], "group"), "wards": result_rows(data["wards"], "ward"),
        "columns": [(codes[g], level_name(kb, "group", g, lang), g) for g in group_ids],
        "weeks": pivot(data["weekly"], "period", "new_citizens"),
        "topics": [(topic_name(topic), cells) for topic, cells in topics],
        "posters": [(codes.get(r["id"], r["id"]), target_title(kb, r["target"], lang), r["new_citizens"]) for r in data["posters"] if r["level"] == "group"][:15],
        "guides": [{**r, "code": codes.get(r["id"], r["id"]), "title": entry_title(kb, r["guide_id"], lang) or r["guide_id"]} for r in data["guides"] if r["level"] == "group"][:20],
        "notes": data["notes"],
    }


def links_view(kb: KnowledgeBase, username: str | None, web: str, lang: str, web_public: bool = True, ward: str | None = None) -> list[dict[str, Any]]:
    """Every group's links (only the groups of `ward` when one is given), one row per guide (and the topic
    menu): title, Zalo code, both links, and where its poster and QR codes are (a Telegram code only with
    the bot's username, a web code only when the web chat's address is public)."""
    out = []
    for group in kb.working_groups.values():
        if ward is not None and (group.ward or "") != ward:
            continue
        rows = []
        for row in group_rows(kb, group.id, username, web, lang):
            target = row.target.partition("-")[2] if row.target.startswith("g-") else "menu"
            rows.append({
                "row": row, "title": plain(row.title) if row.target == "menu" else row.title,
                "poster": f"{PATH}/{group.id}/poster/{target}" if row.target.startswith("g-") else None,
                "qr": [(f"{PATH}/{group.id}/qr/{target}.png?kind={kind}", kind) for kind in QR_KINDS if (kind == "web" and web_public) or (kind == "telegram" and username)],
            })
        out.append({"group": group, "ward": ward_name(kb, group.ward, lang), "rows": rows})
    return out


# -- the routes ------------------------------------------------------------------------------------------------

@require("viewer", page=True)
async def page(request: web.Request, who: Principal) -> web.Response:
    dash, lang, q = request.app[DASHBOARD], request_lang(request), request.query
    last = await dash.query(last_day)
    if "since" not in q and "until" not in q and last:
        end = dt.date.fromisoformat(last)
        start = end - dt.timedelta(days=end.weekday()) - dt.timedelta(weeks=DEFAULT_WEEKS - 1)
        extra = {"since": start.isoformat(), "until": end.isoformat(), **{k: q[k] for k in ("ward", "lang") if k in q}}
        raise secure(web.HTTPFound(f"{PATH}?{urlencode(extra)}"))
    error = None
    try:
        f = filters(request)
    except ValueError as exc:
        error, f = str(exc), rpt.Filters()
    data = await results(dash, f)
    username = bot_username(request)
    dates = {k: request.query.get(k, "") for k in ("since", "until")}
    kept = {**dates, **({"ward": q["ward"]} if q.get("ward") else {})}
    return render(
        request, "groups.html", current="groups", g=GROUPS[lang], error=error, dates=dates, query=urlencode(kept),
        wards=ward_options(dash.kb, who, f.ward, lang, GROUPS[lang]["all_wards"]), username=username, web_public=web_is_public(request), zalo_name=zalo_name(request),
        links=links_view(dash.kb, username, web_url(request), lang, web_is_public(request), f.ward), view=page_view(dash.kb, lang, data),
    )


@require("viewer")
async def export(request: web.Request, who: Principal) -> web.Response:
    dash, name = request.app[DASHBOARD], request.match_info["section"]
    if name not in orr.SECTIONS:
        raise secure(web.HTTPNotFound())
    try:
        f = filters(request)
    except ValueError as exc:
        return secure(web.Response(text=str(exc), status=400))
    data = await results(dash, f)
    header, rows = csv_section(dash.kb, name, data[name], request_lang(request))
    return csv_response(header, rows, f"digiguide-groups-{name}-{span(f)}.csv")


def csv_section(kb: KnowledgeBase, name: str, rows: list[dict], lang: str) -> tuple[list[str], list[list[Any]]]:
    """An outreach section as CSV, with a readable name next to each id (and titles for topics, guides, targets)."""
    header, body = orr.section_rows(name, rows)
    header = [*header[:2], "name", *header[2:]]
    out = [[*values[:2], level_name(kb, row["level"], row["id"], lang), *values[2:]] for row, values in zip(rows, body)]
    titles = {
        "topics": ("topic_title", lambda row: topic_title(kb, row["topic"], lang) if row["topic"] else ""),
        "guides": ("guide_title", lambda row: entry_title(kb, row["guide_id"], lang) or ""),
        "posters": ("target_title", lambda row: target_title(kb, row["target"], lang)),
    }
    if name in titles:
        column, title = titles[name]
        header.append(column)
        for row, values in zip(rows, out):
            values.append(title(row))
    return header, out


def setup(app: web.Application, dash: Dashboard) -> None:
    """Before the dashboard's catch-all, which would otherwise answer these paths."""
    dash.nav.append(NavPage("groups", "/groups", {lang: GROUPS[lang]["groups"] for lang in LANGS}))
    app.router.add_get(PATH, page)
    app.router.add_get(PATH + "/export/{section}.csv", export)
