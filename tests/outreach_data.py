"""A deterministic data set of citizens brought in by working groups' posters and links, and the figures
analytics/outreach_report.py must show for it, computed straight from the events in plain Python.

    events = generate_events(n_users=300, days=35, seed=11)
    write(db, events)                                    # tests/analytics_data.write: through write_batch
    expected = summarise(events, since="2025-03-10")     # per group, per ward and for all groups

The generator is analytics/demo_groups.py (its docstring describes the citizens; the demo command uses it
too); this file fixes its groups, guides and answers for the tests, with one-letter placeholder questions.
`summarise` follows the definitions in analytics/outreach_report.py's docstring, from the events alone.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

from analytics import demo_groups
from analytics.demo_citizens import VIETNAM
from bot.engine import Event

START = dt.date(2025, 3, 3)  # a Monday
# content/locality.yaml's working groups and their wards (tests check these against the real content)
GROUP_WARDS = {"tdp-phuc-yen-5": "phuc-yen", "mot-cua-phuc-yen": "phuc-yen", "tdp-xuan-hoa-2": "xuan-hoa", "thon-tam-son-1": "tam-son"}
OLD_GROUP = "tdp-cu-9"  # a group removed from the content: still reported, with no ward
# guide id -> (topic, number of steps) as in content/guides (checked by the tests)
GUIDES = {"eid-activate": ("eid", 8), "qr-pay-shop": ("qr", 6), "fees-pay-portal": ("fees", 7), "safety-report-scam": ("safety", 8)}
FAQS = {"eid-no-otp": "eid", "eid-forgot-password": "eid", "portal-login": "portal", "fees-traffic-fine": "fees", "bills-electric": "bills", "qr-receive": "qr", "signature-what-is": "signature"}
QUESTION_KINDS = ("faq", "guide", "suggest", "fallback")
ANSWERED_KINDS = ("faq", "guide")


def day_of(e: Event) -> str:
    return dt.datetime.fromtimestamp(e.ts, VIETNAM).date().isoformat()


def iso_week(day: str) -> str:
    year, week, _ = dt.date.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


def group_of(source: str | None) -> str | None:
    return source.partition("__")[2] or None if source and "__" in source else None


def generate_events(n_users: int = 300, days: int = 35, seed: int = 11, start: dt.date = START) -> list[Event]:
    """Events of `n_users` citizens over `days` Vietnam days from `start`, sorted by time."""
    return demo_groups.generate_events(n_users, days, seed, start, group_wards=GROUP_WARDS, guides=GUIDES, faqs=FAQS, old_group=OLD_GROUP)


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
