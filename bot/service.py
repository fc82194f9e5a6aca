"""The engine as an async service shared by every channel of the server.

Why a service: channels are async (aiohttp, python-telegram-bot) but the engine is plain, fast Python
that writes state to SQLite. Running it on one dedicated worker thread keeps disk I/O off the event loop
and serialises state changes (two messages from one citizen never race). In-flight work is counted so
shutdown can wait for it.

Acknowledged means stored: `handle` returns (and so the channel replies) only once the state change is
written (the state store writes through) and the interaction's analytics event is committed
(EventStore.stored, a group commit). If the disk refuses writes for longer than `commit_timeout`, the
citizen still gets the answer and the event stays queued for the writer's retries: an answer is worth
more than its statistics, and the log says so.

Several workers (`serve --workers N`) share one database: `chat_locks` (bot.storage.locks.ChatLocks)
then holds the citizen's chat across workers for the engine's turn, so two messages of one chat that land
on two workers are still handled one after the other, each on the state the other left.

Content reload builds the new content and its index on a thread of its own, so every channel keeps
answering on the old content meanwhile, and swaps the engine in one assignment on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .engine import Engine, Incoming, Outcome
from .knowledge import ContentError, KnowledgeBase, load_knowledge
from .storage.locks import ChatLocks

log = logging.getLogger("digiguide.service")


COMMIT_TIMEOUT = 5.0  # seconds an answer waits for its event's commit before it is sent regardless
GROUP_WINDOW = 0.005  # seconds the writer may wait for the events of answers still being worked out


class ChatService:
    def __init__(self, engine: Engine, events=None, durable: bool = True, commit_timeout: float = COMMIT_TIMEOUT, chat_locks: ChatLocks | None = None):
        """`events`: an analytics.store.EventStore (or None to record nothing, e.g. in `ask`).
        `durable`: wait for each event's commit before answering (off only to measure what it costs).
        `chat_locks`: one chat at a time across worker processes (None: this process is the only one)."""
        self._engine = engine
        self.chat_locks = chat_locks
        self.events = events
        self.durable = durable
        self.commit_timeout = commit_timeout
        self.unconfirmed = 0  # answers sent before their event was committed (the disk was refusing writes)
        self._thinking = 0  # interactions queued for or inside the engine: their events are on the way
        self._reload_lock = asyncio.Lock()
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
            self._thinking += 1
            try:
                if self.chat_locks is None:
                    outcome = await loop.run_in_executor(self._executor, self._engine.handle, incoming)
                else:
                    async with self.chat_locks.hold(f"{incoming.channel}:{incoming.user_id}"):
                        outcome = await loop.run_in_executor(self._executor, self._engine.handle, incoming)
            finally:
                self._thinking -= 1
            if self.events is not None:
                if outcome.event.kind == "forget":
                    await loop.run_in_executor(None, self.events.forget, outcome.event.user)
                else:
                    await self._store(outcome.event)
            return outcome
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def remember_options(self, user: str, actions: tuple[str, ...]) -> None:
        """Engine.remember_options on the engine's thread, in turn with the citizen's messages."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._engine.remember_options, user, actions)

    async def _store(self, event) -> None:
        if not self.durable:
            self.events.record(event)
            return
        # Others are being answered: their events follow within a millisecond or two, and one commit for
        # all of them keeps throughput (a group commit). Alone, this one is committed at once.
        linger = GROUP_WINDOW if self._thinking else 0.0
        committed = asyncio.wrap_future(self.events.stored(event, linger))
        try:
            await asyncio.wait_for(committed, self.commit_timeout)
        except asyncio.TimeoutError:
            self.unconfirmed += 1
            log.warning("analytics commit took over %.0fs; answered anyway, the event stays queued (%d so far)", self.commit_timeout, self.unconfirmed)

    async def reload(self, content_dir: Path | str) -> tuple[bool, str]:
        """Load new content off the event loop; on success swap engines, on failure keep the old one.
        Returns (ok, message). Reloads run one at a time (a second SIGHUP waits for the first)."""
        async with self._reload_lock:
            loop = asyncio.get_running_loop()
            old = self.kb.version
            try:
                engine = await loop.run_in_executor(None, self._build, content_dir)
            except ContentError as exc:
                message = f"content reload rejected, keeping version {old}:\n" + "\n".join(f"  {p}" for p in exc.problems)
                log.error(message)
                return False, message
            self._engine = engine  # one assignment on the loop: a message sees the old engine or the new
            kb = engine.kb
            message = f"content reloaded: version {old} -> {kb.version} ({len(kb.faqs)} FAQ entries, {len(kb.guides)} guides)"
            log.info(message)
            return True, message

    def _build(self, content_dir: Path | str) -> Engine:
        """The new content and its index (the slow part, about 200 ms): on a worker thread."""
        return self._engine.with_knowledge(load_knowledge(content_dir))

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until no interaction is being handled (graceful shutdown)."""
        self.closing = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except asyncio.TimeoutError:
            log.warning("shutdown: %d interaction(s) still running after %.0fs", self._in_flight, timeout)
        self._executor.shutdown(wait=True)
