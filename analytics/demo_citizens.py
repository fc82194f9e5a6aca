"""Generated citizens who ask, browse and walk guides: realistic analytics events from a catalogue of questions.

Shared by `python -m analytics demo` (analytics/demo.py, whose catalogue the real engine reads), the tests
(tests/analytics_data.py, whose fixed catalogue comes with the figures a report must show) and the
benchmarks. It lives in the package, not in tests/, because the installed demo command needs it.

The events look like what bot.engine emits: salted-hash users that keep one channel, language, ward and
campaign source; sessions at any hour of the Vietnam day (so UTC and local days differ); typed questions
drawn from the catalogue's question groups with near-identical spellings (typos that should merge into one
cluster), a small long tail of one-off questions, suggestions that are sometimes tapped, guides walked
step by step with drop-off, thumbs up/down, menus, topic pages, small talk and stray commands.

Everything is drawn from one seeded random.Random, in a fixed order: the same catalogue and seed give the
same events, which the tests' expected figures rely on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.engine import Event

VIETNAM = dt.timezone(dt.timedelta(hours=7))
CHANNELS = (("zalo", 0.5), ("telegram", 0.35), ("web", 0.15))
WARDS = ((None, 0.3), ("phuc-yen", 0.25), ("xuan-hoa", 0.2), ("vinh-yen", 0.15), ("tam-son", 0.1))  # content/locality.yaml
SOURCES = ((None, 0.7), ("g-eid-activate", 0.1), ("t-fees", 0.1), ("f-eid-no-otp", 0.1))  # links without a working group
TAIL_SHARE = 0.03  # typed questions that nobody else asks: singleton unanswered clusters
GUIDE_CONTINUE = 0.8  # chance to go on to a guide's next page, unless the catalogue says otherwise
UP_SHARE = 0.8  # share of thumbs-up, unless the catalogue says otherwise for an entry


@dataclass(frozen=True)
class Group:
    """Questions that mean the same thing; their keys must merge into one cluster and nothing else."""

    id: str
    topic: str | None
    outcome: str  # faq | guide | suggest | fallback | smalltalk
    entry: str | None
    text: str
    lang: str = "vi"
    weight: float = 1.0
    # (text, weight) of each spelling; empty: `text` most of the time, and two typos of it (see variants)
    spellings: tuple[tuple[str, float], ...] = ()


def typos(text: str, stopwords: frozenset[str]) -> list[str]:
    """Two misspellings at the end of the longest content word: a dropped letter, two swapped letters."""
    words = text.split()
    content = sorted((w for w in words if w not in stopwords), key=lambda w: (-len(w), w))
    longest = content[0]
    i = words.index(longest)
    dropped = words[:i] + [longest[:-2] + longest[-1]] + words[i + 1 :]
    swapped = words[:i] + [longest[:-2] + longest[-1] + longest[-2]] + words[i + 1 :]
    return [" ".join(dropped), " ".join(swapped)]


@dataclass
class Catalogue:
    """What generated citizens ask and where they go. `record` turns a typed text into the event's
    `question` and `question_key`, as bot.engine stores them (the tests use a simplified stand-in, the demo
    the real engine); `tail` draws a one-off question that nobody else asks."""

    groups: Sequence[Group]
    faqs: Mapping[str, str]  # FAQ id -> topic: the answers a citizen browsing a topic taps
    guides: Mapping[str, tuple[str, int]]  # guide id -> (topic, steps); pages 0 overview, 1..n steps, n+1 wrap-up
    record: Callable[[str], dict[str, Any]]
    tail: Callable[[random.Random], Group]
    stopwords: frozenset[str] = frozenset()  # words typos leave alone
    guide_continue: Mapping[str, float] = field(default_factory=dict)
    up_share: Mapping[str, float] = field(default_factory=dict)
    misread_share: float = 0.1  # answered questions shown as "did you mean" instead (a low score)
    channels: Sequence[tuple[str, float]] = CHANNELS
    wards: Sequence[tuple[str | None, float]] = WARDS
    sources: Sequence[tuple[str | None, float]] = SOURCES

    def __post_init__(self) -> None:
        self.variants = {g.id: self._variants(g) for g in self.groups}
        self.topic_entries = {t: [e for e, et in self.faqs.items() if et == t] for t in sorted(set(self.faqs.values()))}
        # the topic of anything a suggestion or a link can name: FAQ entries and guides
        self.entry_topic = {**{g: t for g, (t, _) in self.guides.items()}, **self.faqs}

    def _variants(self, group: Group) -> list[tuple[str, float]]:
        """(text, weight): the usual spelling most of the time, two typos sometimes."""
        if group.spellings:
            return list(group.spellings)
        if group.outcome == "smalltalk":
            return [(group.text, 1.0)]
        a, b = typos(group.text, self.stopwords)
        return [(group.text, 0.7), (a, 0.2), (b, 0.1)]


def pick(rng: random.Random, options):
    values, weights = zip(*options)
    return rng.choices(values, weights)[0]


def vn_ts(day: dt.date, second: int) -> float:
    return dt.datetime.combine(day, dt.time(), VIETNAM).timestamp() + second


class _Session:
    def __init__(self, cat: Catalogue, rng, user, channel, lang, ward, source, day, second, tail_share=TAIL_SHARE):
        self.cat, self.tail_share = cat, tail_share
        self.rng, self.user, self.channel, self.lang, self.ward, self.source = rng, user, channel, lang, ward, source
        self.ts = vn_ts(day, second)
        self.events: list[Event] = []

    def emit(self, kind, **kw) -> None:
        self.ts += self.rng.randint(3, 40)
        self.events.append(Event(ts=self.ts, channel=self.channel, user=self.user, lang=self.lang, kind=kind, source=self.source, ward=self.ward, **kw))

    def feedback(self, entry: str, topic: str) -> None:
        verdict = "up" if self.rng.random() < self.cat.up_share.get(entry, UP_SHARE) else "down"
        self.emit("feedback", topic=topic, entry_id=entry, feedback=verdict)

    def walk_guide(self, guide: str, start: int = 1) -> None:
        topic, n = self.cat.guides[guide]
        step = start
        while step <= n + 1:
            self.emit("guide_step", topic=topic, entry_id=guide, guide_step=step)
            if step == n + 1:
                if self.rng.random() < 0.5:
                    self.feedback(guide, topic)
                return
            if step > 1 and self.rng.random() < 0.05:  # a look back ("prev"), then on again
                self.emit("guide_step", topic=topic, entry_id=guide, guide_step=step - 1)
            if self.rng.random() > self.cat.guide_continue.get(guide, GUIDE_CONTINUE):
                return
            step += 1

    def typed(self) -> None:
        rng, cat = self.rng, self.cat
        if rng.random() < self.tail_share:
            group = cat.tail(rng)
            text = group.text
        else:
            groups = [g for g in cat.groups if g.lang == self.lang]
            group = rng.choices(groups, [g.weight for g in groups])[0]
            text = pick(rng, cat.variants[group.id])
        q = cat.record(text)
        outcome = group.outcome
        if outcome == "faq" and rng.random() < cat.misread_share:
            outcome = "suggest"  # a low score on a known question: shown as "did you mean"
        if outcome == "smalltalk":
            self.emit("smalltalk", score=1.0, **q)
        elif outcome == "fallback":
            self.emit("fallback", score=round(rng.uniform(0, 0.3), 3), **q)
        elif outcome == "suggest":
            self.emit("suggest", topic=group.topic, entry_id=group.entry, score=round(rng.uniform(0.35, 0.6), 3), **q)
            if rng.random() < 0.5:
                entry = group.entry if rng.random() < 0.7 else rng.choice(cat.topic_entries[group.topic])
                self.emit("suggestion", topic=cat.entry_topic[entry], entry_id=entry)
                if rng.random() < 0.2:
                    self.feedback(entry, cat.entry_topic[entry])
        elif outcome == "faq":
            self.emit("faq", topic=group.topic, entry_id=group.entry, score=round(rng.uniform(0.6, 1), 3), **q)
            if rng.random() < 0.25:
                self.feedback(group.entry, group.topic)
        else:  # guide: the overview opens; "begin" leads to step 1
            self.emit("guide", topic=group.topic, entry_id=group.entry, guide_step=0, score=round(rng.uniform(0.6, 1), 3), **q)
            if rng.random() < 0.8:
                self.walk_guide(group.entry)

    def browse(self) -> None:
        rng, cat = self.rng, self.cat
        self.emit("menu")
        topic = rng.choice(sorted(cat.topic_entries))
        self.emit("topic", topic=topic)
        guides = [g for g, (t, _) in cat.guides.items() if t == topic]
        if guides and rng.random() < 0.4:
            guide = rng.choice(guides)
            self.emit("guide_step", topic=topic, entry_id=guide, guide_step=0)
            if rng.random() < 0.7:
                self.walk_guide(guide)
        elif rng.random() < 0.6:
            entry = rng.choice(cat.topic_entries[topic])
            self.emit("faq", topic=topic, entry_id=entry)  # a tapped button: a question, but no text
            if rng.random() < 0.2:
                self.feedback(entry, topic)


def generate_events(cat: Catalogue, n_users: int, days: int, seed: int, start: dt.date, tail_share: float = TAIL_SHARE) -> list[Event]:
    """Events of `n_users` citizens over `days` Vietnam days from `start`, sorted by time. About six events
    per user; `tail_share` of typed questions are one-off texts (raise it to stress clustering)."""
    rng = random.Random(seed)
    events: list[Event] = []
    for u in range(n_users):
        user = hashlib.sha256(f"{seed}:{u}".encode()).hexdigest()[:20]  # as long as bot.privacy.hash_user
        channel = pick(rng, cat.channels)
        lang = "en" if rng.random() < 0.08 else "vi"
        ward, source = pick(rng, cat.wards), pick(rng, cat.sources)
        first = rng.randrange(days)
        session_days = sorted({first, *(min(days - 1, first + rng.randrange(days)) for _ in range(int(rng.expovariate(1.2))))})
        for n, offset in enumerate(session_days):
            s = _Session(cat, rng, user, channel, lang, ward, source, start + dt.timedelta(days=offset), rng.randrange(86400 - 1800), tail_share)
            if n == 0 and source:
                kind, _, ident = source.partition("-")
                if kind == "g":
                    s.emit("start", topic=cat.guides[ident][0], entry_id=ident, guide_step=0)
                    if rng.random() < 0.6:
                        s.walk_guide(ident)
                elif kind == "t":
                    s.emit("start", topic=ident)
                else:
                    s.emit("start", topic=cat.entry_topic[ident], entry_id=ident)
            elif rng.random() < 0.3:
                s.emit("start")
            for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
                r = rng.random()
                if r < 0.72:
                    s.typed()
                elif r < 0.87:
                    s.browse()
                elif r < 0.93:
                    s.emit(rng.choice(("help", "hotline", "lang")))
                else:
                    s.emit(rng.choice(("empty", "unknown_command", "stale_action", "guide_none")))
            events.extend(s.events)
    events.sort(key=lambda e: e.ts)
    return events


def write(db, events: list[Event], batch: int = 5000) -> None:
    """Store events the way the writer thread does: in batches through write_batch."""
    from .store import write_batch

    for i in range(0, len(events), batch):
        write_batch(db, events[i : i + batch])
