"""Our server with asking an official on, for the tests of the handover: a real TicketStore in the test's
database (settings.database: an SQLite file, or PostgreSQL with handover_settings) and the courier build_app
wires to it, on a clock the test moves (so a retry after a 429's
retry_after or a backoff is due at once, without waiting it out).

    Clock()                                        time.time's stand-in: clock.advance(seconds)
    handover_settings(tmp_path, db_target, **more)  app_settings on the db_target fixture's database (either engine)
    handover_app(tmp_path, kb, matcher[, settings, clock])  -> (app, tickets)   not yet started
    serve_handover(settings, kb, matcher, tmp_path[, key, clock]) -> Handover    running on 127.0.0.1
    open_ticket(tickets, salt, channel, raw_id)     a confirmed ticket, as the engine opens one
    held(where, sql, params)                        another process in the middle of a write (a context manager)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from aiohttp import web

from bot.channels.base import ServerContext
from bot.config import Settings
from bot.engine import Engine
from bot.handover.courier import Courier
from bot.handover.store import Ticket, TicketStore
from bot.knowledge import KnowledgeBase
from bot.matcher import Matcher
from bot.privacy import hash_user
from bot.server import CTX, build_app
from bot.service import ChatService
from bot import storage
from bot.state import DatabaseStateStore
from webutil import Server, app_settings, running_server

C = TypeVar("C")


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll `condition()` (the server's background work runs meanwhile) until true, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@dataclass
class Clock:
    """A clock that only moves when told (the ticket store's and the courier's)."""

    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def handover_settings(tmp_path: Path, db_target: str, **overrides: Any) -> Settings:
    """app_settings with every table in the db_target fixture's database: its SQLite file, or its PostgreSQL
    database (DIGIGUIDE_DATABASE_URL; the salt and secret files stay in tmp_path)."""
    if db_target.startswith("postgresql://"):
        return app_settings(tmp_path, database_url=db_target, **overrides)
    return app_settings(tmp_path, db_path=Path(db_target), **overrides)


def handover_app(tmp_path: Path, kb: KnowledgeBase, matcher: Matcher, settings: Settings | None = None,
                 clock: Callable[[], float] = time.time) -> tuple[web.Application, TicketStore]:
    """The app `python -m bot serve` runs with tickets on (in settings.database, as the state), not yet started."""
    settings = settings or app_settings(tmp_path)
    tickets = TicketStore(settings.database, settings.salt, clock=clock)
    service = ChatService(Engine(kb, DatabaseStateStore(settings.database), settings.salt, matcher=matcher, tickets=tickets))
    app = build_app(settings, service)
    ctx = app[CTX]
    assert ctx.tickets is tickets and ctx.courier is not None, "build_app wires the tickets and the courier"
    ctx.courier.clock = clock  # retries are scheduled on the store's clock
    return app, tickets


@dataclass
class Handover(Generic[C]):
    """The running server, its ticket store, courier and clock."""

    server: Server[C]
    tickets: TicketStore
    clock: Clock

    @property
    def ctx(self) -> ServerContext:
        return self.server.app[CTX]

    @property
    def courier(self) -> Courier:
        assert self.ctx.courier is not None
        return self.ctx.courier


@asynccontextmanager
async def serve_handover(settings: Settings, kb: KnowledgeBase, matcher: Matcher, tmp_path: Path,
                         key: web.AppKey[C] | None = None, clock: Clock | None = None) -> AsyncIterator[Handover[C]]:
    clock = clock or Clock()
    app, tickets = handover_app(tmp_path, kb, matcher, settings, clock)
    try:
        async with running_server(app) as url:
            yield Handover(Server(app, url, key), tickets, clock)
    finally:
        app[CTX].service.engine.store.close()
        tickets.close_db()


def open_ticket(tickets: TicketStore, salt: str, channel: str, raw_id: str, question: str = "Tôi chưa nhận được mã kích hoạt VNeID",
                ward: str = "phuc-yen", lang: str = "vi", **more: Any) -> Ticket:
    """A confirmed ticket of the citizen `raw_id` on `channel` (answered on that chat or web session)."""
    return tickets.open_ticket(user=hash_user(salt, channel, raw_id), channel=channel, address=raw_id, lang=lang, ward=ward,
                               topic=None, question=question, **more)


@contextmanager
def held(where: str, sql: str, params: Sequence[Any] = ()) -> Iterator[None]:
    """Another process in the middle of a write: `sql` runs in a transaction left open for the block (the rows
    it changed locked on PostgreSQL, the write lock held on SQLite), committed when the block ends. What the
    block starts meanwhile on the same rows waits for it, as it would for a real second process."""
    db = storage.connect(where)
    try:
        with db.transaction():
            db.execute(sql, params)
            yield
    finally:
        db.close()
