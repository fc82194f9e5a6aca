""""Try a question": what the bot would do with it on some content (live or a draft), as `ask --json`.

Building a matcher costs about half a second, so matchers are kept per content version (the few last
ones: the live content and the drafts being edited). A draft's version is the version its files would
have once published, so trying the same draft twice, or publishing it, reuses its matcher.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from ..askjson import ask_record
from ..engine import Engine, Incoming
from ..knowledge import KnowledgeBase
from ..matcher import Matcher
from ..state import MemoryStateStore

KEEP = 4  # matchers kept: the live content's and a few drafts'
_matchers: OrderedDict[str, Matcher] = OrderedDict()
_guard = threading.Lock()


def matcher_for(kb: KnowledgeBase) -> Matcher:
    """The matcher of `kb` (built once per content version), never the live engine's: a Matcher serves one
    thread at a time (it reuses a scratch array per search), and the bot's runs on the engine thread."""
    with _guard:
        found = _matchers.get(kb.version)
        if found is not None:  # same version, same files: an equal index, whichever load built it
            _matchers.move_to_end(kb.version)
            return found
    built = Matcher(kb)  # outside the lock: half a second, and two drafts may build at once
    with _guard:
        _matchers[kb.version] = built
        while len(_matchers) > KEEP:
            _matchers.popitem(last=False)
    return built


def try_question(kb: KnowledgeBase, text: str, lang: str | None = None, matcher: Matcher | None = None) -> dict:
    """The `python -m bot ask --json` object for `text` on `kb`: a first message from a new citizen
    (`lang` forces the reply language, as --lang does)."""
    engine = Engine(kb, MemoryStateStore(), salt="ask", matcher=matcher or matcher_for(kb))
    outcome = engine.handle(Incoming("cli", "ask-0", text=text, lang=lang))
    return ask_record(outcome)
