""""Try a question": what the bot would do with it on some content (live or a draft), as `ask --json`.

Building a matcher costs about half a second, so matchers are kept per content version (the few last
ones: the live content and the drafts being edited). A draft's version is the version its files would
have once published, so trying the same draft twice, or publishing it, reuses its matcher.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..askjson import ask_record
from ..engine import Engine, Incoming
from ..knowledge import KnowledgeBase
from ..matcher import Matcher
from ..state import MemoryStateStore

KEEP = 4  # matchers kept: the live content's and a few drafts'


class Matchers:
    """Matchers kept per content version (the `keep` last used), never the live engine's: a Matcher serves
    one thread at a time (it reuses a scratch array per search), and the bot's runs on the engine thread.

    `get(kb)` builds or reuses; `lend()` also makes its holder the only user of these matchers until it
    leaves the block, which a server with several threads needs (the dashboard's content desk). The same
    version means the same files, so any load's matcher of it is an equal index."""

    def __init__(self, keep: int = KEEP):
        self.keep = keep
        self._kept: OrderedDict[str, Matcher] = OrderedDict()
        self._guard = threading.Lock()  # the dictionary
        self._use = threading.Lock()  # the matchers themselves (lend)

    def get(self, kb: KnowledgeBase) -> Matcher:
        with self._guard:
            found = self._kept.get(kb.version)
            if found is not None:
                self._kept.move_to_end(kb.version)
                return found
        built = Matcher(kb)  # outside the lock: half a second, and two versions may build at once
        with self._guard:
            self._kept[kb.version] = built
            while len(self._kept) > self.keep:
                self._kept.popitem(last=False)
        return built

    @contextmanager
    def lend(self) -> Iterator[Callable[[KnowledgeBase], Matcher]]:
        """`with matchers.lend() as matcher_of:` one holder at a time (blocking: call it in a thread)."""
        with self._use:
            yield self.get


_shared = Matchers()


def matcher_for(kb: KnowledgeBase) -> Matcher:
    """The matcher of `kb` from one process-wide set, for single-threaded callers (the command line, the
    library's defaults); a server keeps a Matchers of its own and lends it."""
    return _shared.get(kb)


def try_question(kb: KnowledgeBase, text: str, lang: str | None = None, matcher: Matcher | None = None) -> dict:
    """The `python -m bot ask --json` object for `text` on `kb`: a first message from a new citizen
    (`lang` forces the reply language, as --lang does)."""
    engine = Engine(kb, MemoryStateStore(), salt="ask", matcher=matcher or matcher_for(kb))
    outcome = engine.handle(Incoming("cli", "ask-0", text=text, lang=lang))
    return ask_record(outcome)
