"""What the messaging channels share to deliver the courier's items (bot.handover.courier): officials'
replies, answers for citizens who asked to be told, notices to officials' groups.

Why the channels send once and let the courier retry: a delivery that waits out a 429 or a backoff inside
the channel holds the whole delivery round (and the official's "sent / queued / failed", which
`Courier.deliver_now` answers within seconds). The courier keeps the item queued with the platform's
retry_after or its own backoff, so each channel's Sender tries exactly once and says whether a failure is
worth another try.

`Resume` keeps a long reply (several messages) from being sent twice: a retry after a failure half-way
sends only the parts the chat has not got yet.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from .base import Backoff

P = TypeVar("P")

ONCE = Backoff(attempts=1)  # one try: the courier decides about the next


class NotConnected(Exception):
    """The channel cannot send right now (stopping, or not connected to the platform): try again later."""


class Resume:
    """How many parts of each outbox item already reached the chat, for the items that failed half-way.

    In memory and bounded (`size` items, oldest forgotten): after a restart a retry sends the whole item
    again, which duplicates at most the first parts of one long reply."""

    def __init__(self, size: int = 1_000):
        self.size = size
        self._done: OrderedDict[int, int] = OrderedDict()

    async def send(self, key: int, parts: Sequence[P], send: Callable[[P], Awaitable[object]]) -> None:
        """Send `parts` from the first one the chat has not got; raises what `send` raised."""
        start = min(self._done.pop(key, 0), len(parts))
        for index in range(start, len(parts)):
            try:
                await send(parts[index])
            except BaseException:
                if index > 0:
                    self._remember(key, index)
                raise

    def _remember(self, key: int, done: int) -> None:
        self._done[key] = done
        while len(self._done) > self.size:
            self._done.popitem(last=False)

    def __len__(self) -> int:
        return len(self._done)
