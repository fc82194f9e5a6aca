"""A deterministic data set of citizens brought in by working groups' posters and links, and the figures
analytics/outreach_report.py must show for it, computed straight from the events in plain Python.

    events = generate_events(n_users=300, days=35, seed=11)
    write(db, events)                                    # tests/analytics_data.write: through write_batch
    expected = summarise(events, since="2025-03-10")     # per group, per ward and for all groups

Citizens (each keeps one channel and language):
- "poster" (about half): arrive through a group's link or poster code, `g-<guide>__<group>` or
  `menu__<group>`; a few through a group the content no longer has (OLD_GROUP);
- "plain": a link without a group (`g-eid-activate`);
- "none": never a link;
- "late": chat without a link first, then scan a group's poster later: on a later day, or later on the
  same day. They are not new citizens of the group (they were using the bot already), but their questions
  count for it from the scan on, and their guides from the next day whose first event carried the source.

After arriving they ask questions (faq, guide, suggest, fallback; topics as in content/topics.yaml), walk
guides page by page with drop-off (pages 0 overview, 1..n steps, n+1 wrap-up, n from the real guides),
open menus and topics, on one or more days. Events are emitted as bot.engine would: the source is set from
the first touch on, on every later event.

`summarise` follows the definitions in analytics/outreach_report.py's docstring, from the events alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections import Counter, defaultdict
from typing import Any

from bot.engine import Event

VIETNAM = dt.timezone(dt.timedelta(hours=7))
START = dt.date(2025, 3, 3)  # a Monday
# content/locality.yaml's working groups and their wards (tests check these against the real content)
GROUP_WARDS = {"tdp-phuc-yen-5": "phuc-yen", "mot-cua-phuc-yen": "phuc-yen", "tdp-xuan-hoa-2": "xuan-hoa", "thon-tam-son-1": "tam-son"}
OLD_GROUP = "tdp-cu-9"  # a group removed from the content: still reported, with no ward
# guide id -> (topic, number of steps) as in content/guides (checked by the tests)
GUIDES = {"eid-activate": ("eid", 8), "qr-pay-shop": ("qr", 6), "fees-pay-portal": ("fees", 7), "safety-report-scam": ("safety", 8)}
FAQS = {"eid-no-otp": "eid", "eid-forgot-password": "eid", "portal-login": "portal", "fees-traffic-fine": "fees", "bills-electric": "bills", "qr-receive": "qr", "signature-what-is": "signature"}
QUESTION_KINDS = ("faq", "guide", "suggest", "fallback")
ANSWERED_KINDS = ("faq", "guide")
CHANNELS = (("zalo", 0.5), ("telegram", 0.35), ("web", 0.15))
ARRIVALS = (("poster", 0.5), ("plain", 0.1), ("none", 0.25), ("late", 0.15))
CONTINUE = 0.8  # chance to go on to the next guide page


def _pick(rng: random.Random, options):
    values, weights = zip(*options)
    return rng.choices(values, weights)[0]


def _vn_ts(day: dt.date, second: int) -> float:
    return dt.datetime.combine(day, dt.time(), VIETNAM).timestamp() + second


def day_of(e: Event) -> str:
    return dt.datetime.fromtimestamp(e.ts, VIETNAM).date().isoformat()


def iso_week(day: str) -> str:
    year, week, _ = dt.date.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


def group_of(source: str | None) -> str | None:
    return source.partition("__")[2] or None if source and "__" in source else None


class _Citizen:
    def __init__(self, rng: random.Random, user: str, channel: str, lang: str):
        self.rng, self.user, self.channel, self.lang = rng, user, channel, lang
        self.source: str | None = None
        self.ward: str | None = None
        self.ts = 0.0
        self.events: list[Event] = []

    def at(self, day: dt.date, second: int) -> None:
        self.ts = _vn_ts(day, second)

    def emit(self, kind: str, **kw: Any) -> None:
        self.ts += self.rng.randint(5, 60)
        self.events.append(Event(ts=self.ts, channel=self.channel, user=self.user, lang=self.lang, kind=kind, source=self.source, ward=self.ward, **kw))

    def arrive(self, payload: str, ward: str | None) -> None:
        """The first touch: the engine sets the source (and the group's ward) on this very event."""
        self.source, self.ward = payload, self.ward or ward
        target = payload.partition("__")[0]
        if target.startswith("g-"):
            guide = target[2:]
            self.emit("start", topic=GUIDES[guide][0], entry_id=guide, guide_step=0)
            self.walk(guide, 1)
        else:
            self.emit("start")

    def walk(self, guide: str, page: int) -> None:
        topic, steps = GUIDES[guide]
        while page <= steps + 1 and self.rng.random() < CONTINUE:
            self.emit("guide_step", topic=topic, entry_id=guide, guide_step=page)
            page += 1

    def ask(self) -> None:
        rng = self.rng
        r = rng.random()
        if r < 0.45:
            entry = rng.choice(sorted(FAQS))
            self.emit("faq", topic=FAQS[entry], entry_id=entry, question="q", question_key="q " + entry, score=0.9)
        elif r < 0.6:
            guide = rng.choice(sorted(GUIDES))
            self.emit("guide", topic=GUIDES[guide][0], entry_id=guide, guide_step=0, question="g", question_key="g " + guide, score=0.9)
            self.walk(guide, 1)
        elif r < 0.75:
            entry = rng.choice(sorted(FAQS))
            self.emit("suggest", topic=FAQS[entry], entry_id=entry, question="s", question_key="s " + entry, score=0.5)
        elif r < 0.9:
            self.emit("fallback", question="f", question_key="f", score=0.1)
        else:
            self.emit("menu")
            self.emit("topic", topic=rng.choice(sorted(set(FAQS.values()))))

    def session(self, questions: int) -> None:
        for _ in range(questions):
            self.ask()


def generate_events(n_users: int = 300, days: int = 35, seed: int = 11, start: dt.date = START) -> list[Event]:
    """Events of `n_users` citizens over `days` Vietnam days from `start`, sorted by time."""
    rng = random.Random(seed)
    groups = sorted(GROUP_WARDS)
    events: list[Event] = []
    for u in range(n_users):
        user = hashlib.sha256(f"outreach:{seed}:{u}".encode()).hexdigest()[:20]
        c = _Citizen(rng, user, _pick(rng, CHANNELS), "en" if rng.random() < 0.1 else "vi")
        arrival = _pick(rng, ARRIVALS)
        group = OLD_GROUP if rng.random() < 0.05 else rng.choice(groups)
        target = f"g-{rng.choice(sorted(GUIDES))}" if rng.random() < 0.7 else "menu"
        payload = f"{target}__{group}"
        ward = GROUP_WARDS.get(group)
        first = rng.randrange(days)
        later = sorted({min(days - 1, first + 1 + rng.randrange(days)) for _ in range(rng.choice((0, 0, 1, 2, 3)))})
        second = rng.randrange(3600, 60000)
        c.at(start + dt.timedelta(days=first), second)
        if arrival == "poster":
            c.arrive(payload, ward)
        elif arrival == "plain":
            c.arrive("g-eid-activate", None)
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
                guide = rng.choice(sorted(GUIDES))
                c.emit("guide_step", topic=GUIDES[guide][0], entry_id=guide, guide_step=rng.randrange(0, GUIDES[guide][1] + 2))
            c.session(rng.choice((1, 2)))
        events.extend(c.events)
    events.sort(key=lambda e: e.ts)
    return events


# -- the expected figures, computed independently ------------------------------------------------------------

LEVEL_KEYS = ("new_citizens", "questions", "answered", "guides_started", "guides_finished")


def summarise(events: list[Event], since: str | None = None, until: str | None = None, group_wards: dict[str, str] | None = None) -> dict:
    """Everything outreach() must report over [since, until], from the events alone:

    {"levels": {(level, id): {new_citizens, questions, answered, guides_started, guides_finished}},
     "weekly": {(level, id, week): {...same keys}}, "topics": {(level, id, topic): questions},
     "guides": {(level, id, guide): (started, finished)}, "posters": {(level, id, target): citizens}}
    """
    lo, hi = since or "0000-00-00", until or "9999-12-31"
    wards = dict(GROUP_WARDS if group_wards is None else group_wards)

    def levels(group: str) -> list[tuple[str, str]]:
        return [("group", group), ("ward", wards.get(group, "")), ("all", "")]

    per_level: dict = defaultdict(Counter)
    weekly: dict = defaultdict(Counter)
    topics: Counter = Counter()
    guides: dict = defaultdict(lambda: [0, 0])
    posters: Counter = Counter()

    def add(group: str, day: str, key: str, n: int = 1) -> None:
        for level in levels(group):
            per_level[level][key] += n
            weekly[(*level, iso_week(day))][key] += n

    # new citizens: the citizen's very first event carries a group: counted on that day
    first_event: dict[str, Event] = {}
    for e in events:  # sorted by time
        first_event.setdefault(e.user, e)
    for e in first_event.values():
        group, day = group_of(e.source), day_of(e)
        if group and lo <= day <= hi:
            add(group, day, "new_citizens")
            for level in levels(group):
                posters[(*level, e.source.partition("__")[0])] += 1

    # questions and topics: events whose source carries a group
    for e in events:
        group, day = group_of(e.source), day_of(e)
        if group and e.kind in QUESTION_KINDS and lo <= day <= hi:
            add(group, day, "questions")
            if e.kind in ANSWERED_KINDS:
                add(group, day, "answered")
            for level in levels(group):
                topics[(*level, e.topic or "")] += 1

    # guides: pages seen on days whose first event carried a group source
    first_of_day: dict[tuple[str, str], Event] = {}
    for e in events:
        first_of_day.setdefault((e.user, day_of(e)), e)
    started: dict[tuple[str, str], tuple[str, str]] = {}
    finished: dict[tuple[str, str], tuple[str, str]] = {}
    for e in events:
        day = day_of(e)
        if e.guide_step is None or e.entry_id is None or not lo <= day <= hi:
            continue
        group = group_of(first_of_day[(e.user, day)].source)
        if not group:
            continue
        key = (e.user, e.entry_id)
        if key not in started or day < started[key][1]:
            started[key] = (group, day)
        steps = GUIDES[e.entry_id][1] if e.entry_id in GUIDES else None
        if steps is not None and e.guide_step >= steps + 1 and (key not in finished or day < finished[key][1]):
            finished[key] = (group, day)
    for (user, guide), (group, day) in started.items():
        add(group, day, "guides_started")
        for level in levels(group):
            guides[(*level, guide)][0] += 1
    for (user, guide), (group, day) in finished.items():
        add(group, day, "guides_finished")
        for level in levels(group):
            guides[(*level, guide)][1] += 1
    return {
        "levels": {k: dict(v) for k, v in per_level.items()},
        "weekly": {k: dict(v) for k, v in weekly.items()},
        "topics": dict(topics),
        "guides": {k: tuple(v) for k, v in guides.items()},
        "posters": dict(posters),
    }
