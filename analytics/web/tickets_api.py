"""The JSON API of the officials' questions (issue 12, section 2), over analytics.web.ticket_desk; the page
itself is tickets.py. Bearer tokens work as for every dashboard API; a session's POST needs X-CSRF-Token.

    GET  /dashboard/api/tickets?status=open|answered|closed&ward=
         -> {"tickets": [{"id", "code", "ward", "channel", "topic", "question", "created_at", "status", "taken_by",
             "first_answer_at", "due_at", "messages" (a count), "content_entry"}]}   (none while handover is off)
    GET  /dashboard/api/tickets/<id>   -> {"ticket": {..., "attempt", "additions", "closed_at", "messages": [...]}}
    POST /dashboard/api/tickets/<id>/reply {"text", "entry"?} -> {"delivery": "sent"|"queued"|"failed"}
         (the contract's answer, nothing more: the reply itself, with the platform's words when it failed, is
         in GET .../<id>)
    POST /dashboard/api/tickets/<id>/take | close  {}           -> {"ticket"}

Reading is for every role, changes for editors (403 for a viewer). A ward-bound caller lists its wards'
tickets only and gets 404 for another ward's, as for one that does not exist. Refused input is a 4xx with
{"error": sentence}: 400 (empty or too long a text, an unknown entry, not a JSON object, another status),
404, 409 (the ticket was closed or withdrawn), 413 (a body over MAX_BODY).
"""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web

from bot import jsonbody
from bot.handover.hours import OfficeHours
from bot.handover.store import Ticket, TicketMessage

from . import ticket_desk
from .auth import Principal, require
from .common import DASHBOARD, PREFIX, Dashboard, json_error, secure
from .ticket_desk import VIEWS, Refusal, close, hours_of, listing, reply, take, visible, wards_of

API = PREFIX + "/api/tickets"
TICKET = "/{ticket:[0-9]{1,12}}"
LIMIT = 500
MAX_BODY = 32 * 1024  # a 4,000-character answer, each character escaped, fits


def message_json(m: TicketMessage) -> dict[str, Any]:
    return {"id": m.id, "author": m.author, "text": m.text, "entry": m.entry_id, "created_at": m.created_at, "delivery": m.delivery, "error": m.error}


def ticket_json(t: Ticket, hours: OfficeHours, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": t.id, "code": t.code, "ward": t.ward, "channel": t.channel, "topic": t.topic, "question": t.question,
        "created_at": t.created_at, "status": t.status, "taken_by": t.taken_by, "first_answer_at": t.first_answer_at,
        "due_at": hours.due(t.created_at), "messages": len(t.messages), "content_entry": t.content_entry,
    }
    if full:
        data.update(attempt=t.attempt, additions=t.additions, closed_at=t.closed_at, messages=[message_json(m) for m in t.messages])
    return data


def api_answer(handler):
    """A Refusal (or bad JSON) as a 4xx JSON answer."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request, who: Principal) -> web.StreamResponse:
        try:
            return await handler(request, who)
        except Refusal as exc:
            return json_error(exc.message, exc.status)
        except jsonbody.RequestError as exc:
            return json_error(exc.message, exc.status)

    return wrapped


async def body_of(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    body = await jsonbody.read_json(request, MAX_BODY)
    if not isinstance(body, dict):
        raise Refusal(400, "form", "body must be a JSON object")
    return body


@require("viewer")
@api_answer
async def api_list(request: web.Request, who: Principal) -> web.Response:
    dash = request.app[DASHBOARD]
    status = request.query.get("status") or "open"
    if status not in VIEWS:
        raise Refusal(400, "form", f"status must be one of {', '.join(VIEWS)}")
    tickets = ticket_desk.store(dash)
    if tickets is None:
        return secure(web.json_response({"tickets": []}))
    found = await listing(dash, tickets, status, wards_of(request, who), LIMIT)
    hours = hours_of(dash)
    return secure(web.json_response({"tickets": [ticket_json(t, hours) for t in found]}))


@require("viewer")
@api_answer
async def api_ticket(request: web.Request, who: Principal) -> web.Response:
    dash = request.app[DASHBOARD]
    _, ticket = await visible(dash, who, request.match_info["ticket"])
    return secure(web.json_response({"ticket": ticket_json(ticket, hours_of(dash), full=True)}))


@require("editor", csrf=True)
@api_answer
async def api_reply(request: web.Request, who: Principal) -> web.Response:
    body = await body_of(request)
    done = await reply(request, who, request.match_info["ticket"], body.get("text"), body.get("entry"))
    return secure(web.json_response({"delivery": done.delivery}))


def api_action(action):
    @require("editor", csrf=True)
    @api_answer
    async def handler(request: web.Request, who: Principal) -> web.Response:
        await body_of(request)  # {} or nothing; anything else is 400
        done = await action(request, who, request.match_info["ticket"])
        return secure(web.json_response({"ticket": ticket_json(done.ticket, hours_of(request.app[DASHBOARD]), full=True)}))

    handler.__name__ = f"api_{action.__name__}"
    return handler


def setup(app: web.Application, dash: Dashboard) -> None:
    r = app.router
    r.add_get(API, api_list)
    r.add_get(API + TICKET, api_ticket)
    r.add_post(API + TICKET + "/reply", api_reply)
    r.add_post(API + TICKET + "/take", api_action(take))
    r.add_post(API + TICKET + "/close", api_action(close))
