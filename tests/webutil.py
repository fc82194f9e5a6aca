"""Shared helpers for the tests that talk HTTP: our real server app on throwaway SQLite files, served on a
loopback port, the plumbing of the loopback fakes of the Telegram and Zalo Bot APIs, and a headless Chromium.

The knowledge base and matcher come from conftest's session fixtures (built once); everything with
state (SQLite files, the ChatService worker thread, the rate limiter) is new for every test.

    make_app(tmp_path, kb, matcher[, settings])   the app `python -m bot serve` runs, not yet started
    app_settings(tmp_path, db=, **overrides)      the Settings make_app uses, with overrides; db: a db_target
                                                  value (an SQLite file, or a PostgreSQL URL: DIGIGUIDE_DATABASE_URL)
    running_server(app)                           serve any app on 127.0.0.1: `async with` -> base URL
    serve(settings, kb, matcher, tmp_path, key)   make_app + running_server -> Server (app, url, channel)
    LoopbackSite(app)                             start()/close() by hand, for servers that outlive a block
    FakeBotApi, Call                              the base of tests/fake_telegram.py and tests/fake_zalo.py
    launch_chromium(playwright)                   Debian's Chromium, headless, for browser tests
    client                                        fixture: an aiohttp TestClient on make_app
    Official(client, cookie)                      one official's session on a TestClient: page(), form(), api() with its CSRF token
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Self, TypeVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.config import Settings
from bot.engine import Engine
from bot.knowledge import KnowledgeBase
from bot.matcher import Matcher
from bot.server import CTX, build_app
from bot.service import ChatService
from bot.state import SqliteStateStore

C = TypeVar("C")

CHROMIUM = "/usr/bin/chromium"  # the system's browser: Playwright's own downloads are not used
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium)")


# -- our server ------------------------------------------------------------------------------------------------
def app_settings(tmp_path: Path, db: Path | str | None = None, **overrides: Any) -> Settings:
    """Settings on files under tmp_path (database x.db, salt "t", dashboard token "tok"), with overrides.
    `db` (conftest's db_target) puts the tables elsewhere: an SQLite file becomes db_path; a PostgreSQL URL
    becomes database_url (as DIGIGUIDE_DATABASE_URL would), db_path staying x.db (where the salt file goes)."""
    if db is not None:
        key = "database_url" if str(db).startswith("postgresql://") else "db_path"
        overrides = {key: str(db) if key == "database_url" else Path(db), **overrides}
    return Settings(**{"db_path": tmp_path / "x.db", "salt": "t", "dashboard_token": "tok", **overrides})


def make_app(tmp_path: Path, kb: KnowledgeBase, matcher: Matcher, settings: Settings | None = None) -> web.Application:
    """The same application `python -m bot serve` runs, on files under tmp_path (state in s.db)."""
    store = SqliteStateStore(tmp_path / "s.db")
    service = ChatService(Engine(kb, store, "t", matcher=matcher))
    return build_app(settings or app_settings(tmp_path), service)


def new_session() -> str:
    return secrets.token_hex(8)


class LoopbackSite:
    """An aiohttp app served on 127.0.0.1 at a free port (no access log), for real clients: a browser,
    python-telegram-bot, our Zalo client. `await LoopbackSite(app).start()`, then `close()`."""

    def __init__(self, app: web.Application):
        self.app = app
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> Self:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def close(self) -> None:
        """Stop serving and run the app's shutdown and cleanup hooks."""
        if self._runner is not None:
            await self._runner.cleanup()


@asynccontextmanager
async def running_server(app: web.Application) -> AsyncIterator[str]:
    """Serve `app` on a free loopback port; yields its base URL (for a real browser)."""
    site = await LoopbackSite(app).start()
    try:
        yield site.url
    finally:
        await site.close()


@dataclass
class Server(Generic[C]):
    """Our whole server, running: the app, its base URL and, given the channel's AppKey, that channel."""

    app: web.Application
    url: str
    key: web.AppKey[C] | None = None

    @property
    def channel(self) -> C:
        assert self.key is not None, "serve(..., key=...) names the channel"
        return self.app[self.key]


@asynccontextmanager
async def serve(settings: Settings, kb: KnowledgeBase, matcher: Matcher, tmp_path: Path, key: web.AppKey[C] | None = None) -> AsyncIterator[Server[C]]:
    """Our whole server (build_app) on 127.0.0.1, an ephemeral port, as `serve` would run it; the state
    store is closed after the server stopped."""
    app = make_app(tmp_path, kb, matcher, settings)
    try:
        async with running_server(app) as url:
            yield Server(app, url, key)
    finally:
        app[CTX].service.engine.store.close()


@pytest.fixture
async def client(tmp_path: Path, kb: KnowledgeBase, matcher: Matcher) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(make_app(tmp_path, kb, matcher))) as test_client:
        yield test_client


# -- loopback fakes of the platforms' Bot APIs -----------------------------------------------------------------
@dataclass
class Call:
    """One request the bot made to a fake: method, decoded parameters, the status answered (200 = ok; the
    Telegram fake's HTTP status, the Zalo fake's error_code), when (monotonic)."""

    method: str
    params: dict[str, Any]
    status: int
    at: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        return self.status == 200


class FakeBotApi:
    """What the Bot API fakes share: a loopback server routing /bot<token>/<method> to `_dispatch`, the log
    of the bot's calls, failures and latency to inject (keyed as the subclass reads them), and a change
    signal that long polls and `wait_for` sleep on."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._failures: dict[str, list[Exception | None]] = {}  # None: that call is answered as usual
        self._latency: dict[str, float] = {}
        self._changed = asyncio.Event()
        self._closed = False
        self._site: LoopbackSite | None = None
        self.port = 0

    async def _dispatch(self, request: web.Request) -> web.Response:
        raise NotImplementedError

    # -- server lifecycle -----------------------------------------------------------------------------------
    async def start(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        self._site = await LoopbackSite(app).start()
        self.port = self._site.port
        return self

    async def close(self) -> None:
        self._closed = True
        self._notify()  # release held getUpdates so the server stops at once
        if self._site is not None:
            await self._site.close()

    # -- inspecting what the bot did ---------------------------------------------------------------------------
    def mark(self) -> int:
        """A position in the call log, for `requests(..., since=mark)`."""
        return len(self.calls)

    def requests(self, method: str, since: int = 0, ok: bool | None = True) -> list[dict[str, Any]]:
        """Parameters of the bot's calls to `method` (successful ones by default; ok=None for all)."""
        return [c.params for c in self.calls[since:] if c.method == method and (ok is None or c.ok == ok)]

    def calls_to(self, method: str, since: int = 0) -> list[Call]:
        return [c for c in self.calls[since:] if c.method == method]

    def _record(self, method: str, params: dict[str, Any], status: int) -> None:
        self.calls.append(Call(method, params, status))
        self._notify()

    def _notify(self) -> None:
        old, self._changed = self._changed, asyncio.Event()
        old.set()

    async def _wait_change(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except asyncio.TimeoutError:
            pass


# -- a real browser --------------------------------------------------------------------------------------------
async def launch_chromium(playwright: Any) -> Any:
    """Debian's Chromium (CHROMIUM), headless, with flags for a box without GPU, sandbox or internet. Mark
    the test module with `needs_chromium` so it is skipped where that browser is missing."""
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@dataclass
class Official:
    """One official's session on the test client (its own cookie on each request) and its CSRF token."""

    client: TestClient
    cookie: str
    csrf: str = ""

    @property
    def origin(self) -> str:
        return str(self.client.make_url("/")).rstrip("/")

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Cookie": f"dg_session={self.cookie}", "Origin": self.origin, **extra}

    async def page(self, path: str = "/dashboard/tickets", **params) -> tuple[int, str]:
        r = await self.client.get(path, params=params, headers=self.headers(), allow_redirects=False)
        text = await r.text()
        found = re.search(r'name="csrf" value="([^"]+)"', text)
        if found:
            self.csrf = found.group(1)
        return r.status, text

    async def form(self, path: str, data: dict[str, str]):
        if not self.csrf:
            await self.page()
        return await self.client.post(path, data={"csrf": self.csrf, **data}, headers=self.headers(), allow_redirects=False)

    async def api(self, method: str, path: str, body=None, raw: bytes | None = None):
        if not self.csrf:
            await self.page()
        headers = self.headers(**{"X-CSRF-Token": self.csrf, "Content-Type": "application/json"})
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        return await self.client.request(method, path, data=data, headers=headers)
