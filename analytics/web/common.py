"""What every dashboard page shares: the paths and constants, the security headers, the filters in the query
string, the language, the cache of computed results, and the Dashboard object behind them (one per
application, at app[DASHBOARD]): the server's context, a small thread pool of its own for queries, the
cache, the warmer task and the top bar's pages.

Queries: each one opens its own connection (analytics.store.connect on Settings.database: the SQLite file or
PostgreSQL) on the dashboard's threads, so they never block the event loop; report.py reads rollups only.

The cache: computed results are kept in memory (ResultCache) for CACHE_TTL seconds, keyed by what was asked
(a section and the parsed filters, say); a request for a result being computed waits for that computation.
So new events show up to CACHE_TTL seconds late; DIGIGUIDE_DASHBOARD_CACHE_TTL=0 turns the cache (and the
overview's warmer, analytics.web.overview) off.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Awaitable, Callable, Hashable, Iterable
from urllib.parse import urlencode

from aiohttp import web

from bot import httpsec, storage
from bot.channels.base import ServerContext
from bot.knowledge import KnowledgeBase

from .. import report as rpt
from ..store import connect
from ..formatting import to_csv
from .words import LANGS

log = logging.getLogger("digiguide.dashboard")

PREFIX = "/dashboard"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
LANG_COOKIE = "dg_lang"
NONE_VALUE = "_"  # a filter value meaning "not set" (report.Filters' "")
FILTER_KEYS = ("since", "until", "channel", "topic", "ward", "source")
DEFAULT_DAYS = 28  # the overview's default range: the last 28 days with data
MIN_VOTES = 3  # an answer's rating counts from this many votes (the overview's table, the weekly summary)
CHANNEL_LABELS = {"web": "Web", "telegram": "Telegram", "zalo": "Zalo", "console": "Console"}
CACHE_TTL = 60.0  # seconds a computed section is served from memory (DIGIGUIDE_DASHBOARD_CACHE_TTL; 0: no cache)
CACHE_ENTRIES = 128  # computed sections kept at most (the least recently used go first)
# the session's CSRF token, which auth.check puts on the request for the top bar's logout form (a typed key
# where aiohttp has them, 3.13 on; a string before)
CSRF: Any = web.RequestKey("dashboard.csrf", str) if hasattr(web, "RequestKey") else "dashboard.csrf"
# who is behind the request (an analytics.accounts.Principal), also put there by auth.check: the top bar
# shows only the pages it may open, the templates get it as `who`
PRINCIPAL: Any = web.RequestKey("dashboard.principal", object) if hasattr(web, "RequestKey") else "dashboard.principal"

# bot.httpsec's headers (its CSP, nosniff, DENY), with the dashboard's own referrer policy and no
# cross-origin window or embedding of its pages and data. "same-origin", not "no-referrer": with
# no-referrer, browsers send `Origin: null` on same-origin POSTs and the origin check (auth.same_origin)
# could not tell our own forms from forged ones.
SECURITY_HEADERS: Mapping[str, str] = MappingProxyType(
    {
        **httpsec.SECURITY_HEADERS,
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
    }
)
PRIVATE = {"Cache-Control": "no-store"}


# -- responses -------------------------------------------------------------------------------------------------

def secure(response: web.StreamResponse, private: bool = True) -> web.StreamResponse:
    """SECURITY_HEADERS (bot.httpsec.secure) on any response, and no-store unless it is a public file."""
    httpsec.secure(response, SECURITY_HEADERS)
    if private:
        response.headers.update(PRIVATE)
    return response


def json_error(message: str, status: int) -> web.Response:
    return secure(web.json_response({"error": message}, status=status))


def span(f: rpt.Filters) -> str:
    """The filters' date range for a file name: "2025-03-01_2025-03-28", "start_end" for all time."""
    lo, hi = f.bounds
    return f"{lo if f.since else 'start'}_{hi if f.until else 'end'}"


def csv_response(header: list[str], rows: list[list[Any]], filename: str) -> web.Response:
    """A CSV download (formatting.to_csv), its file name reduced to safe characters."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "", filename)
    response = web.Response(body=to_csv(header, rows), content_type="text/csv", charset="utf-8", headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return secure(response)


# -- language --------------------------------------------------------------------------------------------------

def request_lang(request: web.Request) -> str:
    """?lang=vi|en, else the remembered choice (cookie), else Vietnamese."""
    asked = request.query.get("lang")
    if asked in LANGS:
        return asked
    cookie = request.cookies.get(LANG_COOKIE)
    return cookie if cookie in LANGS else "vi"


def remember_lang(request: web.Request, response: web.StreamResponse) -> None:
    asked = request.query.get("lang")
    if asked in LANGS and request.cookies.get(LANG_COOKIE) != asked:
        response.set_cookie(LANG_COOKIE, asked, path=PREFIX, max_age=365 * 86400, samesite="Lax", httponly=True, secure=request.secure)


# -- filters ---------------------------------------------------------------------------------------------------

def parse_filters(query: Any) -> rpt.Filters:
    """report.Filters from a query string; raises ValueError with a readable message."""
    values: dict[str, str] = {}
    for key in FILTER_KEYS:
        value = (query.get(key) or "").strip()
        if not value:
            continue
        if len(value) > 64:
            raise ValueError(f"{key} is too long")
        values[key] = "" if value == NONE_VALUE and key not in ("since", "until") else value
    return rpt.Filters(**values)


def filter_query(query: Any, *, extra: dict[str, str | None] | None = None, drop: Iterable[str] = ()) -> str:
    """The filter part of a query string (and `extra`), to carry over into links."""
    keep = {k: query.get(k) for k in (*FILTER_KEYS, "ignored") if k in query and k not in drop}
    keep.update(extra or {})
    order = {k: i for i, k in enumerate(("week", *FILTER_KEYS, "ignored"))}
    return urlencode(sorted(((k, v) for k, v in keep.items() if v is not None), key=lambda kv: order.get(kv[0], 99)))


def filter_options(db: storage.Database) -> dict[str, Any]:
    """What the filter menus offer, and the last day with data (small reads of the daily rollup)."""
    channels = [r[0] for r in db.execute("select distinct channel from daily").fetchall()]
    wards = [r[0] for r in db.execute("select distinct ward from daily").fetchall()]
    last = db.execute("select max(day) from daily").fetchone()[0]
    return {"channels": sorted(channels), "wards": sorted(w for w in wards if w), "last_day": last}


def last_day(db: storage.Database) -> str | None:
    return db.execute("select max(day) from daily").fetchone()[0]


# -- the cache of computed results -----------------------------------------------------------------------------

class ResultCache:
    """Computed results in memory for `ttl` seconds, at most `size` of them (the least recently used are
    dropped first); `ttl` 0 turns it off. Single flight: whoever asks for a result that is being computed
    waits for that computation instead of starting another. `invalidate(match)` forgets the matching
    results, and a matching computation that was running then gives its result to those already waiting
    but does not store it (it may have read the data before the change); whoever asks afterwards gets a
    new computation."""

    def __init__(self, ttl: float = CACHE_TTL, size: int = CACHE_ENTRIES):
        self.ttl, self.size = ttl, size
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()  # key -> (expires, value)
        self._running: dict[Hashable, _Flight] = {}
        self.hits = self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
        """The result for `key`: stored and fresh, else the running computation's, else a new one's."""
        if not self.enabled:
            return await compute()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > time.monotonic():
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]
        self.misses += 1
        return await self._join(key, compute)

    async def refresh(self, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
        """Compute `key` again even if its result is fresh (or join the computation already running)."""
        return await (self._join(key, compute) if self.enabled else compute())

    def invalidate(self, match: Callable[[Hashable], bool] = lambda key: True) -> None:
        for key in [k for k in self._entries if match(k)]:
            del self._entries[key]
        for key, flight in self._running.items():
            if match(key):
                flight.stale = True

    def clear(self) -> None:
        self.invalidate()

    def cancel(self) -> None:
        """Cancel the computations still running (the application is shutting down)."""
        for flight in self._running.values():
            flight.task.cancel()

    async def _join(self, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
        flight = self._running.get(key)
        if flight is None or flight.stale:
            flight = self._running[key] = _Flight()
            flight.task = asyncio.ensure_future(self._fill(key, compute, flight))
            flight.task.add_done_callback(lambda t: t.cancelled() or t.exception())  # a failure nobody awaited any more
        # shielded: a client that goes away does not cancel the computation the others wait for
        return await asyncio.shield(flight.task)

    async def _fill(self, key: Hashable, compute: Callable[[], Awaitable[Any]], flight: _Flight) -> Any:
        try:
            value = await compute()
            if not flight.stale:
                self._entries[key] = (time.monotonic() + self.ttl, value)
                self._entries.move_to_end(key)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
            return value
        finally:
            if self._running.get(key) is flight:
                del self._running[key]


@dataclass
class _Flight:
    """One running computation of a ResultCache; stale once its key was invalidated while it ran."""

    task: asyncio.Future = None  # type: ignore[assignment]
    stale: bool = False


def cache_ttl(environ: Any = os.environ) -> float:
    """CACHE_TTL, or DIGIGUIDE_DASHBOARD_CACHE_TTL (seconds; 0 turns the cache and its warmer off)."""
    value = str(environ.get("DIGIGUIDE_DASHBOARD_CACHE_TTL", "")).strip()
    try:
        return max(0.0, float(value)) if value else CACHE_TTL
    except ValueError:
        log.warning("DIGIGUIDE_DASHBOARD_CACHE_TTL must be a number of seconds, not %r: using %s", value, CACHE_TTL)
        return CACHE_TTL


# -- the Dashboard object --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NavPage:
    """A page in the top bar: `name` is what a page passes as `current`; `label` per language; `carry`:
    the link keeps the dashboard's filters of the current query string (the overview and the weekly
    summary share them); `role`: shown only to those who have it (the accounts page: admins)."""

    name: str
    path: str
    label: Mapping[str, str]
    carry: bool = False
    role: str = "viewer"


class Dashboard:
    """The server's context, the thread pool for queries, the cache of computed results, the warmer task and
    the top bar's pages; one per application (app[DASHBOARD])."""

    def __init__(self, ctx: ServerContext, workers: int = 4):
        self.ctx = ctx
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dashboard")
        self.cache = ResultCache(cache_ttl())
        self.warmer: asyncio.Task | None = None
        self.nav: list[NavPage] = []
        # other pages' standard views for the warmer to keep fresh too (the weekly summary): each call
        # recomputes its view through the cache and returns how many results it computed
        self.warm_also: list[Callable[[], Awaitable[int]]] = []

    @property
    def kb(self) -> KnowledgeBase:
        return self.ctx.service.kb

    async def query(self, fn: Callable[[storage.Database], Any]) -> Any:
        """Run `fn(db)` on the dashboard's threads with a connection of its own."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, self._with_db, fn)

    def _with_db(self, fn: Callable[[storage.Database], Any]) -> Any:
        db = connect(self.ctx.settings.database)
        try:
            return fn(db)
        finally:
            db.close()

    async def in_thread(self, fn: Callable[[], Any]) -> Any:
        """Run `fn()` (no database: a PDF, a QR code) on the dashboard's threads."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn)

    async def options(self, refresh: bool = False) -> dict[str, Any]:
        """filter_options, through the cache."""
        return await (self.cache.refresh if refresh else self.cache.get)(("options",), lambda: self.query(filter_options))

    def start_warming(self, job: Callable[[], Awaitable[None]]) -> None:
        """Run `job()` (a loop that keeps results fresh) from startup until cleanup; not without a cache."""
        if self.cache.enabled and self.warmer is None:
            self.warmer = asyncio.get_running_loop().create_task(job(), name="dashboard-warmer")

    async def stop_warming(self) -> None:
        if self.warmer is not None:
            self.warmer.cancel()
            try:
                await self.warmer
            except asyncio.CancelledError:
                pass
            self.warmer = None

    async def close(self) -> None:
        """Stop the warmer and the computations still running, and the threads (the application stops)."""
        await self.stop_warming()
        self.cache.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)


DASHBOARD = web.AppKey("dashboard", Dashboard)
