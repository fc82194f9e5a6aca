"""Per-chat ordering of Telegram updates, with a triage on arrival (python-telegram-bot's update processor).

Why a module of its own: it is the one piece that decides when an update runs, and it holds the reason a
flooding chat no longer delays the others (issue 10, section 4; see PerChatOrder). What to drop is the
channel's decision (`triage`); this only applies it in arrival order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from .base import KeyedLock

MAX_CONCURRENT_UPDATES = 64  # updates being handled at once (engine calls, sends); one chat has one at a time
MAX_ACCEPTED_UPDATES = 4096  # accepted and not finished, those waiting for their chat included: a memory bound


Verdict = Literal["ok", "warn", "quiet"]


@dataclass(frozen=True)
class Arrival:
    """What the channel decided about an update when it arrived, before it waited for its chat.

    `run` False: drop it now (a duplicate, or a message from a citizen already told they send too fast).
    `verdict`: the flood budget charged on arrival (`tap` says which one), which `_admit` then uses instead
    of charging again; None when the update was not charged."""

    run: bool = True
    tap: bool = False
    verdict: Verdict | None = None


RUN, DROP = Arrival(), Arrival(run=False)


def _discard(coroutine: Awaitable[Any]) -> None:
    """Close the handler coroutine PTB made for a dropped update (never awaited, it would warn)."""
    close = getattr(coroutine, "close", None)
    if close is not None:
        close()


class PerChatOrder(BaseUpdateProcessor):
    """Different chats are served concurrently; one chat's updates run one at a time, in arrival order; one
    chat's backlog never makes the others wait.

    Why: PTB's default handles every update in sequence, so one slow send (a 429 pause, a retry) would
    hold up every citizen; full concurrency would let a citizen's second answer overtake the first.

    Why `triage` and a slot taken late: PTB takes one of its slots (max_concurrent_updates) before it calls
    `do_process_update`. When those slots were the limit on work, a flooding chat's updates waiting for their
    chat held all 64 of them, and every other chat's update queued behind the flood, 2 to 13 s (issue 10).
    Now `triage` sees each update on arrival, in arrival order and before any wait, so a duplicate or a
    flooding citizen's excess is dropped there, and the limit on updates handled at once (`running`) is taken
    only once the update's chat is free: waiting for one's own chat costs no slot. PTB's own bound becomes a
    memory bound on updates accepted and not finished (`accepted`).
    """

    def __init__(self, triage: Callable[[object], Arrival] = lambda _update: RUN, running: int = MAX_CONCURRENT_UPDATES, accepted: int = MAX_ACCEPTED_UPDATES):
        super().__init__(accepted)
        self.triage = triage
        self._chats = KeyedLock()
        self._running = asyncio.Semaphore(running)
        self._arrivals: dict[int, Arrival] = {}

    def hold(self, chat_id: int) -> AbstractAsyncContextManager[None]:
        """Wait for the chat's turn and keep it, for a message sent from outside an update (an official's
        reply): it goes out after what the chat is being answered now, never between its parts. No slot of
        `running` is taken: this is a send, not an update's handling."""
        return self._chats.hold(chat_id)

    def arrival(self, update: Update) -> Arrival | None:
        """What `triage` decided about `update`, while it is being handled."""
        return self._arrivals.get(update.update_id)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        arrival = self.triage(update)  # no await before the chat's lock: updates reach it in arrival order
        if not arrival.run:
            _discard(coroutine)
            return
        if not isinstance(update, Update):
            async with self._running:
                await coroutine
            return
        self._arrivals[update.update_id] = arrival
        try:
            await self._in_order(update, coroutine)
        finally:
            self._arrivals.pop(update.update_id, None)

    async def _in_order(self, update: Update, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat
        if chat is None:
            async with self._running:
                await coroutine
            return
        async with self._chats.hold(chat.id), self._running:
            await coroutine

    async def initialize(self) -> None:
        """Nothing to allocate."""

    async def shutdown(self) -> None:
        """Nothing to free."""
