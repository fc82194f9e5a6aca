"""The engine as an async service shared by every channel of the server.

Why a service: channels are async (aiohttp, python-telegram-bot) but the engine is plain, fast Python
that writes state to SQLite. Running it on one dedicated worker thread keeps disk I/O off the event loop
and serialises state changes (two messages from one citizen never race). Content reload swaps the engine
atomically; in-flight work is counted so shutdown can wait for it.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .engine import Engine, Incoming, Outcome
from .knowledge import ContentError, KnowledgeBase, load_knowledge

log = logging.getLogger("digiguide.service")


class ChatService:
    def __init__(self, engine: Engine, events=None):
        """`events`: an analytics.store.EventStore (or None to record nothing, e.g. in `ask`)."""
        self._engine = engine
        self.events = events
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine")
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.closing = False

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def kb(self) -> KnowledgeBase:
        return self._engine.kb

    async def handle(self, incoming: Incoming) -> Outcome:
        """Run one interaction through the engine, off the event loop."""
        self._in_flight += 1
        self._idle.clear()
        try:
            loop = asyncio.get_running_loop()
            outcome = await loop.run_in_executor(self._executor, self._engine.handle, incoming)
            if self.events is not None:
                if outcome.event.kind == "forget":
                    await loop.run_in_executor(None, self.events.forget, outcome.event.user)
                else:
                    self.events.record(outcome.event)
            return outcome
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    def reload(self, content_dir: Path | str) -> tuple[bool, str]:
        """Load new content; on success swap engines, on failure keep the old one. Returns (ok, message)."""
        try:
            kb = load_knowledge(content_dir)
        except ContentError as exc:
            message = f"content reload rejected, keeping version {self.kb.version}:\n" + "\n".join(f"  {p}" for p in exc.problems)
            log.error(message)
            return False, message
        old = self.kb.version
        self._engine = self._engine.with_knowledge(kb)
        message = f"content reloaded: version {old} -> {kb.version} ({len(kb.faqs)} FAQ entries, {len(kb.guides)} guides)"
        log.info(message)
        return True, message

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until no interaction is being handled (graceful shutdown)."""
        self.closing = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except asyncio.TimeoutError:
            log.warning("shutdown: %d interaction(s) still running after %.0fs", self._in_flight, timeout)
        self._executor.shutdown(wait=True)
