"""The content editors' pages (issue 11, section 2): "Nội dung / Content" in the top bar.

    GET /dashboard/content                    the FAQ entries and guides: search by text, filter by kind, topic
                                              and review state (templates/content_list.html)
    GET /dashboard/content/<kind>/<id>        one entry: the form, Check, Preview, Try a question, Impact,
                                              Publish, Retire/Restore, and its history with Revert
                                              (content_entry.html + static/content.js). ?add=<question>
                                              &resolves=<key>...: opened with an inbox question added as a
                                              phrasing; publishing marks those inbox keys resolved
    GET /dashboard/content/new?kind=&question=&resolves=   a new entry, pre-filled from an inbox question
    ...?ticket=<id> (both pages, instead of add / question)   pre-filled from an official's answered question
                                              (analytics.web.ticket_desk): its text, and on a new entry the
                                              official's last answer; publishing records the ticket as
                                              turned into content
    GET /dashboard/content/locality           hotlines, offices, wards and working groups (content_locality.html)
    GET /dashboard/content/history            every revision, newest first, with its diff and Revert

Who: every role reads (the list, an entry, the history, the locality values) and only editors get the
edit controls; a new entry is for editors only (a viewer gets the 403 page). The API refuses a viewer's
edits on its own (content_api.py): a missing button is a courtesy, not the protection.

The pages hand plain values to content.js in a <script type="application/json"> block; the script fills
the fields and draws the preview, the impact and the history with DOM methods (textContent), never HTML
from data.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from bot.content_edit import NotFound
from bot.content_edit.repo import REVIEW_STATES

from ..store import VIETNAM
from . import ticket_desk
from .auth import Principal, require
from .common import CSRF, DASHBOARD, PREFIX, Dashboard, NavPage, request_lang
from .content_desk import KINDS, MAX_QUESTION, BadRequest, desk
from ..formatting import plain
from .templating import render
from .words import CONTENT, LANGS

PAGE = PREFIX + "/content"
URL_RESOLVES = 20  # inbox keys an editor link carries (most asked first: the cluster's status follows the first)


def choices(dash: Dashboard, lang: str) -> dict[str, Any]:
    """What the form's menus offer: topics, guides (an FAQ entry's guide link) and offices (owner)."""
    kb = dash.kb

    def name(value: Any) -> str:
        value = value.get("name") if isinstance(value, dict) else value
        return plain(value.get(lang) or value.get("vi")) if isinstance(value, dict) else str(value or "")

    return {
        "topics": [[tp.id, plain(tp.title.get(lang))] for tp in kb.topics.values()],
        "guides": [[g.id, plain(g.title.get(lang))] for g in kb.guides.values()],
        "offices": [[key, name(value)] for key, value in (kb.locality.get("offices") or {}).items()],
    }


def script_data(request: web.Request, who: Principal, **values: Any) -> dict[str, Any]:
    """#content-data for content.js: the page's language and words, the session's CSRF token, whether
    the edit controls are shown, the menus, and the page's own values."""
    lang = request_lang(request)
    return {
        "lang": lang, "base": PREFIX, "csrf": request.get(CSRF), "can_edit": who.can("edit"), "t": CONTENT[lang],
        **choices(request.app[DASHBOARD], lang), **values,
    }


def inbox_keys(request: web.Request, source: ticket_desk.TicketDraft | None = None) -> list[str]:
    """The inbox keys the link carries, and the key of the ticket's question (its cluster is answered too)."""
    keys = [k for k in request.query.getall("resolves", []) if k.strip() and len(k) <= 500][:URL_RESOLVES]
    if source is not None and source.question_key and source.question_key not in keys:
        keys.append(source.question_key)
    return keys


def ticket_prefill(source: ticket_desk.TicketDraft | None) -> dict[str, Any]:
    """The ticket's part of the pre-fill: its id (sent back with the publish), code and the official's answer."""
    return source.to_prefill() if source is not None else {}


def today() -> str:
    return dt.datetime.now(VIETNAM).date().isoformat()


def blank(kind: str) -> dict[str, Any]:
    """A new entry's keys, empty where the editor writes (`bot check` says what is still missing)."""
    both: dict[str, Any] = {"vi": "", "en": ""}
    if kind == "faq":
        return {"id": "", "topic": "", "questions": {"vi": [], "en": []}, "answer": dict(both), "sources": [], "reviewed": today()}
    return {
        "id": "", "topic": "", "title": dict(both), "audience": dict(both), "questions": {"vi": [], "en": []},
        "prepare": {"vi": [], "en": []}, "steps": [dict(both) for _ in range(3)], "problems": [], "sources": [], "reviewed": today(),
    }


# -- the list ---------------------------------------------------------------------------------------------------

@require("viewer", page=True)
async def list_page(request: web.Request, who: Principal) -> web.Response:
    dash, d, q = request.app[DASHBOARD], desk(request.app), request.query
    kb, lang = dash.kb, request_lang(request)
    text = q.get("q", "")[:200]
    kind = q.get("kind") if q.get("kind") in KINDS else None
    topic = q.get("topic") if q.get("topic") in kb.topics else None
    review = q.get("review") if q.get("review") in REVIEW_STATES else None
    rows = await dash.in_thread(lambda: d.repo.search(text, topic, review, kind, kb=kb))
    return render(
        request, "content_list.html", current="content", c=CONTENT[lang], rows=rows, can_edit=who.can("edit"),
        form={"q": text, "kind": kind or "", "topic": topic or "", "review": review or ""},
        topics=dict(choices(dash, lang)["topics"]), kinds=KINDS, review_states=REVIEW_STATES,
    )


# -- one entry --------------------------------------------------------------------------------------------------

def entry_view(request: web.Request, who: Principal, kind: str, entry_id: str | None, found: dict[str, Any], prefill: dict | None) -> web.Response:
    c = CONTENT[request_lang(request)]
    data = script_data(request, who, kind=kind, id=entry_id, prefill=prefill, page="entry", **found)
    title = c["new_" + kind] if entry_id is None else f'{c["kind_" + kind]}: {entry_id}'
    return render(request, "content_entry.html", current="content", c=c, kind=kind, entry_id=entry_id, title=title, data=data,
                  can_edit=who.can("edit"), retired=found["retired"], file=found.get("file"))


def refused(request: web.Request, message: str, status: int) -> web.Response:
    return render(request, "error.html", status=status, message=message)


@require("viewer", page=True)
async def entry_page(request: web.Request, who: Principal) -> web.Response:
    dash, d = request.app[DASHBOARD], desk(request.app)
    kind, entry_id = request.match_info["kind"], request.match_info["id"]
    c = CONTENT[request_lang(request)]
    added = request.query.get("add", "").strip()[:MAX_QUESTION]
    source = await ticket_desk.draft(dash, who, request.query.get("ticket")) if request.query.get("ticket") else None
    if source is not None:
        added = source.question[:MAX_QUESTION]

    def read() -> dict[str, Any]:
        try:
            entry, version = d.repo.snapshot(kind, entry_id)
            return {"entry": entry, "version": version, "file": d.repo.find(kind, entry_id)[0], "retired": False}
        except NotFound:  # a retired one is shown read-only, with Restore
            return {"entry": d.repo.get_retired(kind, entry_id), "version": d.repo.version(), "file": d.repo.find(kind, entry_id, True)[0], "retired": True}

    try:
        found = await dash.in_thread(read) if len(entry_id) <= 64 else None
    except NotFound:
        found = None
    if found is None:
        return refused(request, c["no_entry"], 404)
    prefill = None
    if added and who.can("edit") and not found["retired"]:
        try:
            filled = await dash.in_thread(lambda: d.prefill(added, entry_id, kind))
        except BadRequest:
            filled = None
        if filled is not None:
            found["entry"] = filled["entry"]
            prefill = {"question": filled["question"], "lang": filled["lang"], "resolves": inbox_keys(request, source), "new": False, **ticket_prefill(source)}
    return entry_view(request, who, kind, entry_id, found, prefill)


@require("editor", page=True)
async def new_page(request: web.Request, who: Principal) -> web.Response:
    dash, d = request.app[DASHBOARD], desk(request.app)
    kind = request.query.get("kind") if request.query.get("kind") in KINDS else "faq"
    question = request.query.get("question", "").strip()[:MAX_QUESTION]
    source = await ticket_desk.draft(dash, who, request.query.get("ticket")) if request.query.get("ticket") else None
    if source is not None:
        question = source.question[:MAX_QUESTION]
    entry, prefill = blank(kind), None
    if question and kind == "faq":
        try:
            filled = await dash.in_thread(lambda: d.prefill(question, None, kind, source.answer if source else None))
        except BadRequest:
            filled = None
        if filled is not None:
            entry = filled["entry"]
            prefill = {"question": filled["question"], "lang": filled["lang"], "resolves": inbox_keys(request, source), "new": True, **ticket_prefill(source)}
    found = {"entry": entry, "version": d.repo.version(), "file": None, "retired": False}
    return entry_view(request, who, kind, None, found, prefill)


# -- locality values and the history ----------------------------------------------------------------------------

@require("viewer", page=True)
async def locality_page(request: web.Request, who: Principal) -> web.Response:
    dash, d = request.app[DASHBOARD], desk(request.app)
    version, locality = await dash.in_thread(lambda: (d.repo.version(), d.repo.locality()))
    c = CONTENT[request_lang(request)]
    data = script_data(request, who, page="locality", version=version, locality=locality)
    return render(request, "content_locality.html", current="content", c=c, data=data, can_edit=who.can("edit"))


@require("viewer", page=True)
async def history_page(request: web.Request, who: Principal) -> web.Response:
    c = CONTENT[request_lang(request)]
    data = script_data(request, who, page="history", kind=None, id=None)
    return render(request, "content_history.html", current="content", c=c, data=data)


def setup(app: web.Application, dash: Dashboard) -> None:
    desk(app)
    dash.nav.append(NavPage("content", "/content", {lang: CONTENT[lang]["content_page"] for lang in LANGS}))
    r = app.router
    r.add_get(PAGE, list_page)
    r.add_get(PAGE + "/new", new_page)
    r.add_get(PAGE + "/locality", locality_page)
    r.add_get(PAGE + "/history", history_page)
    r.add_get(PAGE + "/{kind:faq|guide}/{id}", entry_page)
