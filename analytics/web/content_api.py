"""The content editors' JSON API (issue 11, section 2), over bot.content_edit. JSON keys are the YAML keys.

    GET  /dashboard/api/content/entries?q=&topic=&review=&kind=   list and search (review: ok|due|expired|retired)
    GET  /dashboard/api/content/<kind>/<id>[?retired=1]  -> {"entry", "version", "file", "retired"}; 404
    PUT  /dashboard/api/content/<kind>/<id>  {"entry", "version", "resolves"?, "ticket"?}
         -> 200 {"version", "revisions", "reloaded"}: written, the bot reloaded (it answers from it at once),
            a revision and an audit row; `resolves` (inbox cluster keys) marked resolved with this entry
         -> 422 {"problems": [{file, line, message, field}]}  -> 409 {"error", "version": current}
    POST /dashboard/api/content/<kind>  {"entry", "version", "resolves"?, "ticket"?}  creates: 201 {"id", "version", ...}
         ("ticket": the official's question it came from, recorded as turned into content)
    POST /dashboard/api/content/<kind>/<id>/retire | /restore  {"version"}
    POST /dashboard/api/content/check    {"kind", "id"?, "entry"} -> 200 {"ok", "problems", "version"}
    POST /dashboard/api/content/preview  {"kind", "id"?, "entry"?, "lang"?} -> {"telegram", "zalo", "web", "lang"}
    POST /dashboard/api/content/try      {"text", "entry"?, "kind"?, "id"?, "lang"?} -> the `ask --json` object
    POST /dashboard/api/content/impact   {"kind", "id"?, "entry"} -> moves over the labelled questions
    GET  /dashboard/api/content/locality -> {"locality", "version"}
    PUT  /dashboard/api/content/locality {"version", "locality"? | "set"?: {path: value} | "delete"?: [path]}
    GET  /dashboard/api/content/revisions?kind=&id=&before=&limit=  newest first, each with its diff
    GET  /dashboard/api/content/revisions/<n>            one, with the entry's YAML before and after
    POST /dashboard/api/content/revisions/<n>/revert     -> 200 {"version", ...} | 409 (changed since) | 422
    GET  /dashboard/api/content/prefill?question=&entry=&kind=   the editor pre-filled from an inbox question
                                            (?ticket=<id> instead of question: an answered ticket's, with its answer)

`<kind>` is faq or guide; "id" null (or absent) in check/preview/try/impact means a new entry, whose id is
in its keys. Reading is for every role; everything that runs a draft or writes is for editors (403 for a
viewer), and with a session it needs the CSRF header like /dashboard/api/mark (a bearer call does not).
Blocking work (a validation is a whole `bot check`, about 0.3 s; an impact about 2 s) runs on the
dashboard's threads. Bad input is a 400 with a sentence (422 when it is the content that is wrong), never
a 500.
"""

from __future__ import annotations

import functools
from typing import Any, Awaitable, Callable

from aiohttp import web

from bot import jsonbody
from bot.content_edit import Conflict, Invalid, NotFound, RevisionNotFound, impact, preview, try_question
from bot.content_edit.repo import REVIEW_STATES

from . import ticket_desk
from .auth import Principal, require
from .common import DASHBOARD, PREFIX, Dashboard, json_error, secure
from .content_desk import KINDS, BadRequest, Desk, EntryEdit, base_version, desk, lang_of, question_text, resolves

API = PREFIX + "/api/content"
MAX_BODY = 256 * 1024  # a long guide is about 12 KiB of JSON
ENTRY = "/{kind:faq|guide}/{id}"
REVISION = "/revisions/{rev:[0-9]{1,12}}"

Handler = Callable[[web.Request, Principal], Awaitable[web.StreamResponse]]


def ok(data: dict[str, Any], status: int = 200) -> web.Response:
    return secure(web.json_response(data, status=status))


def answers(handler: Handler) -> Handler:
    """bot.content_edit's refusals as the contract's answers: 400, 404, 409, 422 (nothing was written)."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request, who: Principal) -> web.StreamResponse:
        try:
            return await handler(request, who)
        except jsonbody.RequestError as exc:
            return json_error(exc.message, exc.status)
        except BadRequest as exc:
            return json_error(str(exc), 400)
        except Invalid as exc:
            return ok(exc.to_dict(), 422)
        except Conflict as exc:
            return ok(exc.to_dict(), 409)
        except (NotFound, RevisionNotFound) as exc:
            return json_error(str(exc), 404)

    return wrapped


async def body_of(request: web.Request) -> dict[str, Any]:
    body = await jsonbody.read_json(request, MAX_BODY)
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def entry_key(request: web.Request) -> tuple[str, str]:
    kind, entry_id = request.match_info["kind"], request.match_info["id"]
    if len(entry_id) > 64:
        raise NotFound(kind, entry_id[:64])
    return kind, entry_id


def the(request: web.Request) -> tuple[Dashboard, Desk]:
    return request.app[DASHBOARD], desk(request.app)


# -- reading ----------------------------------------------------------------------------------------------------

@require("viewer")
@answers
async def entries(request: web.Request, who: Principal) -> web.Response:
    dash, d = the(request)
    q = request.query
    text, topic, review, kind = q.get("q", ""), q.get("topic") or None, q.get("review") or None, q.get("kind") or None
    if len(text) > 200 or (topic and len(topic) > 64):
        raise BadRequest("q or topic is too long")
    if review is not None and review not in REVIEW_STATES:
        raise BadRequest(f"review must be one of {', '.join(REVIEW_STATES)}")
    if kind is not None and kind not in KINDS:
        raise BadRequest(f"kind must be one of {', '.join(KINDS)}")
    kb = dash.kb
    found = await dash.in_thread(lambda: d.repo.search(text, topic, review, kind, include_retired=q.get("retired") == "1", kb=kb))
    return ok({"version": d.repo.version(), "entries": [e.to_dict() for e in found]})


@require("viewer")
@answers
async def get_entry(request: web.Request, who: Principal) -> web.Response:
    _, d = the(request)
    kind, entry_id = entry_key(request)
    retired = request.query.get("retired") == "1"

    def read() -> dict[str, Any]:
        entry, version = (d.repo.get_retired(kind, entry_id), d.repo.version()) if retired else d.repo.snapshot(kind, entry_id)
        return {"entry": entry, "version": version, "file": d.repo.find(kind, entry_id, retired)[0], "retired": retired}

    return ok(await request.app[DASHBOARD].in_thread(read))


# -- publishing ---------------------------------------------------------------------------------------------------

async def from_ticket(request: web.Request, who: Principal, body: dict[str, Any], keys: list[str]) -> tuple[int | None, list[str]]:
    """The body's "ticket": the official's question the edit comes from (publishing records it as turned
    into content, and resolves the inbox group of its question, so the citizens waiting on it are told),
    with `keys` plus that question's key; BadRequest for one the caller may not see (another ward's looks
    like none at all)."""
    if body.get("ticket") is None:
        return None, keys
    ticket = await ticket_desk.find(request.app[DASHBOARD], who, body["ticket"])
    if ticket is None:
        raise BadRequest("ticket: no such question to an official among your wards")
    return ticket.id, [*keys, *([ticket.question_key] if ticket.question_key and ticket.question_key not in keys else [])]


@require("editor", csrf=True)
@answers
async def put_entry(request: web.Request, who: Principal) -> web.Response:
    _, d = the(request)
    kind, entry_id = entry_key(request)
    body = await body_of(request)
    edit, version, keys = EntryEdit.parse(body, kind, entry_id), base_version(body), resolves(body)
    ticket, keys = await from_ticket(request, who, body, keys)
    published = await d.publish(who, version, edit.apply_to, f"{kind}:{entry_id}", keys=keys, entry_id=entry_id, ticket=ticket)
    return ok({"version": published.version, "revisions": published.revisions, "reloaded": d.dash.kb.version == published.version})


@require("editor", csrf=True)
@answers
async def create_entry(request: web.Request, who: Principal) -> web.Response:
    _, d = the(request)
    kind = request.match_info["kind"]
    body = await body_of(request)
    edit, version, keys = EntryEdit.parse(body, kind, new=True), base_version(body), resolves(body)
    new_id = edit.shown_id
    ticket, keys = await from_ticket(request, who, body, keys)
    published = await d.publish(who, version, edit.apply_to, f"{kind}:{new_id}", keys=keys, entry_id=new_id, ticket=ticket)
    return ok({"id": new_id, "version": published.version, "revisions": published.revisions, "reloaded": d.dash.kb.version == published.version}, 201)


def lifecycle(action: str) -> Handler:
    """POST .../retire and .../restore: the entry leaves the bot (kept in retired/) or comes back."""

    @require("editor", csrf=True)
    @answers
    async def handler(request: web.Request, who: Principal) -> web.Response:
        _, d = the(request)
        kind, entry_id = entry_key(request)
        version = base_version(await body_of(request))
        edit = (lambda draft: draft.retire(kind, entry_id)) if action == "retire" else (lambda draft: draft.restore(kind, entry_id))
        published = await d.publish(who, version, edit, f"{kind}:{entry_id}")
        return ok({"version": published.version, "revisions": published.revisions, "action": action})

    handler.__name__ = action
    return handler


# -- drafts: check, preview, try, impact --------------------------------------------------------------------------

@require("editor", csrf=True)
@answers
async def check(request: web.Request, who: Principal) -> web.Response:
    dash, d = the(request)
    edit = EntryEdit.parse(await body_of(request))

    def run() -> list[Any]:
        try:
            return d.validate(edit).problems
        except Invalid as exc:  # could not even be applied (an id that changed, a broken file): problems too
            return exc.problems

    problems = await dash.in_thread(run)
    return ok({"ok": not problems, "problems": [p.to_dict() for p in problems], "version": d.repo.version()})


def draft_kb(d: Desk, edit: EntryEdit):
    """The draft's content (blocking); Invalid (-> 422) when it does not load."""
    validation = d.validate(edit)
    if validation.kb is None:
        raise Invalid(validation.problems)
    return validation.kb


@require("editor", csrf=True)
@answers
async def preview_entry(request: web.Request, who: Principal) -> web.Response:
    dash, d = the(request)
    body = await body_of(request)
    lang = lang_of(body.get("lang")) or "vi"
    if body.get("entry") is not None:
        edit = EntryEdit.parse(body)
        kind, entry_id = edit.kind, edit.shown_id
        shown = await dash.in_thread(lambda: preview(draft_kb(d, edit), kind, entry_id or "", lang))
    else:
        kind, entry_id = body.get("kind", "faq"), body.get("id")
        if kind not in KINDS or not isinstance(entry_id, str):
            raise BadRequest("give kind and id (a live entry), or entry (a draft)")
        shown = preview(dash.kb, kind, entry_id, lang)
    return ok({**shown, "lang": lang})


@require("editor", csrf=True)
@answers
async def try_text(request: web.Request, who: Principal) -> web.Response:
    dash, d = the(request)
    body = await body_of(request)
    text, lang = question_text(body.get("text")), lang_of(body.get("lang"))
    edit = EntryEdit.parse(body) if body.get("entry") is not None else None
    live = dash.kb

    def run() -> dict[str, Any]:
        kb = draft_kb(d, edit) if edit is not None else live
        return d.matching(lambda matcher_of: try_question(kb, text, lang, matcher=matcher_of(kb)))

    return ok(await dash.in_thread(run))


@require("editor", csrf=True)
@answers
async def impact_of(request: web.Request, who: Principal) -> web.Response:
    dash, d = the(request)
    edit = EntryEdit.parse(await body_of(request))
    live = dash.kb

    def run() -> Any:
        draft = draft_kb(d, edit)
        return d.matching(lambda matcher_of: impact(live, draft, current_matcher=matcher_of(live), draft_matcher=matcher_of(draft)))

    return ok((await dash.in_thread(run)).to_dict())


# -- locality values ----------------------------------------------------------------------------------------------

@require("viewer")
@answers
async def get_locality(request: web.Request, who: Principal) -> web.Response:
    dash, d = the(request)
    return ok(await dash.in_thread(lambda: {"version": d.repo.version(), "locality": d.repo.locality()}))


@require("editor", csrf=True)
@answers
async def put_locality(request: web.Request, who: Principal) -> web.Response:
    _, d = the(request)
    body = await body_of(request)
    version = base_version(body)
    whole, values, gone = body.get("locality"), body.get("set") or {}, body.get("delete") or []
    if whole is not None and not isinstance(whole, dict):
        raise BadRequest("locality must be an object: all of locality.yaml")
    if not isinstance(values, dict) or not isinstance(gone, list) or not all(isinstance(p, str) and p for p in gone):
        raise BadRequest('set must be an object {"hotlines.vneid.number": value, ...} and delete a list of such paths')
    if whole is None and not values and not gone:
        raise BadRequest("nothing to change: give locality, set or delete")

    def edit(draft: Any) -> None:
        if whole is not None:
            draft.replace_locality(whole)
        for path, value in values.items():
            draft.set_locality(path, value)
        for path in gone:
            draft.delete_locality(path)

    published = await d.publish(who, version, edit, "locality")
    return ok({"version": published.version, "revisions": published.revisions})


# -- the history ----------------------------------------------------------------------------------------------------

@require("viewer")
@answers
async def revisions(request: web.Request, who: Principal) -> web.Response:
    dash, d = the(request)
    q = request.query
    kind, entry_id = q.get("kind") or None, q.get("id") or None
    if kind is not None and kind not in (*KINDS, "locality"):
        raise BadRequest("kind must be faq, guide or locality")
    try:
        before = int(q["before"]) if q.get("before") else None
        limit = min(200, max(1, int(q.get("limit") or 50)))
    except ValueError:
        raise BadRequest("before and limit must be numbers") from None
    rows = await dash.in_thread(lambda: d.revisions().list(kind, entry_id, limit, before))
    return ok({"revisions": [r.to_dict(full=False) for r in rows]})


@require("viewer")
@answers
async def revision(request: web.Request, who: Principal) -> web.Response:
    dash, d = the(request)
    rev_id = int(request.match_info["rev"])
    return ok((await dash.in_thread(lambda: d.revisions().get(rev_id))).to_dict())


@require("editor", csrf=True)
@answers
async def revert_revision(request: web.Request, who: Principal) -> web.Response:
    _, d = the(request)
    published = await d.revert(who, int(request.match_info["rev"]))
    return ok({"version": published.version, "revisions": published.revisions})


# -- from the inbox -------------------------------------------------------------------------------------------------

@require("editor")
@answers
async def prefill(request: web.Request, who: Principal) -> web.Response:
    dash, d = the(request)
    q = request.query
    question, answer, source = q.get("question"), None, None
    if q.get("ticket"):  # from an official's answered question: its text and the official's last answer
        source = await ticket_desk.draft(dash, who, q["ticket"])
        if source is None:
            raise BadRequest("ticket: no such question to an official among your wards")
        question, answer = source.question, source.answer
    filled = await dash.in_thread(lambda: d.prefill(question, q.get("entry") or None, q.get("kind") or "faq", answer))
    return ok({**filled, **(source.to_prefill() if source else {})})


def setup(app: web.Application, dash: Dashboard) -> None:
    desk(app)
    r = app.router
    r.add_get(API + "/entries", entries)
    r.add_get(API + "/locality", get_locality)
    r.add_put(API + "/locality", put_locality)
    r.add_get(API + "/prefill", prefill)
    r.add_get(API + "/revisions", revisions)
    r.add_get(API + REVISION, revision)
    r.add_post(API + REVISION + "/revert", revert_revision)
    r.add_post(API + "/check", check)
    r.add_post(API + "/preview", preview_entry)
    r.add_post(API + "/try", try_text)
    r.add_post(API + "/impact", impact_of)
    r.add_post(API + "/{kind:faq|guide}", create_entry)
    r.add_get(API + ENTRY, get_entry)
    r.add_put(API + ENTRY, put_entry)
    r.add_post(API + ENTRY + "/retire", lifecycle("retire"))
    r.add_post(API + ENTRY + "/restore", lifecycle("restore"))
