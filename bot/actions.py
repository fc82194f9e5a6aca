"""Button actions, parsed strictly: the grammar of every `action` a Reply's buttons carry (bot.present
builds them) and a channel sends back when the citizen taps one.

    m  ?  h  c                 menu, help, hotlines, common tasks
    h:<verb>                   asking an official (bot.handover.flow): ask, ok, no, edit, add, x (withdraw), notify
    h:w:<ward>                 the ward the question goes to ("-": elsewhere / not sure)
    l:<vi|en>                  switch language
    t:<topic>[:<page>]         a topic's list of answers and guides (page 1..999)
    f:<faq>                    an FAQ answer
    g:<guide>:<step>           a guide page (0 = overview, 1..n steps, n+1 wrap-up; 0..999 here)
    s:<n>                      the n-th suggestion last shown (1..9)
    fb:<entry>:<up|down>       feedback on an answer or guide

Why strict: actions come back from outside (a Telegram callback, a web request) and anyone can forge one.
`str.isdigit()` accepts "²" and "١", which `int()` then refuses (a 500 and a traceback); a number of any
length costs a big-integer parse. Here a number is 1 to 3 ASCII digits, an id is what content ids may be
(bot.knowledge: lowercase letters, digits and '-', at most 32), and the whole action must match
(`fullmatch`: no trailing newline or extra field). Whether the id exists is the engine's business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .knowledge import MAX_ID_LEN

_ID = rf"(?P<target>[a-z0-9-]{{1,{MAX_ID_LEN}}})"
_GRAMMAR = {
    "m": re.compile(r"m"),
    "?": re.compile(r"\?"),
    "h": re.compile(rf"h(?::(?P<target>ask|ok|no|edit|add|x|notify)|:(?P<ward_verb>w):(?P<ward>-|[a-z0-9-]{{1,{MAX_ID_LEN}}}))?"),
    "c": re.compile(r"c"),
    "l": re.compile(r"l:(?P<target>vi|en)"),
    "t": re.compile(rf"t:{_ID}(?::(?P<number>[0-9]{{1,3}}))?"),
    "f": re.compile(rf"f:{_ID}"),
    "g": re.compile(rf"g:{_ID}:(?P<number>[0-9]{{1,3}})"),
    "s": re.compile(r"s:(?P<number>[1-9])"),
    "fb": re.compile(rf"fb:{_ID}:(?P<verdict>up|down)"),
}


@dataclass(frozen=True)
class Action:
    """A well-formed action: its `kind` (the head: "g", "fb", ...), what it is about (`target`: an id or a
    language), and its number (page, step, suggestion) or feedback verdict when it has one."""

    kind: str
    target: str = ""
    number: int | None = None
    verdict: str | None = None
    ward: str | None = None  # h:w:<ward>


def parse_action(text: str) -> Action | None:
    """`text` as an Action, or None when it is not one of the grammar's forms (a forged or garbled button)."""
    kind = text.partition(":")[0]
    pattern = _GRAMMAR.get(kind)
    found = pattern.fullmatch(text) if pattern is not None else None
    if found is None:
        return None
    parts = found.groupdict()
    number = parts.get("number")
    target = parts.get("target") or parts.get("ward_verb") or ""
    return Action(kind, target, int(number) if number is not None else None, parts.get("verdict"), parts.get("ward"))
