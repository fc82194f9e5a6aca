"""GET /dashboard/weekly: a one-page weekly summary for the ward meeting (?week=2025-W10 and the dashboard's
filters but the dates; templates/weekly.html). Printable: the tools are marked no-print and the page's
print rules live in dashboard.css (no inline style: the CSP forbids it); the chart is an SVG of attributes
only. Without ?week the last complete week, or the week of the data's last day when the data ends earlier.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot import storage

from .. import report as rpt
from ..store import VIETNAM
from .auth import Principal, require
from .common import CHANNEL_LABELS, DASHBOARD, MIN_VOTES, PREFIX, Dashboard, NavPage, filter_query, last_day, parse_filters, request_lang
from ..formatting import clip, entry_title, number, percent, topic_title
from .forms import filter_form
from .templating import render
from .words import LANGS, T

WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")
BAR_W, BAR_GAP, CHART_H = 56, 14, 110  # the questions-per-day chart (SVG user units)


def parse_week(value: str) -> dt.date:
    """The Monday of an ISO week "2025-W10"."""
    m = WEEK_RE.match(value.strip())
    if not m:
        raise ValueError(f"not a week: {value!r} (use YYYY-Www, e.g. 2025-W10)")
    try:
        return dt.date.fromisocalendar(int(m[1]), int(m[2]), 1)
    except ValueError:
        raise ValueError(f"not a week: {value!r}") from None


def default_week(latest: str | None, today: dt.date | None = None) -> dt.date:
    """The last complete week before today; or, when the data ends earlier, the week of its last day."""
    today = today or dt.datetime.now(VIETNAM).date()
    this_monday = today - dt.timedelta(days=today.weekday())
    last_complete = this_monday - dt.timedelta(days=7)
    if latest:
        last = dt.date.fromisoformat(latest)
        if last < last_complete:
            return last - dt.timedelta(days=last.weekday())
    return last_complete


def weekly_data(db: storage.Database, dims: rpt.Filters, monday: dt.date | None) -> dict[str, Any]:
    """Everything the weekly summary shows, for one ISO week and the one before (for comparison)."""
    monday = monday or default_week(last_day(db))
    sunday = monday + dt.timedelta(days=6)
    base = {k: v for k, v in dims.to_dict().items() if k not in ("since", "until")}
    f = rpt.Filters(since=monday, until=sunday, **base)
    before = rpt.Filters(since=monday - dt.timedelta(days=7), until=monday - dt.timedelta(days=1), **base)
    series = rpt.series(db, f, "day")
    per_day = {(monday + dt.timedelta(days=i)).isoformat(): {"questions": 0, "answered": 0} for i in range(7)}
    for p in series:
        if p.period in per_day:
            per_day[p.period]["questions"] += p.questions
            per_day[p.period]["answered"] += p.answered
    top = sorted(rpt.top_questions(db, f, per_topic=5), key=lambda r: (-r.count, r.topic, r.rank))[:5]
    return rpt.to_plain({
        "monday": monday,
        "totals": rpt.totals(db, f),
        "prev_totals": rpt.totals(db, before),
        "by_topic": rpt.breakdown(db, "topic", f),
        "prev_by_topic": rpt.breakdown(db, "topic", before),
        "by_channel": rpt.breakdown(db, "channel", f),
        "days": [{"day": d, **v} for d, v in per_day.items()],
        "top": top,
        "unanswered": [c for c in rpt.unanswered_clusters(db, f, limit=5, examples=1) if c.status == "open"],
        "helpfulness": rpt.helpfulness(db, f, min_votes=MIN_VOTES)[:3],
        "funnels": rpt.funnels(db, f)[:4],
    }) | {"monday": monday}


# -- the sheet as the template draws it ------------------------------------------------------------------------

@dataclass(frozen=True)
class Bar:
    """One day of the chart: the whole bar (every question), the answered part over it, and its labels."""

    x: int
    y: int
    height: int
    ok_y: int
    ok_height: int
    middle: float
    number_y: int
    count: str
    label: str


def bars(days: list[dict], lang: str) -> list[Bar]:
    top = max([d["questions"] for d in days] + [1])
    names = T[lang]["days"].split(",")
    out = []
    for i, d in enumerate(days):
        x = i * (BAR_W + BAR_GAP) + 4
        h_all = round(d["questions"] / top * (CHART_H - 22))
        h_ok = round(d["answered"] / top * (CHART_H - 22))
        y = CHART_H - 16 - h_all
        label = f'{names[i]} {d["day"][8:10]}/{d["day"][5:7]}'
        out.append(Bar(x, y, h_all, CHART_H - 16 - h_ok, h_ok, x + BAR_W / 2, max(y - 3, 9), number(d["questions"], lang), label))
    return out


def delta(now: int, before: int, lang: str) -> str | None:
    """"▲ 12,5 %" against the week before; None without one to compare with."""
    if not before:
        return None
    change = (now - before) / before
    arrow = "▲" if change > 0 else ("▼" if change < 0 else "=")
    return f"{arrow} {percent(abs(change), lang)}"


def sheet(dash: Dashboard, lang: str, f: rpt.Filters, data: dict) -> dict[str, Any]:
    """The template's figures, names and lists (citizens' text clipped to a line or two)."""
    t, kb = T[lang], dash.kb
    cur, prev = data["totals"], data["prev_totals"]

    def topic_name(topic: str | None) -> str:
        return topic_title(kb, topic, lang) if topic else t["no_topic"]

    scope = []
    if f.ward is not None:
        scope.append(f'{t["ward"]}: {f.ward or t["none_ward"]}')
    if f.channel is not None:
        scope.append(f'{t["channel"]}: {CHANNEL_LABELS.get(f.channel, f.channel or t["none"])}')
    if f.topic is not None:
        scope.append(f'{t["topic"]}: {topic_name(f.topic)}')
    prev_topics = {r["value"]: r["questions"] for r in data["prev_by_topic"]}
    most = max([r["questions"] for r in data["by_topic"]] + [1])
    return {
        "scope": " · ".join(scope) or t["whole_area"],
        "kpis": [
            (t["questions"], number(cur["questions"], lang), delta(cur["questions"], prev["questions"], lang)),
            (t["answer_rate"], percent(cur["answer_rate"], lang), None),
            (t["fallback_rate"], percent(cur["fallback_rate"], lang), None),
            (t["users"], number(cur["unique_users"], lang), delta(cur["unique_users"] or 0, prev["unique_users"] or 0, lang)),
            (t["feedback"], number(cur["feedback"], lang), None),
        ],
        "bars": bars(data["days"], lang),
        "chart_width": 7 * (BAR_W + BAR_GAP), "chart_height": CHART_H, "bar_width": BAR_W,
        "topics": [
            {"name": topic_name(r["value"]), "questions": r["questions"], "bar": f'{r["questions"] / most * 100:.1f}', "answer_rate": r["answer_rate"], "before": prev_topics.get(r["value"], 0)}
            for r in data["by_topic"]
        ],
        "channels": [
            {"name": CHANNEL_LABELS.get(r["value"], r["value"]), "questions": r["questions"], "share": r["questions"] / cur["questions"] if cur["questions"] else None}
            for r in data["by_channel"]
        ],
        "top": [(clip(r["example"]), f'· {topic_name(r["topic"])}', number(r["count"], lang)) for r in data["top"]],
        "unanswered": [(clip(c["examples"][0] if c["examples"] else c["key"]), None, number(c["count"], lang)) for c in data["unanswered"]],
        "review": [
            (entry_title(kb, r["entry_id"], lang) or r["entry_id"], f'{r["up"]} {t["up"].lower()} · {r["down"]} {t["down"].lower()}', percent(r["helpful_share"], lang))
            for r in data["helpfulness"]
        ],
        "guides": [
            (entry_title(kb, g["guide_id"], lang) or g["guide_id"], f'{number(g["users"], lang)} {t["started"].lower()} → {number(g["finished"], lang)} {t["finished"].lower()}', percent(g["completion_rate"], lang))
            for g in data["funnels"]
        ],
    }


@require("viewer", page=True)
async def weekly(request: web.Request, who: Principal) -> web.Response:
    dash, lang, q = request.app[DASHBOARD], request_lang(request), request.query
    try:
        f = parse_filters({k: v for k, v in q.items() if k not in ("since", "until")})
        monday = parse_week(q.get("week")) if q.get("week") else None
    except ValueError as exc:
        return render(request, "error.html", status=400, message=str(exc))
    data = await weekly_cached(dash, f, monday)
    options = await dash.options()
    monday = data["monday"]
    week = rpt.iso_week(monday)
    other_week = lambda days: filter_query(q, extra={"week": rpt.iso_week(monday + dt.timedelta(days=days))}, drop=("since", "until"))  # noqa: E731
    return render(
        request, "weekly.html", current="weekly", week=week, monday=monday, sunday=monday + dt.timedelta(days=6),
        form=filter_form(dash.kb, lang, q, options, PREFIX + "/weekly", with_dates=False, week=week),
        prev_href=f"{PREFIX}/weekly?" + other_week(-7), next_href=f"{PREFIX}/weekly?" + other_week(7),
        generated=dt.datetime.now(VIETNAM).strftime("%d/%m/%Y %H:%M"), sheet=sheet(dash, lang, f, data),
    )


async def weekly_cached(dash: Dashboard, f: rpt.Filters, monday: dt.date | None, refresh: bool = False) -> dict[str, Any]:
    """weekly_data through the dashboard's result cache: the default sheet (no week, no filter) is kept
    warm by the dashboard's warmer, so it is served at once even at ten million events."""
    compute = lambda: dash.query(lambda db: weekly_data(db, f, monday))  # noqa: E731
    return await (dash.cache.refresh if refresh else dash.cache.get)(("weekly", f, monday), compute)


def setup(app: web.Application, dash: Dashboard) -> None:
    dash.nav.append(NavPage("weekly", "/weekly", {lang: T[lang]["weekly"] for lang in LANGS}, carry=True))

    async def warm_default() -> int:
        await weekly_cached(dash, rpt.Filters(), None, refresh=True)
        return 1

    dash.warm_also.append(warm_default)
    app.router.add_get(PREFIX + "/weekly", weekly)
