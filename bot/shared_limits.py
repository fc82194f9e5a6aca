"""Rate limits and the secret lockout, counted in the database so that they hold across workers.

A lone server keeps its limits in memory (bot.channels.base.RateLimiter, bot.secrets_guard.SecretThrottle):
nothing is faster, and nobody else could count. With `serve --workers N` each worker would otherwise give a
flooder or a guesser its own budget, N times the intended one; these classes keep one budget per key in the
shared database instead, with the same interface, so the channels and the login do not know the difference.

- `SharedRateLimiter`: a sliding-window count (the current fixed window plus the previous one weighted by how
  much of it still overlaps the last `per` seconds; the estimate Cloudflare and nginx-style limiters use). One
  upsert per message; a refused message counts too, so a flood does not earn budget back by being refused.
- `SharedSecretThrottle`: SecretThrottle's exact rules (growing lockouts, the global safety net), its record for
  a key read and written back in one transaction per check.

Keys are keyed BLAKE2 hashes with the deployment's salt: no session id, user hash or address in clear. Time is
wall-clock (every worker shares it), not monotonic.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import deque

from . import storage
from .secrets_guard import SecretThrottle, _Record
from .storage import Database, Target

PURGE_EVERY = 60.0  # seconds between deletions of windows nobody can read any more
THROTTLE_LOCK = 0x6469_6701  # bot.storage.Database.serialize's key for the lockout's read-modify-write
GLOBAL = "*"  # secret_failures' row holding the last failures from every client (the safety net)


class SharedCounters:
    """One connection per worker for its limits, and the salt for their keys."""

    def __init__(self, where: Target | str, salt: str):
        self.db: Database = storage.connect(where, application="digiguide-limits")
        self._salt = salt.encode()
        self.lock = threading.Lock()

    def key(self, scope: str, key: str) -> str:
        return hashlib.blake2b(f"{scope}\0{key}".encode(), key=self._salt[:64], digest_size=16).hexdigest()

    def close(self) -> None:
        self.db.close()


class SharedRateLimiter:
    """RateLimiter's interface (`allow`, `retry_after`) over rate_windows; see the module docstring."""

    def __init__(self, counters: SharedCounters, scope: str, rate: int, per: float):
        self.counters, self.scope, self.rate, self.per = counters, scope, rate, per
        self._purged = 0.0

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        window = int(now // self.per)
        hashed = self.counters.key(self.scope, key)
        db = self.counters.db
        with self.counters.lock:
            current = db.scalar(
                "insert into rate_windows (scope, key, window_start, n) values (?, ?, ?, 1) "
                "on conflict (scope, key, window_start) do update set n = rate_windows.n + 1 returning n",
                [self.scope, hashed, window],
            )
            previous = db.scalar("select n from rate_windows where scope = ? and key = ? and window_start = ?", [self.scope, hashed, window - 1]) or 0
            if now - self._purged > PURGE_EVERY:
                self._purged = now
                db.execute("delete from rate_windows where scope = ? and window_start < ?", [self.scope, window - 1])
        overlap = 1.0 - (now - window * self.per) / self.per
        return previous * overlap + current <= self.rate

    def retry_after(self) -> int:
        return max(1, math.ceil(self.per / self.rate))


class SharedSecretThrottle(SecretThrottle):
    """SecretThrottle whose records live in secret_failures, shared by every worker."""

    def __init__(self, counters: SharedCounters, **kwargs):
        super().__init__(**kwargs)
        self.counters = counters
        self._checking = False  # inside failed(), under the lock: answer from the record being updated

    def retry_after(self, key: str, now: float | None = None) -> int:
        now = time.time() if now is None else now
        if self._checking:  # SecretThrottle.failed asks at its end: its record is the one in memory
            return super().retry_after(key, now)
        with self.counters.lock:
            record = self._load(self.counters.key("secret", key))
        left = record.locked_until - now if record else 0
        return math.ceil(left) if left > 0 else 0

    def failed(self, key: str, now: float | None = None) -> int:
        now = time.time() if now is None else now
        hashed = self.counters.key("secret", key)
        db = self.counters.db
        with self.counters.lock, db.transaction():
            db.serialize(THROTTLE_LOCK)  # one check at a time, on every engine
            self._records.clear()
            record = self._load(hashed)
            if record is not None:
                self._records[hashed] = record
            recent = self._load(GLOBAL)
            self._recent = deque(recent.failures if recent else (), maxlen=max(self.global_limit, 1))
            self._checking = True
            try:
                locked = super().failed(hashed, now)
            finally:
                self._checking = False
            self._save(hashed, self._records.get(hashed))
            self._save(GLOBAL, _Record(failures=deque(self._recent), last=now))
            self._records.clear()
            if now - getattr(self, "_purged", 0.0) > PURGE_EVERY:
                self._purged = now
                db.execute("delete from secret_failures where key != ? and last < ? and locked_until < ?", [GLOBAL, now - self.forget, now])
        return locked

    def succeeded(self, key: str) -> None:
        with self.counters.lock:
            self.counters.db.execute("delete from secret_failures where key = ?", [self.counters.key("secret", key)])

    def __len__(self) -> int:
        with self.counters.lock:
            return int(self.counters.db.scalar("select count(*) from secret_failures where key != ?", [GLOBAL]))

    def _load(self, key: str) -> _Record | None:
        row = self.counters.db.execute("select failures, strikes, locked_until, last from secret_failures where key = ?", [key]).fetchone()
        if row is None:
            return None
        return _Record(failures=deque(json.loads(row[0])), strikes=row[1], locked_until=row[2], last=row[3])

    def _save(self, key: str, record: _Record | None) -> None:
        if record is None:
            self.counters.db.execute("delete from secret_failures where key = ?", [key])
            return
        self.counters.db.execute(
            "insert into secret_failures (key, failures, strikes, locked_until, last) values (?, ?, ?, ?, ?) "
            "on conflict (key) do update set failures = excluded.failures, strikes = excluded.strikes, "
            "locked_until = excluded.locked_until, last = excluded.last",
            [key, json.dumps(list(record.failures)), record.strikes, record.locked_until, record.last],
        )
