"""Locks that several worker processes respect, held through the database they share.

Two needs (issue 13):
- Work that must run once (long polling, the dashboard warmer, ticket deliveries) runs in the worker that
  holds the *singleton* lock, and moves to another worker within seconds when that one dies.
- One citizen's messages are handled one at a time, whichever worker each lands on: a *chat* lock around
  the engine's read-modify-write of their conversation state.

The property both need is that a lock dies with its holder, without timeouts to tune: on PostgreSQL a
session advisory lock (the server drops it when the connection closes, which the kernel does when the
process dies, kill -9 included); on SQLite an fcntl lock on a file next to the database (the kernel drops
it when the process dies). Each worker holds one dedicated connection (or file) for its locks.

Both kinds are taken with a *try* and polled (asynchronously) rather than blocked on, so a worker's one
lock connection never waits behind another chat's lock.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import os
import threading
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from .database import Error, Target

log = logging.getLogger("digiguide.storage")

SINGLETON_KEY = 0x6469_6700  # advisory lock id of the singleton work
CHAT_SPACE = 1 << 62  # chat locks: 62-bit keys, far from the fixed ids above
POLL_FIRST, POLL_MAX = 0.002, 0.05  # seconds between tries for a busy chat lock


def chat_key(chat: str) -> int:
    """A stable 62-bit number for a chat (its channel and hashed id): the advisory lock id or file offset."""
    return int.from_bytes(hashlib.blake2b(chat.encode(), digest_size=8).digest(), "big") % CHAT_SPACE + 1


class ProcessLocks:
    """This process's lock holder on one database: `try_lock(key)` / `unlock(key)` for integer keys.

    Keys are re-entrant within the process (counted), as both advisory locks and POSIX record locks are
    per session / per process: two tasks of one worker are ordered by the caller's own asyncio locks."""

    def __init__(self, target: Target | str):
        self.target = Target.parse(target) if not isinstance(target, Target) else target
        self._guard = threading.Lock()
        self._held: Counter[int] = Counter()
        self._conn: Any = None
        self._fd: int | None = None

    # -- the connection -------------------------------------------------------------------------------
    def _open(self) -> None:
        if self.target.engine == "postgresql":
            if self._conn is None or self._conn.closed:
                import psycopg

                self._conn = psycopg.connect(self.target.url, autocommit=True, application_name="digiguide-locks")
                self._held.clear()  # a new session holds nothing
        elif self._fd is None:
            assert self.target.path is not None
            self.target.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(f"{self.target.path}.locks", os.O_RDWR | os.O_CREAT, 0o600)

    def try_lock(self, key: int) -> bool:
        with self._guard:
            if self._held[key]:
                self._held[key] += 1
                return True
            self._open()
            if self.target.engine == "postgresql":
                got = bool(self._conn.execute("select pg_try_advisory_lock(%s)", [key]).fetchone()[0])
            else:
                try:
                    fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, key)
                    got = True
                except OSError:
                    got = False
            if got:
                self._held[key] = 1
            return got

    def unlock(self, key: int) -> None:
        with self._guard:
            if self._held[key] > 1:
                self._held[key] -= 1
                return
            if not self._held.pop(key, 0):
                return
            try:
                if self.target.engine == "postgresql":
                    self._conn.execute("select pg_advisory_unlock(%s)", [key])
                else:
                    fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, key)
            except Error as exc:  # the connection is gone, and with it the lock
                log.warning("lock connection lost while unlocking (%s)", type(exc).__name__)

    def alive(self) -> bool:
        """Whether the locks this process holds are still held (the PostgreSQL session is up)."""
        with self._guard:
            if self.target.engine != "postgresql":
                return True
            if self._conn is None or self._conn.closed:
                return False
            try:
                self._conn.execute("select 1")
                return True
            except Error:
                return False

    def close(self) -> None:
        with self._guard:
            self._held.clear()
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class ChatLocks:
    """One chat at a time across workers: `async with locks.hold(chat):` around the engine's turn."""

    def __init__(self, locks: ProcessLocks):
        self.locks = locks
        self._local: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def hold(self, chat: str) -> AsyncIterator[None]:
        local = self._local.setdefault(chat, asyncio.Lock())
        async with local:  # this worker's own messages of the chat, in arrival order
            key = chat_key(chat)
            delay = POLL_FIRST
            while not await asyncio.to_thread(self.locks.try_lock, key):
                await asyncio.sleep(delay)  # another worker is answering this chat: its turn first
                delay = min(delay * 2, POLL_MAX)
            try:
                yield
            finally:
                await asyncio.to_thread(self.locks.unlock, key)
        if not local.locked() and self._local.get(chat) is local and not getattr(local, "_waiters", None):
            self._local.pop(chat, None)
