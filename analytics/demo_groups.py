"""Generated citizens brought in by working groups' posters and links: events for the groups page's results.

Shared by `python -m analytics demo` (analytics/demo.py) and the tests (tests/outreach_data.py, which adds
the figures analytics/outreach_report.py must show); in the package because the installed demo needs it.

Citizens (each keeps one channel and language):
- "poster" (about half): arrive through a group's link or poster code, `g-<guide>__<group>` or
  `menu__<group>`; a few (5 %) through `old_group`, a group the content no longer has, when one is given;
- "plain": a link without a group (`plain`, by default `g-eid-activate`);
- "none": never a link;
- "late": chat without a link first, then scan a group's poster later: on a later day, or later on the
  same day. They are not new citizens of the group (they were using the bot already), but their questions
  count for it from the scan on, and their guides from the next day whose first event carried the source.

After arriving they ask questions (faq, guide, suggest, fallback), walk guides page by page with drop-off
(pages 0 overview, 1..n steps, n+1 wrap-up), open menus and topics, on one or more days. Events are
emitted as bot.engine would: the source is set from the first touch on, on every later event. What a
question says comes from `phrase` (the demo: real citizens' wordings); without it, one-letter placeholders.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Callable, Mapping
from typing import Any

from bot.engine import Event

from .demo_citizens import CHANNELS, pick, vn_ts

ARRIVALS = (("poster", 0.5), ("plain", 0.1), ("none", 0.25), ("late", 0.15))
CONTINUE = 0.8  # chance to go on to the next guide page

# (kind, entry id or None, language, rng) -> the event's question and question_key
Phrase = Callable[[str, "str | None", str, random.Random], dict[str, Any]]


def placeholder(kind: str, entry: str | None, lang: str, rng: random.Random) -> dict[str, Any]:
    """One letter per kind, a key per entry: enough for the results, which never read the text."""
    letter = {"faq": "q", "guide": "g", "suggest": "s", "fallback": "f"}[kind]
    return {"question": letter, "question_key": f"{letter} {entry}" if entry else letter}


class _Citizen:
    def __init__(self, rng: random.Random, user: str, channel: str, lang: str, guides: Mapping[str, tuple[str, int]], faqs: Mapping[str, str], phrase: Phrase):
        self.rng, self.user, self.channel, self.lang = rng, user, channel, lang
        self.guides, self.faqs, self.phrase = guides, faqs, phrase
        self.source: str | None = None
        self.ward: str | None = None
        self.ts = 0.0
        self.events: list[Event] = []

    def at(self, day: dt.date, second: int) -> None:
        self.ts = vn_ts(day, second)

    def emit(self, kind: str, **kw: Any) -> None:
        self.ts += self.rng.randint(5, 60)
        self.events.append(Event(ts=self.ts, channel=self.channel, user=self.user, lang=self.lang, kind=kind, source=self.source, ward=self.ward, **kw))

    def arrive(self, payload: str, ward: str | None) -> None:
        """The first touch: the engine sets the source (and the group's ward) on this very event."""
        self.source, self.ward = payload, self.ward or ward
        target = payload.partition("__")[0]
        if target.startswith("g-"):
            guide = target[2:]
            self.emit("start", topic=self.guides[guide][0], entry_id=guide, guide_step=0)
            self.walk(guide, 1)
        else:
            self.emit("start")

    def walk(self, guide: str, page: int) -> None:
        topic, steps = self.guides[guide]
        while page <= steps + 1 and self.rng.random() < CONTINUE:
            self.emit("guide_step", topic=topic, entry_id=guide, guide_step=page)
            page += 1

    def ask(self) -> None:
        rng, say = self.rng, self.phrase
        r = rng.random()
        if r < 0.45:
            entry = rng.choice(sorted(self.faqs))
            self.emit("faq", topic=self.faqs[entry], entry_id=entry, score=0.9, **say("faq", entry, self.lang, rng))
        elif r < 0.6:
            guide = rng.choice(sorted(self.guides))
            self.emit("guide", topic=self.guides[guide][0], entry_id=guide, guide_step=0, score=0.9, **say("guide", guide, self.lang, rng))
            self.walk(guide, 1)
        elif r < 0.75:
            entry = rng.choice(sorted(self.faqs))
            self.emit("suggest", topic=self.faqs[entry], entry_id=entry, score=0.5, **say("suggest", entry, self.lang, rng))
        elif r < 0.9:
            self.emit("fallback", score=0.1, **say("fallback", None, self.lang, rng))
        else:
            self.emit("menu")
            self.emit("topic", topic=rng.choice(sorted(set(self.faqs.values()))))

    def session(self, questions: int) -> None:
        for _ in range(questions):
            self.ask()


def generate_events(
    n_users: int,
    days: int,
    seed: int,
    start: dt.date,
    *,
    group_wards: Mapping[str, str | None],
    guides: Mapping[str, tuple[str, int]],
    faqs: Mapping[str, str],
    old_group: str | None = None,
    phrase: Phrase = placeholder,
    plain: str = "g-eid-activate",
    en_share: float = 0.1,
) -> list[Event]:
    """Events of `n_users` citizens over `days` Vietnam days from `start`, sorted by time. `group_wards`:
    working group id -> its ward; `guides`: the guides on posters, id -> (topic, steps), `plain` a link to
    one of them without a group; `faqs`: the answers they ask for, id -> topic."""
    rng = random.Random(seed)
    groups = sorted(group_wards)
    events: list[Event] = []
    for u in range(n_users):
        user = hashlib.sha256(f"outreach:{seed}:{u}".encode()).hexdigest()[:20]
        c = _Citizen(rng, user, pick(rng, CHANNELS), "en" if rng.random() < en_share else "vi", guides, faqs, phrase)
        arrival = pick(rng, ARRIVALS)
        group = old_group if rng.random() < 0.05 and old_group else rng.choice(groups)
        target = f"g-{rng.choice(sorted(guides))}" if rng.random() < 0.7 else "menu"
        payload = f"{target}__{group}"
        ward = group_wards.get(group)
        first = rng.randrange(days)
        later = sorted({min(days - 1, first + 1 + rng.randrange(days)) for _ in range(rng.choice((0, 0, 1, 2, 3)))})
        second = rng.randrange(3600, 60000)
        c.at(start + dt.timedelta(days=first), second)
        if arrival == "poster":
            c.arrive(payload, ward)
        elif arrival == "plain":
            c.arrive(plain, None)
        c.session(rng.choice((1, 2, 3)))
        if arrival == "late":
            if rng.random() < 0.5:  # later the same day: that day's first event had no source
                c.at(start + dt.timedelta(days=first), second + 7200)
            else:
                touch_day = min(days - 1, first + 1 + rng.randrange(7))
                c.at(start + dt.timedelta(days=touch_day), rng.randrange(3600, 60000))
                later = [d for d in later if d > touch_day]
            c.arrive(payload, ward)
            c.session(rng.choice((1, 2)))
        for offset in later:
            c.at(start + dt.timedelta(days=offset), rng.randrange(3600, 70000))
            if rng.random() < 0.3:
                guide = rng.choice(sorted(guides))
                c.emit("guide_step", topic=guides[guide][0], entry_id=guide, guide_step=rng.randrange(0, guides[guide][1] + 2))
            c.session(rng.choice((1, 2)))
        events.extend(c.events)
    events.sort(key=lambda e: e.ts)
    return events
