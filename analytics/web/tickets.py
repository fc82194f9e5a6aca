"""The officials' questions page "Hỏi đáp / Questions to officials" (issue 12, sections 2 to 4): the questions
citizens handed over to an official (bot.handover), the officials' answers and their delivery, the way from
an answer into the content, and the figures (analytics.tickets_report).

    GET  /dashboard/tickets?status=open|answered|closed&ward=&since=&until=   the queue and the figures
    GET  /dashboard/tickets/export/<table>.csv?since=&until=&ward=            a figures table (summary, wards, topics, channels)
    POST /dashboard/tickets/<id>/take | reply | close   the page's forms (field csrf; reply: text, entry) -> 303 back

The same as JSON: tickets_api.py; the changes themselves (checked, delivered, audited): ticket_desk.py.

The queue: `status` open (waiting for an official, the default), answered, or closed (closed by an official
or withdrawn by the citizen); oldest first, the ended ones newest first. Each ticket shows its question and
what the citizen added, channel, topic, ward, what the bot did last, its age against the delay the citizen
was told (OfficeHours.due, in office hours), who took it, and the conversation with each reply's delivery.

Who: every role reads; answering (take, reply, close) is `who.can("answer")` (editors and admins), and only
they get the controls; a viewer's POST is 403. A ward-bound official sees the tickets of their wards only,
all of them (the `ward` query, which auth.scope_wards forces to one of them, does not narrow it); a ticket
of another ward is 404 everywhere, as if it did not exist. Unbound officials filter by ward ("_": the
tickets whose citizen named no ward).

A reply is stored with its delivery queued (TicketStore.reply: one transaction), then the courier tries it
at once (`Courier.deliver_now`): the answer says sent, queued (a later try; on the web chat the citizen's
page fetches it) or failed, and the page shows the same per reply from then on. Without a courier it
stays queued. Every change is audited (ticket.take, ticket.reply, ticket.close; target ticket:<id>; the
detail has the ward, and for a reply the attached entry and the delivery, never the question's or the
answer's text).

From a ticket with an answer, editors get the links into the content editor: a new FAQ entry, or a phrasing
of an entry the bot suggested or the official attached (`?ticket=<id>`: analytics.web.ticket_desk).
Plain HTML forms with the session's CSRF token, no script. Without a ticket store (ServerContext.tickets
None: handover off) the page says so and the API lists nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.handover.hours import VIETNAM, OfficeHours
from bot.handover.store import MAX_TEXT, Ticket
from bot.knowledge import KnowledgeBase

from .. import tickets_report as tr
from . import ticket_desk
from .auth import Principal, read_form, require
from .common import CHANNEL_LABELS, DASHBOARD, DEFAULT_DAYS, NONE_VALUE, PREFIX, Dashboard, NavPage, csv_response, json_error, request_lang, secure
from ..formatting import entry_title, number, percent, plain, topic_title, vn_time
from .outreach import ward_name
from .templating import render
from .ticket_desk import VIEWS, Refusal, close, hours_of, listing, now_of, official, reply, take, view_of, wards_of
from .words import LANGS, TICKETS

PATH = PREFIX + "/tickets"
TICKET = "/{ticket:[0-9]{1,12}}"
PAGE_LIMIT = 100  # tickets on the page at once (a ward's queue is a few dozen)
ATTEMPTS = ("fallback", "suggest", "faq", "guide")
KEY_COLUMNS = {"wards": "ward", "topics": "topic", "channels": "channel"}  # the figures tables' first column, in words


# -- the page ----------------------------------------------------------------------------------------------------

def duration(seconds: float, lang: str) -> str:
    """Office time in words: minutes under an hour, else whole hours ("45 phút", "3 giờ")."""
    t = TICKETS[lang]
    minutes = round(seconds / 60)
    if minutes < 60:
        return t["minutes"].format(n=max(minutes, 1))
    return t["hours"].format(n=round(seconds / 3600))


def age(t: Ticket, hours: OfficeHours, now: float, lang: str) -> tuple[str, bool]:
    """The ticket against the delay the citizen was told, in office hours, and whether it is late."""
    w, due = TICKETS[lang], hours.due(t.created_at)
    if t.first_answer_at is not None:
        late = t.first_answer_at > due
        took = duration(hours.office_seconds(t.created_at, t.first_answer_at), lang)
        return f'{w["answered_in"].format(d=took)} ({w["late"] if late else w["in_time"]})', late
    if t.status != "open" and t.status != "answered":
        return w["unanswered_end"], (t.closed_at or now) > due
    if now > due:
        return w["overdue_by"].format(d=duration(hours.office_seconds(due, now), lang)), True
    return w["due_in"].format(d=duration(hours.office_seconds(now, due), lang)), False


def ward_label(kb: KnowledgeBase, ward: str, lang: str) -> str:
    return ward_name(kb, ward, lang) if ward else TICKETS[lang]["no_ward"]


def attempt_text(kb: KnowledgeBase, attempt: dict[str, Any], lang: str) -> tuple[str, list[str]]:
    """What the bot did last, in words, and the titles of the entries it answered with or suggested."""
    w, kind = TICKETS[lang], attempt.get("kind")
    entries = [e for e in attempt.get("entries") or [] if isinstance(e, str)]
    label = w[f"attempt_{kind}"] if kind in ATTEMPTS else w["attempt_none"] if not kind else w["attempt_other"]
    return label, [entry_title(kb, e, lang) or e for e in entries]


def candidates(kb: KnowledgeBase, t: Ticket, lang: str) -> list[dict[str, str]]:
    """Entries the question could become a phrasing of: those the officials attached, then those the bot
    answered with or suggested (the content's own, once each)."""
    ids = [m.entry_id for m in reversed(t.messages) if m.author != "citizen" and m.entry_id]
    ids += [e for e in t.attempt.get("entries") or [] if isinstance(e, str)]
    out, seen = [], set()
    for entry_id in ids:
        kind = "faq" if entry_id in kb.faqs else "guide" if entry_id in kb.guides else None
        if kind and entry_id not in seen:
            seen.add(entry_id)
            out.append({"href": f"{PREFIX}/content/{kind}/{entry_id}?ticket={t.id}", "title": entry_title(kb, entry_id, lang) or entry_id})
    return out


@dataclass
class TicketView:
    """One ticket as the template draws it (names resolved, times in words)."""

    ticket: Ticket
    status: str
    ward: str
    channel: str
    topic: str
    created: str
    age: str
    late: bool
    attempt: str
    attempt_entries: list[str]
    taken_by: str | None
    mine: bool
    messages: list[dict[str, Any]]
    can_answer: bool
    to_content: list[dict[str, str]] = field(default_factory=list)
    new_faq: str | None = None
    content: str | None = None


def ticket_view(kb: KnowledgeBase, t: Ticket, who: Principal, hours: OfficeHours, now: float, lang: str) -> TicketView:
    w = TICKETS[lang]
    text, late = age(t, hours, now, lang)
    attempt, entries = attempt_text(kb, t.attempt, lang)
    messages = [
        {"citizen": m.author == "citizen", "author": w["citizen"] if m.author == "citizen" else m.author, "text": m.text, "when": vn_time(m.created_at, lang),
         "entry": (entry_title(kb, m.entry_id, lang) or m.entry_id) if m.entry_id else None, "delivery": m.delivery,
         "delivery_label": w[f"delivery_{m.delivery}"] if m.delivery in ("sent", "queued", "failed") else None, "error": m.error,
         "web_queued": m.delivery == "queued" and t.channel == "web"}
        for m in t.messages
    ]
    answered = ticket_desk.last_answer(t) is not None
    editor = who.can("edit") and answered and t.status != "withdrawn"
    return TicketView(
        t, w[f"status_{t.status}"], ward_label(kb, t.ward, lang), CHANNEL_LABELS.get(t.channel, t.channel),
        topic_title(kb, t.topic, lang) if t.topic else w["no_topic"], vn_time(t.created_at, lang), text, late, attempt, entries,
        t.taken_by, t.taken_by == official(who), messages, who.can("answer") and t.status in ("open", "answered"),
        to_content=candidates(kb, t, lang) if editor else [],
        new_faq=f"{PREFIX}/content/new?" + urlencode({"kind": "faq", "ticket": t.id}) if editor else None,
        content=(entry_title(kb, t.content_entry, lang) or t.content_entry) if t.content_entry else None,
    )


def done_text(lang: str, done: str | None, ticket: Ticket | None) -> str:
    """What the redirect after a change says was done, read from the ticket as it is now (a link cannot
    claim a delivery that did not happen)."""
    w = TICKETS[lang]
    if ticket is None or done not in ("take", "reply", "close"):
        return ""
    if done != "reply":
        return w[f"done_{done}"].format(code=ticket.code)
    last = ticket_desk.last_answer(ticket)
    if last is None or last.delivery not in ("sent", "queued", "failed"):
        return ""
    return w[f"done_reply_{last.delivery}"].format(code=ticket.code, error=last.error or "?")


def date_range(request: web.Request, today: dt.date) -> tuple[dt.date, dt.date, bool]:
    """The figures' days: ?since=&until= (Vietnam days), else the last DEFAULT_DAYS days; False when the
    ones asked for were not dates."""
    q, default = request.query, (today - dt.timedelta(days=DEFAULT_DAYS - 1), today)
    try:
        since = dt.date.fromisoformat(q["since"]) if q.get("since") else default[0]
        until = dt.date.fromisoformat(q["until"]) if q.get("until") else default[1]
    except ValueError:
        return *default, False
    if since > until:
        return *default, False
    return since, until, True


async def read_figures(dash: Dashboard, hours: OfficeHours, since: dt.date, until: dt.date, wards: list[str] | None, now: float) -> tr.TicketFigures:
    """tickets_report on a connection of the dashboard's own (Dashboard.query: on its threads, in the database
    the ticket store keeps its tables in, Settings.database)."""
    return await dash.query(lambda db: tr.figures(db, hours, since=since, until=until, wards=wards, now=now))


def key_name(kb: KnowledgeBase, table: str, key: str, lang: str) -> str:
    """A figures row's ward, topic or channel in words."""
    if table == "wards":
        return ward_label(kb, key, lang)
    if table == "topics":
        return topic_title(kb, key, lang) if key else TICKETS[lang]["no_topic"]
    return CHANNEL_LABELS.get(key, key)


def hours_number(value: float | None, lang: str) -> str:
    """Office hours with one decimal, in the page's language ("2,5" / "2.5"); "–" for none."""
    if value is None:
        return "–"
    text = f"{value:.1f}"
    return text.replace(".", ",") if lang == "vi" else text


def figures_view(kb: KnowledgeBase, fig: tr.TicketFigures, lang: str) -> tuple[list[tuple[str, str, str, str]], list[dict[str, Any]]]:
    """The figures as the page shows them: the KPIs (key, label, value in words, hint) and the per-ward,
    per-topic and per-channel tables with names for their keys."""
    w, t = TICKETS[lang], fig.total

    def in_hours(value: float | None) -> str:
        return w["hours"].format(n=hours_number(value, lang)) if value is not None else "–"

    kpis = [
        ("tickets", w["k_tickets"], number(t.tickets, lang), ""), ("answered", w["k_answered"], number(t.answered, lang), ""),
        ("in_time", w["k_in_time"], percent(t.in_time_share, lang), ""), ("median", w["k_median"], in_hours(t.median_hours), ""),
        ("p90", w["k_p90"], in_hours(t.p90_hours), ""), ("to_content", w["k_content"], number(t.to_content, lang), ""),
        ("notified", w["k_notified"], number(fig.notified, lang), "" if fig.notified is not None else w["not_per_ward"]),
        ("open_now", w["k_open"], number(fig.open_now, lang), ""), ("overdue_now", w["k_overdue"], number(fig.overdue_now, lang), ""),
    ]
    rows = {"wards": fig.by_ward, "topics": fig.by_topic, "channels": fig.by_channel}
    tables = [
        {"name": name, "title": w[f"t_{name}"], "column": w[KEY_COLUMNS[name]], "rows": [
            {"key": r.key, "name": key_name(kb, name, r.key, lang), "tickets": r.tickets, "answered": r.answered, "share": r.in_time_share,
             "median": hours_number(r.median_hours, lang), "p90": hours_number(r.p90_hours, lang), "to_content": r.to_content,
             "sent": r.replies_sent, "queued": r.replies_queued, "failed": r.replies_failed}
            for r in rows[name]]}
        for name in ("wards", "topics", "channels")
    ]
    return kpis, tables


def entry_choices(kb: KnowledgeBase, lang: str) -> list[tuple[str, str]]:
    """What a reply may attach (the datalist): every FAQ entry and guide, by title."""
    items = [(f.id, plain(f.title(lang))) for f in kb.faqs.values()] + [(g.id, plain(g.title.get(lang) or g.id)) for g in kb.guides.values()]
    return sorted(items, key=lambda item: item[1].lower())


async def view(request: web.Request, who: Principal, *, status: int = 200, problem: str | None = None, tab: str | None = None,
               ward: str | None = None, typed: dict[int, dict[str, str]] | None = None) -> web.Response:
    """The page: the queue of the view `tab` (else ?status=), the figures, and above them what just happened."""
    dash, lang = request.app[DASHBOARD], request_lang(request)
    w, kb, q = TICKETS[lang], dash.kb, request.query
    tickets = ticket_desk.store(dash)
    view = view_of(tab or q.get("status"))
    ward_value = (q.get("ward", "") if ward is None else ward).strip()[:64] if not who.wards else ""
    base = {"w": w, "view": view, "views": list(VIEWS), "ward_value": ward_value, "message": w[f"err_{problem}"] if problem else ""}
    if tickets is None:
        return render(request, "tickets.html", status=status, current="tickets", off=True, **base)
    hours, now = hours_of(dash), now_of(tickets)
    wards = wards_of(request, who, ward_value)
    found = await listing(dash, tickets, view, wards, PAGE_LIMIT)
    today = dt.datetime.fromtimestamp(now, VIETNAM).date()
    since, until, dates_ok = date_range(request, today)
    fig = await read_figures(dash, hours, since, until, wards, now)
    done_ticket = await ticket_desk.find(dash, who, q.get("ticket")) if q.get("done") and request.method == "GET" else None
    ward_choices = [] if who.wards else [("", w["all_wards"])] + [(i, ward_name(kb, i, lang)) for i in known_wards(kb)] + [(NONE_VALUE, w["no_ward"])]
    kept = {k: v for k, v in (("ward", ward_value), ("since", since.isoformat()), ("until", until.isoformat())) if v}
    views = [ticket_view(kb, t, who, hours, now, lang) for t in found]
    kpis, tables = figures_view(kb, fig, lang)
    return render(
        request, "tickets.html", status=status, current="tickets", off=False, **base,
        tickets=views, more=len(found) >= PAGE_LIMIT, limit=PAGE_LIMIT, done=done_text(lang, q.get("done"), done_ticket),
        ward_choices=ward_choices, tab_query={v: urlencode({"status": v, **({"ward": ward_value} if ward_value else {})}) for v in VIEWS},
        entries=entry_choices(kb, lang) if any(v.can_answer for v in views) else [], typed=typed or {}, max_text=MAX_TEXT,
        kpis=kpis, fig_tables=tables, since=since.isoformat(), until=until.isoformat(), dates_ok=dates_ok, csv_query=urlencode(kept),
    )


def known_wards(kb: KnowledgeBase) -> list[str]:
    return list(kb.ward_ids)


@require("viewer", page=True)
async def page(request: web.Request, who: Principal) -> web.Response:
    return await view(request, who)


def form_route(action: str):
    """A POST of the page's forms: editors, CSRF; then back to the queue where the ticket now is (303), or
    the page with the reason (4xx) and the typed answer kept."""

    @require("editor", csrf=True)
    async def post(request: web.Request, who: Principal) -> web.StreamResponse:
        form = await read_form(request)
        ident = request.match_info["ticket"]
        ward = str(form.get("ward", "")) if form is not None else ""
        if form is None:
            return await view(request, who, status=400, problem="form", ward=ward)
        try:
            if action == "reply":
                done = await reply(request, who, ident, str(form.get("text", "")), str(form.get("entry", "")) or None)
            else:
                done = await (take if action == "take" else close)(request, who, ident)
        except Refusal as exc:
            typed = {int(ident): {"text": str(form.get("text", "")), "entry": str(form.get("entry", ""))[:64]}} if action == "reply" else None
            return await view(request, who, status=exc.status, problem=exc.key, tab=str(form.get("view", "")), ward=ward, typed=typed)
        query = {"status": next(v for v, statuses in VIEWS.items() if done.ticket.status in statuses), "done": action, "ticket": done.ticket.id}
        if ward and not who.wards:
            query["ward"] = ward
        raise secure(web.HTTPSeeOther(f"{PATH}?{urlencode(query)}#ticket-{done.ticket.id}"))

    post.__name__ = f"post_{action}"
    return post


@require("viewer")
async def export(request: web.Request, who: Principal) -> web.Response:
    dash, name = request.app[DASHBOARD], request.match_info["table"]
    tickets = ticket_desk.store(dash)
    if name not in tr.SECTIONS or tickets is None:
        raise secure(web.HTTPNotFound())
    hours, now, lang = hours_of(dash), now_of(tickets), request_lang(request)
    since, until, ok = date_range(request, dt.datetime.fromtimestamp(now, VIETNAM).date())
    if not ok:
        return json_error("since and until must be days (YYYY-MM-DD), since not after until", 400)
    wards = wards_of(request, who)
    fig = await read_figures(dash, hours, since, until, wards, now)
    header, rows = tr.section_rows(name, fig)
    if name != "summary":  # a readable name next to each id
        header = [header[0], "name", *header[1:]]
        rows = [[r[0], key_name(dash.kb, name, r[0], lang), *r[1:]] for r in rows]
    return csv_response(header, rows, f"digiguide-tickets-{name}-{since}_{until}.csv")


def setup(app: web.Application, dash: Dashboard) -> None:
    dash.nav.append(NavPage("tickets", "/tickets", {lang: TICKETS[lang]["page"] for lang in LANGS}))
    r = app.router
    r.add_get(PATH, page)
    r.add_get(PATH + "/export/{table}.csv", export)
    for action in ("take", "reply", "close"):
        r.add_post(PATH + TICKET + f"/{action}", form_route(action))
