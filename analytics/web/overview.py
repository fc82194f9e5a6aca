"""The dashboard's main page and its data: charts and tables over analytics.report, the unanswered-question
inbox and the CSV exports.

    GET  /dashboard                    -> /dashboard/ (with the query)
    GET  /dashboard/                   the page (templates/overview.html; filters in the query string: since,
                                       until, channel, topic, ward, source; "_" selects "not set"; lang=vi|en;
                                       ignored=1)
    GET  /dashboard/api/section/<s>    one report section as JSON {"section", "filters", "data"}; <s> in SECTIONS
    GET  /dashboard/export/<s>.csv     the same section as CSV (UTF-8 with BOM, so Excel shows Vietnamese)
    POST /dashboard/api/mark           {"keys": [...], "status": "resolved"|"ignored"|"open", "entry_id": ...}

The page loads its sections in parallel, one small API call each (static/dashboard.js). Without since/until
in the query it redirects to the last DEFAULT_DAYS days that have data (the URL says what is shown; clear
both dates for all time). Everything citizens typed reaches the page as text: the script puts it in with
textContent, the server's templates escape it.

Speed: sections come from the dashboard's ResultCache (common), keyed by section and parsed filters (titles,
which depend on the language, are added per request). A mark drops the cached inboxes (no other section
reads the marks), so the inbox shows it at once. From startup until cleanup a warmer recomputes both
standard views, the default range and all time, every WARM_EVERY seconds, one section after another: at one
million events on two cores their whole pages take about 20 ms, against 0.45 s and 1.15 s computed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Any

from aiohttp import web

from bot import jsonbody, storage
from bot.knowledge import KnowledgeBase

from .. import report as rpt
from ..accounts import audit
from .auth import Principal, require
from .common import (
    CHANNEL_LABELS, CSRF, DASHBOARD, DEFAULT_DAYS, MIN_VOTES, PREFIX, Dashboard, NavPage, csv_response, filter_query, json_error,
    parse_filters, request_lang, secure, span,
)
from ..formatting import entry_title, plain
from .forms import filter_form
from .templating import render
from .words import LANGS, T

log = logging.getLogger("digiguide.dashboard")

SECTIONS = (
    "totals", "by_topic", "by_channel", "by_ward", "by_lang", "by_source", "daily", "weekly",
    "top_questions", "unanswered", "helpfulness", "funnels",
)
PER_TOPIC, CLUSTERS = 10, 50  # the tables (and their CSV) show this much
WARM_EVERY = 45.0  # seconds between the warmer's passes over the standard views (well inside CACHE_TTL)
MAX_BODY = 64 * 1024


# -- the sections ----------------------------------------------------------------------------------------------

def compute_section(db: storage.Database, name: str, f: rpt.Filters, *, include_ignored: bool = False) -> Any:
    """One report section as plain JSON-ready data (the same rows the page and its CSV show)."""
    if name == "totals":
        result: Any = rpt.totals(db, f)
    elif name.startswith("by_"):
        result = rpt.breakdown(db, name[3:], f)
    elif name in ("daily", "weekly"):
        result = rpt.series(db, f, "day" if name == "daily" else "week")
    elif name == "top_questions":
        result = rpt.top_questions(db, f, per_topic=PER_TOPIC)
    elif name == "unanswered":
        # the most frequent open groups, and every marked one (a resolved group must not drop out of view
        # just because more than CLUSTERS open groups are bigger); at most report.POOL groups exist
        groups = rpt.unanswered_clusters(db, f, limit=None, include_ignored=include_ignored)
        result = [c for c in groups if c.status == "open"][:CLUSTERS] + [c for c in groups if c.status != "open"]
    elif name == "helpfulness":
        result = rpt.helpfulness(db, f, min_votes=MIN_VOTES)
    elif name == "funnels":
        result = rpt.funnels(db, f)
    else:
        raise KeyError(name)
    return rpt.to_plain(result)


_TITLED = {"unanswered": ("entry_title", "entry_id"), "helpfulness": ("title", "entry_id"), "funnels": ("title", "guide_id")}


def add_titles(name: str, data: Any, kb: KnowledgeBase, lang: str) -> Any:
    """Entry titles next to entry ids (for people reading the CSV), on copies of the rows: `data` may be a
    cached result, shared by every request and language."""
    if name not in _TITLED:
        return data
    column, id_column = _TITLED[name]
    return [{**row, column: entry_title(kb, row.get(id_column), lang)} for row in data]


async def section_data(dash: Dashboard, name: str, f: rpt.Filters, ignored: bool = False, refresh: bool = False) -> Any:
    """A section's rows without titles (those depend on the language: add_titles), from the cache or
    computed on the dashboard's threads. Keyed by the section and the parsed filters, so that
    "since=&until=" and no dates at all share one result."""
    ignored = ignored and name == "unanswered"  # the only section it changes
    key = ("section", name, f, ignored)
    compute = lambda: dash.query(lambda db: compute_section(db, name, f, include_ignored=ignored))  # noqa: E731
    return await (dash.cache.refresh if refresh else dash.cache.get)(key, compute)


# -- the warmer ------------------------------------------------------------------------------------------------

async def warm(dash: Dashboard) -> int:
    """Compute the sections of the two standard views again, the default range (the last DEFAULT_DAYS days
    with data, where /dashboard/ redirects) and then all time: one after another, so that the warmer never
    takes more than one of the threads live requests use. Returns sections computed."""
    last = (await dash.options(refresh=True))["last_day"]
    views = [rpt.Filters()]
    if last:
        end = dt.date.fromisoformat(last)
        views.insert(0, rpt.Filters(since=end - dt.timedelta(days=DEFAULT_DAYS - 1), until=end))
    for f in views:
        for name in SECTIONS:
            await section_data(dash, name, f, refresh=True)
    computed = len(views) * len(SECTIONS)
    for job in dash.warm_also:  # the other pages' standard views (registered in their setup)
        computed += await job()
    return computed


async def keep_warm(dash: Dashboard, every: float = WARM_EVERY) -> None:
    """warm() now, then again `every` seconds after each pass, until cancelled: the standard views are
    always served from the cache, as each result is recomputed before its CACHE_TTL runs out (while a pass
    takes less than CACHE_TTL - WARM_EVERY = 15 s: 2.4 s at one million events on two cores)."""
    passes = 0
    while True:
        start = time.monotonic()
        try:
            count = await warm(dash)
            passes += 1
            log.log(logging.INFO if passes == 1 else logging.DEBUG, "dashboard: standard views warm (%d results in %.1f s)", count, time.monotonic() - start)
        except asyncio.CancelledError:
            raise
        except Exception:  # a locked or missing database, say: try again next time
            log.exception("dashboard: warming the standard views failed")
        await asyncio.sleep(every)


# -- the routes ------------------------------------------------------------------------------------------------

@require("viewer", page=True)
async def root(request: web.Request, who: Principal) -> web.Response:
    raise secure(web.HTTPFound(PREFIX + "/" + (f"?{request.query_string}" if request.query_string else "")))


def entries(kb: KnowledgeBase, lang: str) -> list[dict[str, str]]:
    """What an inbox group can be resolved with: every FAQ entry and guide (the script's menu)."""
    out = [{"id": f.id, "kind": "faq", "topic": f.topic, "title": f.title(lang)} for f in kb.faqs.values()]
    out += [{"id": g.id, "kind": "guide", "topic": g.topic, "title": f'{T[lang]["guide"]}: {g.title.get(lang)}'} for g in kb.guides.values()]
    return out


@require("viewer", page=True)
async def page(request: web.Request, who: Principal) -> web.Response:
    dash, lang, q = request.app[DASHBOARD], request_lang(request), request.query
    options = await dash.options()
    if "since" not in q and "until" not in q and options["last_day"]:
        end = dt.date.fromisoformat(options["last_day"])
        extra = {"since": (end - dt.timedelta(days=DEFAULT_DAYS - 1)).isoformat(), "until": end.isoformat()}
        raise secure(web.HTTPFound(f"{PREFIX}/?" + filter_query(q, extra=extra) + (f"&lang={lang}" if "lang" in q else "")))
    error = None
    try:
        f = parse_filters(q)
    except ValueError as exc:
        error, f = str(exc), rpt.Filters()
    t, kb = T[lang], dash.kb
    days = (f.until - f.since).days + 1 if f.since and f.until else None
    period = "day" if days is not None and days <= 62 else "week"
    notes = ([t["note_topic"]] if f.topic is not None else []) + ([t["note_source"]] if f.source is not None else [])
    query, ignored = filter_query(q), q.get("ignored") == "1"
    data = {
        "lang": lang, "csrf": request.get(CSRF), "base": PREFIX, "query": query, "period": period, "t": t,
        "topics": {tp.id: plain(tp.title.get(lang)) for tp in kb.topics.values()},
        "channels": CHANNEL_LABELS, "entries": entries(kb, lang), "ignored": ignored, "error": bool(error),
        "can_mark": who.can("answer"),  # a viewer gets no mark buttons (and 403 from /api/mark)
    }
    ignored_query = filter_query(q, extra={"ignored": None if ignored else "1"}, drop=("ignored",) if ignored else ())
    return render(
        request, "overview.html", current="dashboard",
        form=filter_form(kb, lang, q, options, PREFIX + "/", with_dates=True), error=error, notes=notes, query=query,
        period=period, series="daily" if period == "day" else "weekly", ignored=ignored, sections=SECTIONS, data=data,
        reset_href=f"{PREFIX}/?" + filter_query(q, drop=("since", "until")),
        all_time_href=f"{PREFIX}/?" + filter_query(q, extra={"since": "", "until": ""}),
        ignored_href=f"{PREFIX}/?" + ignored_query,
    )


@require("viewer")
async def section(request: web.Request, who: Principal) -> web.Response:
    dash, name = request.app[DASHBOARD], request.match_info["name"]
    if name not in SECTIONS:
        return json_error(f"unknown section {name!r}", 404)
    try:
        f = parse_filters(request.query)
    except ValueError as exc:
        return json_error(str(exc), 400)
    ignored = request.query.get("ignored") == "1"
    data = add_titles(name, await section_data(dash, name, f, ignored), dash.kb, request_lang(request))
    response = web.json_response({"section": name, "filters": f.to_dict(), "data": data})
    response.enable_compression()
    return secure(response)


@require("viewer")
async def export(request: web.Request, who: Principal) -> web.Response:
    dash, name = request.app[DASHBOARD], request.match_info["name"]
    if name not in SECTIONS:
        raise secure(web.HTTPNotFound())
    try:
        f = parse_filters(request.query)
    except ValueError as exc:
        return secure(web.Response(text=str(exc), status=400))
    ignored = request.query.get("ignored") == "1"
    data = add_titles(name, await section_data(dash, name, f, ignored), dash.kb, request_lang(request))
    header, rows = rpt.section_rows(name, data)
    return csv_response(header, rows, f"digiguide-{name}-{span(f)}.csv")


def mark_problem(kb: KnowledgeBase, body: Any) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    keys, status, entry = body.get("keys"), body.get("status"), body.get("entry_id")
    if not isinstance(keys, list) or not 1 <= len(keys) <= rpt.POOL or not all(isinstance(k, str) and k.strip() and len(k) <= 500 for k in keys):
        return f"keys must be a list of 1 to {rpt.POOL} question keys"
    if status not in (*rpt.MARK_STATUSES, "open"):
        return "status must be resolved, ignored or open"
    if status == "resolved" and (not isinstance(entry, str) or entry_title(kb, entry, "vi") is None):
        return "resolved needs entry_id: the id of an FAQ entry or guide that now answers these questions"
    return None


@require("editor", csrf=True)  # marking a group answered is the editors' work (viewers read)
async def mark(request: web.Request, who: Principal) -> web.Response:
    dash = request.app[DASHBOARD]
    try:
        body = await jsonbody.read_json(request, MAX_BODY)  # bounded; no nesting depth can crash it
    except jsonbody.RequestError as exc:
        return json_error(exc.message, exc.status)
    problem = mark_problem(dash.kb, body)
    if problem:
        return json_error(problem, 400)
    keys, status, entry = body["keys"], body["status"], body.get("entry_id") or None

    def change(db: storage.Database) -> int:
        """The mark, then its audit entry (who, which group: its first key, what), on the same connection."""
        done = rpt.unmark(db, keys) if status == "open" else rpt.mark_cluster(db, keys, status, entry)
        audit(db, who.actor, "inbox.mark", keys[0], {"status": status, "entry_id": entry, "keys": len(keys)})
        return done

    count = await dash.query(change)
    # the inbox must show the mark at once; no other section reads the marks, so they stay warm
    dash.cache.invalidate(lambda key: key[:2] == ("section", "unanswered"))
    if status == "resolved" and entry and dash.ctx.courier is not None:  # citizens who asked to be told, once
        await dash.ctx.courier.resolved(keys, entry)
    log.info("dashboard: %d question key(s) marked %s%s", len(keys), status, f" ({entry})" if entry else "")
    return secure(web.json_response({"ok": True, "status": status, "entry_id": entry, "keys": count}))


def setup(app: web.Application, dash: Dashboard) -> None:
    dash.nav.append(NavPage("dashboard", "/", {lang: T[lang]["dashboard"] for lang in LANGS}, carry=True))
    r = app.router
    r.add_get(PREFIX, root)
    r.add_get(PREFIX + "/", page)
    r.add_get(PREFIX + "/api/section/{name}", section)
    r.add_get(PREFIX + "/export/{name}.csv", export)
    r.add_post(PREFIX + "/api/mark", mark)

    async def start_warming() -> None:
        dash.start_warming(lambda: keep_warm(dash))

    # work that runs once: in the worker holding the singleton lock (bot.singleton), moved when it dies
    dash.ctx.run_once("dashboard warmer", start_warming, dash.stop_warming)
