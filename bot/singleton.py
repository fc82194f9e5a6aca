"""Work that must run in one worker at a time: long polling (Telegram, Zalo), the dashboard warmer, the
courier's delivery rounds and retries.

Every worker runs a `SingletonWork`; the one that holds the database's singleton lock
(bot.storage.locks: an advisory lock on PostgreSQL, an fcntl lock beside the SQLite file) starts the
registered jobs. The others try again every `interval` seconds, so when the holder dies (its lock dies
with it) another worker has taken over within about that long. A holder whose PostgreSQL session is lost
stops its jobs at once: two pollers at once would make Telegram answer both with a 409 conflict.

Jobs are (start, stop) coroutine pairs, registered at set-up; `holding` and `since` go to /healthz.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .storage.locks import SINGLETON_KEY, ProcessLocks

log = logging.getLogger("digiguide.singleton")

INTERVAL = 1.0  # seconds between tries (and between liveness checks of the holder's lock)


@dataclass(frozen=True)
class Job:
    name: str
    start: Callable[[], Awaitable[None]]
    stop: Callable[[], Awaitable[None]]


class SingletonWork:
    def __init__(self, locks: ProcessLocks | None, worker: str, interval: float = INTERVAL):
        """`locks` None: a lone server (tests, embedding) that holds the work from the start."""
        self.locks = locks
        self.worker = worker
        self.interval = interval
        self.jobs: list[Job] = []
        self.holding = False
        self.since: float | None = None  # wall time when this worker took the work
        self._task: asyncio.Task | None = None

    def add(self, name: str, start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]) -> None:
        self.jobs.append(Job(name, start, stop))

    async def start(self, _app: object = None) -> None:
        """Try at once (a lone worker starts its polling without waiting), then keep watching."""
        await self._step()
        if self.locks is not None:
            self._task = asyncio.create_task(self._watch(), name="singleton-work")

    async def stop(self, _app: object = None) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.holding:
            await self._release()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug or a lost database must not end the watch for good
                log.exception("singleton work: a step failed")

    async def _step(self) -> None:
        if self.locks is None:
            if not self.holding:
                self.holding, self.since = True, time.time()
                for job in self.jobs:
                    await job.start()
            return
        if self.holding:
            if not await asyncio.to_thread(self.locks.alive):
                log.error("worker %s lost the singleton lock (database connection); stopping its jobs", self.worker)
                await self._stop_jobs()
                self.holding, self.since = False, None
            return
        if await asyncio.to_thread(self.locks.try_lock, SINGLETON_KEY):
            self.holding, self.since = True, time.time()
            log.info("worker %s runs the singleton work (%s)", self.worker, ", ".join(j.name for j in self.jobs) or "none")
            for job in self.jobs:
                try:
                    await job.start()
                except Exception:
                    log.exception("singleton job %s failed to start", job.name)

    async def _stop_jobs(self) -> None:
        for job in reversed(self.jobs):
            try:
                await job.stop()
            except Exception:
                log.exception("singleton job %s failed to stop", job.name)

    async def _release(self) -> None:
        await self._stop_jobs()
        if self.locks is not None:
            await asyncio.to_thread(self.locks.unlock, SINGLETON_KEY)
        self.holding, self.since = False, None
