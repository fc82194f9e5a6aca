"""What every channel of the server shares: the context it is given, the status it reports, and the
per-user rate limit (so no channel re-implements it).

For the messaging channels (Telegram, Zalo) also: `with_backoff` (retry a platform call on 429/5xx,
honouring the platform's retry-after), `KeyedLock` (one chat's work runs in arrival order, chats run
concurrently), `FloodGuard` (tell a too-fast citizen once, then stay quiet) and `RecentLangs` (the
language of the last reply per user, for the channel's own messages)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal, TypeVar

from ..config import Settings
from ..service import ChatService

log = logging.getLogger("digiguide.channels")
T = TypeVar("T")


@dataclass(frozen=True)
class ChannelStatus:
    """How a channel reports itself at start and on /healthz (never with secrets)."""

    name: str
    live: bool
    mode: str  # e.g. "page", "polling", "webhook", "off"
    hint: str = ""  # how to enable it when off


@dataclass
class ServerContext:
    settings: Settings
    service: ChatService
    channels: list[ChannelStatus] = field(default_factory=list)
    started: float = field(default_factory=time.time)


class RateLimiter:
    """Token bucket per key: `rate` messages per `per` seconds, bursts up to `rate`.

    Keys are hashed user ids or web sessions; the table is bounded (least recently seen dropped) so a
    flood of new keys cannot exhaust memory.
    """

    def __init__(self, rate: int = 10, per: float = 10.0, max_keys: int = 100_000):
        self.rate, self.per, self.max_keys = rate, per, max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(key, (float(self.rate), now))
        tokens = min(float(self.rate), tokens + (now - last) * self.rate / self.per)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return allowed


class FloodGuard:
    """Per-citizen flood control for messaging channels, on a RateLimiter.

    `check(key)`: "ok" within the budget; "warn" for the first message over it (tell the citizen once);
    "quiet" after that, until they slow down (a message within budget again resets the warning).
    """

    def __init__(self, limiter: RateLimiter, max_warned: int = 100_000):
        self.limiter = limiter
        self._warned: set[str] = set()
        self._max_warned = max_warned

    def check(self, key: str, now: float | None = None) -> Literal["ok", "warn", "quiet"]:
        if self.limiter.allow(key, now):
            self._warned.discard(key)
            return "ok"
        if key in self._warned:
            return "quiet"
        if len(self._warned) >= self._max_warned:  # bounded under a flood of new accounts
            self._warned.clear()
        self._warned.add(key)
        return "warn"


class RecentLangs:
    """The language of the last reply per user, bounded (least recently used dropped).

    Why: replies a channel writes itself (non-text, rate limit, error) should be in the language the citizen
    is talking in, without a blocking state read on the event loop.
    """

    def __init__(self, size: int = 10_000):
        self._size = size
        self._langs: OrderedDict[Hashable, str] = OrderedDict()

    def remember(self, user: Hashable, lang: str) -> None:
        self._langs.pop(user, None)
        self._langs[user] = lang
        if len(self._langs) > self._size:
            self._langs.popitem(last=False)

    def get(self, user: Hashable) -> str | None:
        return self._langs.get(user)


class KeyedLock:
    """One asyncio.Lock per key (a chat): work under one key runs one at a time, in arrival order (asyncio
    locks wake waiters first come, first served); different keys run concurrently.

    Use `async with locks.hold(chat_id):` as the first await of a task, and tasks started in arrival order
    keep that order. A key's lock exists only while it is held or awaited, so the table stays as small as
    the set of busy chats.
    """

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


@dataclass(frozen=True)
class Backoff:
    """How often and how long to wait before trying a failed platform call again.

    `attempts` tries in all. Between two tries: the wait the platform asked for (retry_after), capped at
    `cap`; otherwise `base * 2**n` (n = 0, 1, ...), capped, plus up to `jitter` (a fraction) so many chats
    retrying together do not hit the platform in one burst.
    """

    attempts: int = 4
    base: float = 0.5
    cap: float = 60.0
    jitter: float = 0.1

    def delay(self, retry: int, hint: float | None = None) -> float:
        if hint is not None and hint >= 0:
            return min(hint, self.cap)
        return min(self.base * 2**retry, self.cap) * (1 + random.uniform(0, self.jitter))


def retry_after_of(exc: BaseException) -> float | None:
    """The wait a platform asked for, if the exception carries one as `retry_after` (seconds or timedelta,
    as python-telegram-bot's RetryAfter and the Zalo client's ZaloError do)."""
    value = getattr(exc, "retry_after", None)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


async def with_backoff(
    call: Callable[[], Awaitable[T]],
    retryable: Callable[[BaseException], bool],
    backoff: Backoff = Backoff(),
    what: str = "platform call",
    describe: Callable[[BaseException], str] = lambda exc: type(exc).__name__,
    logger: logging.Logger | None = None,
) -> T:
    """Run `call()`; on an exception `retryable` accepts (429, 5xx, network), wait and try again.

    Why: a citizen who asked must get the answer even if the platform hiccups or throttles us. A timeout may
    rarely duplicate a message; that beats losing it. The last failure, or one `retryable` refuses, is
    raised. Log lines use `what` and `describe(exc)` only: never put a URL (it may hold a token) in either.
    """
    for retry in range(backoff.attempts):
        try:
            return await call()
        except Exception as exc:
            if retry + 1 >= backoff.attempts or not retryable(exc):
                raise
            delay = backoff.delay(retry, retry_after_of(exc))
            (logger or log).warning("%s failed (%s); retry %d/%d in %.1fs", what, describe(exc), retry + 1, backoff.attempts - 1, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable: Backoff.attempts must be at least 1")
