"""What every channel of the server shares: the context it is given, the status it reports, and the
per-user rate limit (so no channel re-implements it)."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

from ..config import Settings
from ..service import ChatService


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
