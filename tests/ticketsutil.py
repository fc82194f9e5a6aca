"""Asking an official, for the dashboard's tests (tests/test_tickets_dashboard.py, test_tickets_report.py,
test_tickets_browser.py): our server with asking an official on, on a clock the test moves; tickets
confirmed as the engine confirms them; the platforms' side of a delivery.

    Clock(start)                       a clock to move by hand: `clock.at(when)`, `clock.advance(seconds)`
    vn(y, m, d, hh, mm)                a Vietnam wall-clock moment as a timestamp
    handover_app(tmp_path, kb, matcher, clock[, db]) -> (app, Handover)
                                       the app `serve` runs (webutil.make_app's files; db: a db_target, the
                                       database of every table but the state), its engine given a
                                       TicketStore on `clock`: build_app wires ctx.tickets and ctx.courier
    handover(app, clock) -> Handover   the same store and courier on an app built without them (the content
                                       editor's server, tests/contentutil.py), as build_app would wire them
    confirm(store, salt, ward=, channel=, question=, ...)   a ticket as bot.handover.flow's confirmation stores it
    PlatformSender                     a channel's Sender: keeps what it was given to send, or fails as told

The store is the real one, on the server's database (Settings.database: a file or PostgreSQL) and salt; the courier is the real one, rendering
with bot.handover.flow.outbox_replies. Only the clock is the test's: ages and delays are in office hours.

PlatformSender stands where Telegram's or Zalo's API would answer (the channels register their own when
they run against a platform; these tests run none): what it gets is what the channel would send, the
replies rendered on the live content. `fail(message, retryable=...)` is a platform refusing (403 blocked)
or throttling (429).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.engine import Engine
from bot.handover.courier import Courier, Sender
from bot.handover.flow import outbox_replies
from bot.handover.hours import VIETNAM
from bot.handover.store import OutboxItem, Ticket, TicketStore
from bot.knowledge import KnowledgeBase
from bot.matcher import Matcher
from bot.privacy import hash_user
from bot.replies import Reply
from bot.server import CTX, build_app
from bot.service import ChatService
from bot.state import SqliteStateStore
from webutil import app_settings


class Clock:
    """time.time for the store and the courier, moved by the test."""

    def __init__(self, start: float):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def at(self, when: float) -> "Clock":
        self.now = when
        return self

    def advance(self, seconds: float) -> "Clock":
        self.now += seconds
        return self


def vn(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    """A moment in Vietnam time as a timestamp (2026-12-07 is a Monday)."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=VIETNAM).timestamp()


class PlatformFailure(Exception):
    """What a platform answered instead of delivering (its words are what the official reads)."""


@dataclass
class PlatformSender:
    """A channel's Sender for the courier: `sent` keeps (item, replies) of every delivery; `fail` makes the
    next sends raise (retryable: the courier tries again later; else the reply is failed)."""

    sent: list[tuple[OutboxItem, list[Reply]]] = field(default_factory=list)
    failure: PlatformFailure | None = None
    retry: bool = False

    def fail(self, message: str, retryable: bool = False) -> "PlatformSender":
        self.failure, self.retry = PlatformFailure(message), retryable
        return self

    async def send(self, item: OutboxItem, replies: list[Reply]) -> None:
        if self.failure is not None:
            raise self.failure
        self.sent.append((item, replies))

    def sender(self) -> Sender:
        return Sender(self.send, lambda exc: self.retry, lambda exc: str(exc))


@dataclass
class Handover:
    """The app's ticket store and courier (app[CTX].tickets, .courier) and the test's clock."""

    app: web.Application
    clock: Clock
    state: SqliteStateStore | None = None  # the engine's, when handover_app made it
    platforms: dict[str, PlatformSender] = field(default_factory=dict)

    @property
    def tickets(self) -> TicketStore:
        return self.app[CTX].tickets

    @property
    def courier(self) -> Courier:
        return self.app[CTX].courier

    @property
    def salt(self) -> str:
        return self.app[CTX].settings.salt

    def platform(self, channel: str) -> PlatformSender:
        """The channel's sender, registered with the courier on first use (the web chat has none: its
        replies wait for the citizen's page)."""
        if channel not in self.platforms:
            self.platforms[channel] = PlatformSender()
            self.courier.register(channel, self.platforms[channel].sender())
        return self.platforms[channel]

    def close(self) -> None:
        """After the server stopped: the ticket store (and the state store handover_app made), as `serve` closes them."""
        self.tickets.close_db()
        if self.state is not None:
            self.state.close()


def handover_app(tmp_path: Path, kb: KnowledgeBase, matcher: Matcher, clock: Clock, db: Path | str | None = None) -> tuple[web.Application, Handover]:
    """webutil.make_app with asking an official on: the engine gets a TicketStore on `clock` (the server's
    database and salt; `db`: conftest's db_target, else x.db), and build_app puts it and its courier on the
    context as `serve` does."""
    settings = app_settings(tmp_path, db=db)
    tickets = TicketStore(settings.database, settings.salt, clock)
    state = SqliteStateStore(tmp_path / "s.db")
    app = build_app(settings, ChatService(Engine(kb, state, settings.salt, matcher=matcher, tickets=tickets)))
    return app, Handover(app, clock, state)


def handover(app: web.Application, clock: Clock) -> Handover:
    """A ticket store on `clock` and its courier on an app whose engine has none (tests/contentutil.py's
    server), wired as build_app wires them. The engine does not see this store: tickets are made with
    `confirm` here, as the engine would."""
    ctx = app[CTX]
    store = TicketStore(ctx.settings.database, ctx.settings.salt, clock)
    ctx.tickets = store
    ctx.courier = Courier(store, lambda item: outbox_replies(ctx.service.kb, store, item), clock)
    app.on_startup.append(ctx.courier.start)
    app.on_cleanup.append(ctx.courier.stop)
    return Handover(app, clock)


def confirm(store: TicketStore, salt: str, *, ward: str | None, channel: str = "telegram", question: str = "Tôi cần hỏi về thủ tục",
            chat: str = "1001", topic: str | None = "eid", lang: str = "vi", attempt: dict[str, Any] | None = None,
            question_key: str | None = None) -> Ticket:
    """A ticket as the engine stores it when the citizen taps "Send" (bot.handover.flow: the salted user,
    the chat id or web session as the address, the bot's last attempt)."""
    return store.open_ticket(
        user=hash_user(salt, channel, chat), channel=channel, address=chat, lang=lang, ward=ward, topic=topic,
        question=question, question_key=question_key, attempt=attempt if attempt is not None else {"kind": "fallback", "entries": []},
    )
