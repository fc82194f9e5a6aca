"""Delivers the outbox (bot.handover.store): officials' replies, answers for citizens who asked to be told,
notices to officials' groups, on the channel each belongs to.

One asyncio task per server. It wakes when something is queued (`kick`) and at least every POLL seconds
(so what another process queued, such as `python -m analytics mark`, goes out too). Each channel that can
send registers a Sender when it starts (`register`): Telegram and Zalo send through their platforms' APIs;
the web chat registers none: its items wait for the citizen's page (GET /api/chat/pending). A round claims
the items it sends (TicketStore.claim), so several servers on one PostgreSQL database never send one twice.

A failed send that may succeed later (429 with the platform's retry_after, 5xx, a network error) stays
queued for a later try, with the platform's wait or an exponential backoff; a refusal that will not change
(the citizen blocked the bot, a bad chat id) or MAX_ATTEMPTS failures mark it failed. The official sees
sent / queued / failed per reply. `deliver_now(outbox_id)` is what the dashboard calls after a reply: one
try at once, answering with the status it ended in.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..channels.base import Backoff, retry_after_of
from ..replies import Reply
from .store import OutboxItem, TicketStore

log = logging.getLogger("digiguide.handover")

POLL = 5.0  # seconds between looks at the outbox when nothing kicked
EXPIRE_EVERY = 3600.0  # seconds between erasing addresses that are no longer needed
MAX_ATTEMPTS = 8  # then failed: with the backoff below, about 4 minutes of trying (longer if the platform asks)
BACKOFF = Backoff(attempts=MAX_ATTEMPTS, base=2.0, cap=300.0)

Send = Callable[[OutboxItem, list[Reply]], Awaitable[None]]


@dataclass(frozen=True)
class Sender:
    """How one channel sends: `send(item, replies)` raises on failure; `retryable(exc)` says whether to try
    again later (the channel knows its platform's errors)."""

    send: Send
    retryable: Callable[[BaseException], bool]
    describe: Callable[[BaseException], str] = lambda exc: type(exc).__name__


Render = Callable[[OutboxItem], list[Reply]]
Remember = Callable[[str, tuple[str, ...]], Awaitable[None]]


class Courier:
    def __init__(self, store: TicketStore, render: Render, clock=time.time, remember: Remember | None = None):
        """`remember(user, actions)`: what a delivered reply's buttons were, so that a number the citizen
        types next picks among them (ChatService.remember_options)."""
        self.store = store
        self.render = render  # the replies for an item, on the content of the moment (bot.handover.flow)
        self.clock = clock
        self.remember = remember
        self.senders: dict[str, Sender] = {}
        self._kick = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._busy = asyncio.Lock()  # one delivery round at a time: an item is never sent twice at once

    def register(self, channel: str, sender: Sender) -> None:
        self.senders[channel] = sender
        self.kick()

    def kick(self) -> None:
        self._kick.set()

    async def start(self, _app: Any = None) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="handover-courier")

    async def stop(self, _app: Any = None) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        expired_at = 0.0
        while True:
            if time.monotonic() - expired_at > EXPIRE_EVERY:  # erase addresses no longer needed (30 days, closed)
                expired_at = time.monotonic()
                await asyncio.to_thread(self.store.expire)
            try:
                await asyncio.wait_for(self._kick.wait(), POLL)
            except asyncio.TimeoutError:
                pass
            self._kick.clear()
            try:
                await self.round()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not stop deliveries for good
                log.exception("handover: a delivery round failed")

    async def round(self) -> int:
        """Send what is due on the channels that can send; returns how many were tried."""
        async with self._busy:
            # claimed: another server's courier on the same database does not send them too
            due = await asyncio.to_thread(self.store.claim, list(self.senders))
            for item in due:
                await self._send(item)
            return len(due)

    async def deliver_now(self, outbox_id: int, timeout: float = 5.0) -> str:
        """Try the queued item at once (if its channel can send) and say where it stands: "sent",
        "queued" (a later try, or the web chat's page will fetch it) or "failed"."""
        try:
            await asyncio.wait_for(self.round(), timeout)
        except asyncio.TimeoutError:
            pass
        return await asyncio.to_thread(self.store.delivery, outbox_id) or "failed"

    async def resolved(self, keys: list[str], entry_id: str) -> int:
        """An inbox cluster was resolved with `entry_id`: queue it for the citizens who waited on its keys
        and send it; returns how many were queued."""
        counts = await asyncio.to_thread(self.store.notify_resolved, keys, entry_id)
        if counts.queued:
            log.info("handover: %d citizen(s) waiting on %d question key(s) get %s", counts.queued, len(keys), entry_id)
            self.kick()
        return counts.queued

    async def _send(self, item: OutboxItem) -> None:
        sender = self.senders[item.channel]
        if item.address is None:
            await asyncio.to_thread(self.store.failed, item.id, "address could not be opened")
            return
        replies = self.render(item)
        try:
            await sender.send(item, replies)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            what = sender.describe(exc)
            if sender.retryable(exc) and item.attempts + 1 < MAX_ATTEMPTS:
                wait = BACKOFF.delay(item.attempts, retry_after_of(exc))
                log.warning("handover: %s message %d not delivered (%s); next try in %.0fs", item.channel, item.id, what, wait)
                await asyncio.to_thread(self.store.retry_at, item.id, self.clock() + wait, what)
            else:
                log.warning("handover: %s message %d failed (%s)", item.channel, item.id, what)
                await asyncio.to_thread(self.store.failed, item.id, what)
            return
        await asyncio.to_thread(self.store.delivered, item.id)
        await self.shown(item.user, replies)

    async def shown(self, user: str | None, replies: list[Reply]) -> None:
        """The citizen now sees `replies`: their buttons are the options a typed number picks."""
        actions = tuple(b.action for r in replies for b in r.flat_buttons)
        if self.remember is not None and user and actions:
            await self.remember(user, actions)
