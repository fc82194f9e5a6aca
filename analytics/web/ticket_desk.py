"""What the officials' questions page (tickets.py), its JSON API (tickets_api.py) and the content editor
(content.py, content_api.py) share: the server's ticket store, a ticket as the caller may see it, the
lists of the queue's views, the changes an official makes (take, reply, close: checked, done on the
dashboard's threads, delivered, audited), and a ticket as the starting point of an FAQ entry or a phrasing
("Lưu thành câu hỏi mới (FAQ)", "Thêm làm cách hỏi của mục X").

Why here and not in tickets.py: pages never import each other, and the content editor opens a ticket's
draft by its id (`?ticket=<id>`) instead of carrying the question and the answer in its URL (an answer
may be 4,000 characters, far past what a request line holds once encoded). The ward check lives in one
place: a ward-bound official never sees, answers or publishes from a ticket of another ward, and cannot
tell whether one exists (None, which the callers answer as "no such ticket").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.handover.hours import OfficeHours
from bot.handover.store import MAX_TEXT, Ticket, TicketError, TicketMessage, TicketStore
from bot.knowledge import KnowledgeBase

from ..accounts import Principal
from .auth import audit
from .common import DASHBOARD, NONE_VALUE, Dashboard

MAX_ID = 10**12
# the queue's views: what ?status= may ask for, and the store's statuses each shows
VIEWS: dict[str, tuple[str, ...]] = {"open": ("open",), "answered": ("answered",), "closed": ("closed", "withdrawn")}


def store(dash: Dashboard) -> TicketStore | None:
    """The server's tickets (bot.channels.base.ServerContext.tickets); None: asking an official is off."""
    return getattr(dash.ctx, "tickets", None)


def ticket_id(value: Any) -> int | None:
    """A ticket id from a URL or a JSON body (a positive integer, or its digits); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value < MAX_ID else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        return int(value) or None
    return None


async def find(dash: Dashboard, who: Principal, value: Any) -> Ticket | None:
    """The ticket `value` names if `who` may see it (its ward is one of theirs); None otherwise, and when
    handover is off (a ticket of another ward and no ticket at all look the same)."""
    tickets, ident = store(dash), ticket_id(value)
    if tickets is None or ident is None:
        return None
    ticket = await dash.in_thread(lambda: tickets.get(ident))
    return ticket if ticket is not None and who.sees_ward(ticket.ward) else None


def last_answer(ticket: Ticket) -> TicketMessage | None:
    """The officials' latest reply on the ticket (what the content should now say), None before one."""
    replies = [m for m in ticket.messages if m.author != "citizen"]
    return replies[-1] if replies else None


@dataclass(frozen=True)
class TicketDraft:
    """What the content editor opens from a ticket: its question and the official's last answer."""

    id: int
    code: str
    question: str
    answer: str | None
    question_key: str | None  # the inbox cluster the question belongs to (publishing resolves it)

    def to_prefill(self) -> dict[str, Any]:
        """The keys content.js reads from `prefill` (the ticket goes back with the publish)."""
        return {"ticket": self.id, "code": self.code, "answer": self.answer, "resolves": [self.question_key] if self.question_key else []}


async def draft(dash: Dashboard, who: Principal, value: Any) -> TicketDraft | None:
    """The ticket `value` names, as the editor's starting point (None: no ticket the caller may see)."""
    ticket = await find(dash, who, value)
    if ticket is None:
        return None
    answer = last_answer(ticket)
    return TicketDraft(ticket.id, ticket.code, ticket.question, answer.text if answer else None, ticket.question_key)


# -- the queue and the changes (the page's forms and the API share them) ----------------------------------------

class Refusal(Exception):
    """What an action refuses: the HTTP status, the words' key (err_<key>) and the API's message."""

    def __init__(self, status: int, key: str, message: str):
        super().__init__(message)
        self.status, self.key, self.message = status, key, message


def official(who: Principal) -> str:
    """How a ticket names the official (Principal.actor; no account may be called "citizen", the store's
    word for the citizen: accounts.RESERVED_NAMES)."""
    return who.actor


def hours_of(dash: Dashboard) -> OfficeHours:
    return dash.kb.office_hours


def now_of(tickets: TicketStore) -> float:
    """The store's clock (time.time on a server; the tests' own clock in tests)."""
    return tickets.clock()


def wards_of(request: web.Request, who: Principal, ward: str | None = None) -> list[str] | None:
    """The wards the caller's lists cover: a bound official's own (all of them), else the `ward` asked
    ("_": no ward), else None (every ward)."""
    if who.wards:
        return list(who.wards)
    asked = (request.query.get("ward") if ward is None else ward) or ""
    asked = asked.strip()
    if not asked:
        return None
    return [""] if asked == NONE_VALUE else [asked[:64]]


def view_of(value: str | None) -> str:
    return value if value in VIEWS else "open"


async def listing(dash: Dashboard, tickets: TicketStore, view: str, wards: list[str] | None, limit: int) -> list[Ticket]:
    """The tickets of a view: oldest first while in play, newest first once ended."""
    ended = view == "closed"

    def read() -> list[Ticket]:
        found = [t for status in VIEWS[view] for t in tickets.tickets(status, wards, limit=limit, newest=ended)]
        found.sort(key=lambda t: (t.created_at, t.id), reverse=ended)
        return found[:limit]

    return await dash.in_thread(read)


@dataclass(frozen=True)
class Outcome:
    ticket: Ticket
    message: TicketMessage | None = None  # a reply's, with its delivery
    delivery: str | None = None


def store_or_refuse(dash: Dashboard) -> TicketStore:
    tickets = store(dash)
    if tickets is None:
        raise Refusal(404, "off", "asking an official is off on this server")
    return tickets


async def visible(dash: Dashboard, who: Principal, ident: Any) -> tuple[TicketStore, Ticket]:
    tickets = store_or_refuse(dash)
    ticket = await find(dash, who, ident)
    if ticket is None:
        raise Refusal(404, "no_ticket", "no such ticket")
    return tickets, ticket


def refused(exc: TicketError) -> Refusal:
    """The store's refusal as the answer: 404, 400 for the text, 409 for a ticket that ended."""
    if exc.code == "not_found":
        return Refusal(404, "no_ticket", "no such ticket")
    if exc.code in ("empty", "too_long"):
        return Refusal(400, exc.code, str(exc))
    return Refusal(409, "ended", str(exc))


async def change(request: web.Request, who: Principal, ident: Any, action: str, work: Callable[[TicketStore, int, str], Ticket]) -> Outcome:
    """`work(tickets, ticket_id, official)` (TicketStore.take or .close) on the dashboard's threads, for a
    ticket the caller sees; then the audit row."""
    dash = request.app[DASHBOARD]
    tickets, ticket = await visible(dash, who, ident)
    try:
        changed = await dash.in_thread(lambda: work(tickets, ticket.id, official(who)))
    except TicketError as exc:
        raise refused(exc) from None
    await audit(request, who, f"ticket.{action}", f"ticket:{ticket.id}", {"ward": ticket.ward})
    return Outcome(changed)


async def take(request: web.Request, who: Principal, ident: Any) -> Outcome:
    return await change(request, who, ident, "take", TicketStore.take)


async def close(request: web.Request, who: Principal, ident: Any) -> Outcome:
    return await change(request, who, ident, "close", TicketStore.close)


def known_entry(kb: KnowledgeBase, value: Any) -> str | None:
    """The entry to attach: an FAQ entry's or a guide's id, or None for none; Refusal for another value."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or (value.strip() not in kb.faqs and value.strip() not in kb.guides):
        raise Refusal(400, "entry", "entry must be the id of an FAQ entry or a guide of the content")
    return value.strip()


async def reply(request: web.Request, who: Principal, ident: Any, text: Any, entry: Any) -> Outcome:
    """Store the reply (its delivery queued in the same transaction), try it at once, audit it."""
    dash = request.app[DASHBOARD]
    if not isinstance(text, str) or not text.strip():
        raise Refusal(400, "empty", "text must be a non-empty text")
    if len(text.strip()) > MAX_TEXT:
        raise Refusal(400, "too_long", f"text is longer than {MAX_TEXT} characters")
    entry_id = known_entry(dash.kb, entry)
    tickets, ticket = await visible(dash, who, ident)
    try:
        message, outbox_id = await dash.in_thread(lambda: tickets.reply(ticket.id, official(who), text, entry_id))
    except TicketError as exc:
        raise refused(exc) from None
    courier = dash.ctx.courier
    delivery = await courier.deliver_now(outbox_id) if courier is not None else "queued"
    await audit(request, who, "ticket.reply", f"ticket:{ticket.id}", {"ward": ticket.ward, "entry": entry_id, "delivery": delivery})
    now = await fresh(request, ticket.id)
    message = next((m for m in now.messages if m.id == message.id), message)
    return Outcome(now, message, delivery)


async def fresh(request: web.Request, ident: int) -> Ticket:
    dash = request.app[DASHBOARD]
    tickets = store_or_refuse(dash)
    ticket = await dash.in_thread(lambda: tickets.get(ident))
    if ticket is None:  # forgotten (/forget) between the change and now
        raise Refusal(404, "no_ticket", "no such ticket")
    return ticket

