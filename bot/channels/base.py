"""What every channel of the server shares: the context it is given, the status it reports, and the
per-user rate limit (so no channel re-implements it): `RateLimiter` (a token bucket per key) and `Budget`
(typed messages and button taps counted apart, so a citizen tapping briskly through a guide is never told
they type too fast, while a script still cannot flood either way).

For the messaging channels (Telegram, Zalo) also: `with_backoff` (retry a platform call on 429/5xx,
honouring the platform's retry-after), `KeyedLock` (one chat's work runs in arrival order, chats run
concurrently), `FloodGuard` (tell a too-fast citizen once, then stay quiet), `RecentIds` (drop an update
the platform delivered twice), `RecentLangs` (the language of the last reply per user, for the channel's own
messages; the web chat uses it per session),
and the webhook-or-polling set-up: `WebhookSpec` (what differs per platform), `webhook_secret` (the
configured secret or a generated one), `secret_matches` (the platform's secret header, in constant time)
and `setup_messaging` (off, polling or webhook by Settings, plus the aiohttp lifecycle hooks)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import random
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar

from aiohttp import web

from ..config import Settings, load_or_create_secret
from ..engine import Incoming
from ..service import ChatService

if TYPE_CHECKING:
    from ..handover.courier import Courier
    from ..handover.store import TicketStore
    from ..shared_limits import SharedCounters
    from ..singleton import SingletonWork

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
    # asking an official (bot.handover): the tickets and the courier delivering replies; None: handover off
    tickets: "TicketStore | None" = None
    courier: "Courier | None" = None
    # the work that runs in one worker at a time (bot.singleton); this worker's name for /healthz
    singleton: "SingletonWork | None" = None
    worker: str = "local"
    # several workers: rate limits counted in the shared database (bot.shared_limits); None: in memory
    counters: "SharedCounters | None" = None

    def limiter(self, scope: str, rate: int, per: float) -> "RateLimiter":
        """A rate limit that holds across this server's workers (in memory when there is one worker)."""
        if self.counters is None:
            return RateLimiter(rate, per)
        from ..shared_limits import SharedRateLimiter

        return SharedRateLimiter(self.counters, scope, rate, per)  # type: ignore[return-value]

    def budget(self, scope: str, rate: int, per: float) -> "Budget":
        """Budget(typed, taps) for a channel's citizens, both from `limiter`."""
        return Budget(self.limiter(f"{scope}:typed", rate, per), self.limiter(f"{scope}:taps", TAP_RATE, TAP_PER))

    def run_once(self, name: str, start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]) -> None:
        """Register work that must run in one worker only (long polling, delivery rounds, the warmer)."""
        assert self.singleton is not None, "build_app gives every server a SingletonWork"
        self.singleton.add(name, start, stop)

    @property
    def holds_singleton(self) -> bool:
        return self.singleton is not None and self.singleton.holding

    def report(self, status: ChannelStatus) -> None:
        """Replace the status of the channel named `status.name` (e.g. "error" after a failed start)."""
        self.channels[:] = [status if c.name == status.name else c for c in self.channels]


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

    def retry_after(self) -> int:
        """Whole seconds until a bucket has room for one more (for a Retry-After header)."""
        return max(1, math.ceil(self.per / self.rate))


# Button taps (and start links) per citizen: bursts of 60, then one a second. More generous than typed
# questions on every channel: a tap costs no text matching, and walking a guide is many quick taps (an
# overview, a dozen steps, back and forth). Still a limit, so a script cannot flood by "tapping".
TAP_RATE, TAP_PER = 60, 60.0
_OPTION_NUMBER = re.compile(r"^\s*\d{1,2}\s*$")


def is_tap(incoming: Incoming) -> bool:
    """The citizen picked rather than wrote: a button's action, or a start link (a poster, a page load)."""
    return incoming.action is not None or incoming.start_payload is not None


def is_option_number(text: str | None) -> bool:
    """A bare option number ("2"): on a channel without buttons (Zalo's numbered list) that is a tap in all
    but name, so it is counted as one. Only for the rate limit: what it means is the engine's business."""
    return bool(text) and _OPTION_NUMBER.match(text) is not None


@dataclass
class Budget:
    """Per-key rate limits for what a citizen typed and what they tapped, counted apart.

    Why: one shared budget tells a citizen who taps through a guide at a brisk pace that they "send too
    fast", though taps are cheap and expected to come quickly; typed questions (matched against the
    content) keep the stricter limit. `tap` means a button's action or a start link (what the citizen
    picked, not wrote); channels without buttons pass `is_option_number(text)`.
    """

    typed: RateLimiter
    taps: RateLimiter = field(default_factory=lambda: RateLimiter(TAP_RATE, TAP_PER))

    def limiter(self, tap: bool) -> RateLimiter:
        return self.taps if tap else self.typed

    def allow(self, key: str, tap: bool = False, now: float | None = None) -> bool:
        return self.limiter(tap).allow(key, now)

    def retry_after(self, tap: bool = False) -> int:
        """Whole seconds until the bucket has room for one more (for a Retry-After header)."""
        return self.limiter(tap).retry_after()


class FloodGuard:
    """Per-citizen flood control for messaging channels, on a Budget (typed and tapped apart).

    `check(key, tap)`: "ok" within the budget; "warn" for the first message over it (tell the citizen once);
    "quiet" after that, until they slow down (a message within budget again resets the warning). Typed
    messages and taps are warned about separately: a throttled typist can still tap "Next".
    """

    def __init__(self, budget: Budget, max_warned: int = 100_000):
        self.budget = budget
        self._warned: set[tuple[str, bool]] = set()
        self._max_warned = max_warned

    def check(self, key: str, tap: bool = False, now: float | None = None) -> Literal["ok", "warn", "quiet"]:
        lane = (key, tap)
        if self.budget.allow(key, tap, now):
            self._warned.discard(lane)
            return "ok"
        if lane in self._warned:
            return "quiet"
        if len(self._warned) >= self._max_warned:  # bounded under a flood of new accounts
            self._warned.clear()
        self._warned.add(lane)
        return "warn"


DEDUPE_WINDOW, DEDUPE_SIZE = 300.0, 20_000  # forget an update id after 5 minutes; bounded memory


class RecentIds:
    """Keys seen within `window` seconds, at most `size` of them (oldest forgotten first).

    Why: the platforms deliver again what they think we missed (a webhook answer lost or late, a poll
    retried), and a citizen must not get every answer twice. Five minutes covers their retries; the bound
    keeps a flood of fresh ids from growing the table."""

    def __init__(self, window: float = DEDUPE_WINDOW, size: int = DEDUPE_SIZE):
        self.window, self.size = window, size
        self._expiry: OrderedDict[Hashable, float] = OrderedDict()

    def seen(self, key: Hashable, now: float | None = None) -> bool:
        """True if `key` was seen within the window; otherwise remember it and return False."""
        now = time.monotonic() if now is None else now
        while self._expiry and next(iter(self._expiry.values())) <= now:
            self._expiry.popitem(last=False)
        if key in self._expiry:
            return True
        self._expiry[key] = now + self.window
        if len(self._expiry) > self.size:
            self._expiry.popitem(last=False)
        return False


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


# -- webhook or polling: the set-up every messaging channel shares ------------------------------------------
@dataclass(frozen=True)
class WebhookSpec:
    """What differs between the messaging platforms' set-up; `setup_messaging` does the rest the same way.

    Settings are named after `env`: <env>_BOT_TOKEN, <env>_WEBHOOK_URL and <env>_WEBHOOK_SECRET (the hints
    name them, so an operator knows what to set)."""

    channel: str  # the ChannelStatus name: "telegram"
    platform: str  # for hints: "Telegram"
    env: str  # the settings' prefix: "TELEGRAM"
    path: str  # where the platform POSTs updates: "/telegram/webhook"
    secret_file: str  # the generated secret's file, next to the database
    secret_ok: Callable[[str], object]  # the platform's rule for a secret (truthy = accepted)
    secret_rule: str  # the hint when it is refused, after "<env>_WEBHOOK_SECRET "
    logger: logging.Logger  # the channel's own

    @property
    def off_hint(self) -> str:
        return f"set {self.env}_BOT_TOKEN (polling) and {self.env}_WEBHOOK_URL (webhook) to enable"


def webhook_secret(spec: WebhookSpec, configured: str, settings: Settings) -> str:
    """`configured` (<env>_WEBHOOK_SECRET), or a generated one kept next to the database (stable across
    restarts, so the platform's registration stays valid)."""
    return configured or load_or_create_secret(settings.db_path.parent / spec.secret_file)


def secret_matches(request: web.Request, header: str, secret: str | None) -> bool:
    """The request carries our webhook secret in `header` (compared in constant time); never without one."""
    supplied = request.headers.get(header, "").encode("utf-8", "replace")
    return bool(secret) and hmac.compare_digest(supplied, secret.encode("utf-8"))


class MessagingChannel(Protocol):
    """What `setup_messaging` needs of a channel: its mode, the webhook route and the aiohttp hooks."""

    @property
    def webhook(self) -> bool: ...

    async def receive(self, request: web.Request) -> web.StreamResponse: ...

    async def start(self, app: web.Application) -> None: ...

    async def stop(self, app: web.Application) -> None: ...

    async def close(self, app: web.Application) -> None: ...


C = TypeVar("C", bound=MessagingChannel)


def setup_messaging(
    app: web.Application,
    ctx: ServerContext,
    spec: WebhookSpec,
    key: web.AppKey[C],
    make: Callable[[ServerContext, str | None], C],
    token: str,
    webhook_url: str,
    configured_secret: str,
) -> ChannelStatus:
    """Plug a messaging channel into the server: off without a token, webhook with a webhook URL (then
    `make` gets the secret), polling otherwise.

    A webhook URL that is not https:// (the platforms only call HTTPS webhooks) or a secret the platform
    would refuse turns the channel off with a hint, rather than failing at start. The channel is stopped on
    shutdown, before the server's drain (which is appended after the channels), so updates in flight still
    get their answer; it is closed on cleanup."""
    if not token:
        return ChannelStatus(spec.channel, False, "off", spec.off_hint)
    secret = None
    if webhook_url:
        if not webhook_url.startswith("https://"):
            return ChannelStatus(spec.channel, False, "off", f"{spec.env}_WEBHOOK_URL must start with https:// ({spec.platform} only calls HTTPS webhooks)")
        secret = webhook_secret(spec, configured_secret, ctx.settings)
        if not spec.secret_ok(secret):
            return ChannelStatus(spec.channel, False, "off", f"{spec.env}_WEBHOOK_SECRET {spec.secret_rule}")
        if not webhook_url.rstrip("/").endswith(spec.path):
            spec.logger.warning("%s_WEBHOOK_URL does not end in %s: make sure your proxy forwards it there", spec.env, spec.path)
    channel = make(ctx, secret)
    app[key] = channel
    if channel.webhook:
        app.router.add_post(spec.path, channel.receive)
    app.on_startup.append(channel.start)
    app.on_shutdown.append(channel.stop)
    app.on_cleanup.append(channel.close)
    return ChannelStatus(spec.channel, True, "webhook" if channel.webhook else "polling")
