"""What each ward's working groups should explain next ("Gợi ý tuyên truyền"): the guides and topics where
the ward's citizens struggle most compared with the province, each with its reason in figures.

Pure queries over the analytics rollups and the tickets, like analytics/report.py (nothing here prints;
analytics/advice_text.py words the reasons, the dashboard's /dashboard/outreach page and
`python -m analytics outreach` show them).

    advise(db, kb, ward="phuc-yen", until=None)   -> Advice (to_plain for JSON)

Four signals, each over the last WINDOW_DAYS days with data (or up to `until`), per ward and for the
province (every citizen, the ward's own included):

- dropoff: citizens who stopped at step s of a guide (s = 1..n, their furthest page of that guide in the
  window, short of its wrap-up page) out of those who reached step s; a citizen's ward is the one the
  rollup keeps for the first day in the window they were on the guide (daily_users);
- unanswered: questions of a topic the bot could not answer ("did you mean" and fallbacks) out of the
  topic's questions (`daily`, exact per event);
- thumbs_down: 👎 on an entry out of its 👍 and 👎 (from `events`: the daily feedback rollup keeps no
  ward, so this signal lasts as long as the events are kept, see `analytics purge`);
- tickets: questions of a topic handed over to officials, out of the topic's questions.

A ward's figure becomes a suggestion when it is at least MIN_COUNT (people or questions), at least
MIN_RATIO times the province's rate, and above what the province's rate predicts by more than chance (a
one-sided binomial z-test, Z_CRITICAL). They are ranked by their excess: the count beyond what the
province's rate predicts, so that "42 people, twice the rate" comes before "5 people, three times". A guide
appears once per signal (for drop-off: at its worst step). Every suggestion names the guide whose posters
and meeting sheet fit it: the guide itself, or for a topic (and an FAQ entry) the topic's guide most
started in the province in the window, else the topic's first guide in the content.

For the province itself (ward None) there is nothing to compare with: the page lists each ward's first
suggestion, and the province's own PER_KIND largest counts of each signal (ranked by count, same MIN_COUNT).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from bot import storage

from .report import QUESTION_KINDS, UNANSWERED_KINDS, _kinds_sql, to_plain, unanswered_example
from .store import VIETNAM

WINDOW_DAYS = 28
MIN_COUNT = 5
MIN_RATIO = 1.5
Z_CRITICAL = 1.96
SHOWN = 8  # suggestions a ward's page lists
PER_KIND = 2  # the province's own: the largest counts of each signal
KINDS = ("dropoff", "unanswered", "thumbs_down", "tickets")


@dataclass(frozen=True)
class Suggestion:
    kind: str  # one of KINDS
    ward: str | None  # None: the province's own
    guide_id: str | None  # the guide whose posters and meeting sheet fit it (None: the topic has no guide)
    topic: str | None
    entry_id: str | None  # dropoff: the guide; thumbs_down: the entry voted on
    step: int | None  # dropoff: the step (1..n) where they stopped
    count: int  # people who stopped / questions not answered / 👎 / tickets, in the ward
    base: int  # out of: people who reached the step / questions of the topic / votes / questions
    rate: float
    province_count: int
    province_base: int
    province_rate: float
    ratio: float | None  # rate / province_rate (None for the province, or a province rate of 0)
    excess: float  # count beyond base * province_rate: the ranking
    example: str | None = None  # unanswered: the ward's most asked unanswered question in the topic (redacted)


@dataclass
class Advice:
    ward: str | None
    since: str
    until: str
    days: int
    suggestions: list[Suggestion] = field(default_factory=list)
    wards: list[Suggestion] = field(default_factory=list)  # province page: each ward's first suggestion
    notes: list[str] = field(default_factory=list)

    def to_plain(self) -> dict[str, Any]:
        return to_plain(self)


# -- the window ---------------------------------------------------------------------------------------------------

def window(db: storage.Database, until: dt.date | None = None, days: int = WINDOW_DAYS) -> tuple[str, str] | None:
    """(since, until) Vietnam days: the `days` days that end on `until` or on the last day with data."""
    if until is None:
        last = db.scalar("select max(day) from daily")
        if last is None:
            return None
        until = dt.date.fromisoformat(last)
    return (until - dt.timedelta(days=days - 1)).isoformat(), until.isoformat()


def day_bounds(since: str, until: str) -> tuple[float, float]:
    """Epoch seconds of the start of `since` and of the day after `until`, in Vietnam time."""
    start = dt.datetime.combine(dt.date.fromisoformat(since), dt.time(), VIETNAM)
    end = dt.datetime.combine(dt.date.fromisoformat(until) + dt.timedelta(days=1), dt.time(), VIETNAM)
    return start.timestamp(), end.timestamp()


# -- the counts -------------------------------------------------------------------------------------------------

Rates = dict[tuple[str, Any], tuple[int, int]]  # (ward, key) -> (count, base); ward "" = none recorded


def furthest_pages(db: storage.Database, since: str, until: str, guide_id: str | None = None) -> list[tuple[str, str, int, int]]:
    """(ward, guide, furthest page, citizens): each (citizen, guide) pair seen in [since, until] by the
    furthest page it reached there, the ward that of the pair's first day there."""
    where, params = "g.day between ? and ?", [since, until]
    if guide_id is not None:
        where, params = where + " and g.guide_id = ?", [*params, guide_id]
    sql = f"""select ward, guide_id, furthest, count(*) from (
                select substr(min(g.day || u.ward), 11) as ward, g.guide_id, max(g.step) as furthest
                from daily_guide g join daily_users u on u.day = g.day and u.user = g.user
                where {where} group by g.user, g.guide_id) pairs
              group by ward, guide_id, furthest"""
    return [(w, g, int(s), int(n)) for w, g, s, n in db.execute(sql, params).fetchall()]


def dropoff_rates(pages: list[tuple[str, str, int, int]], steps: dict[str, int]) -> Rates:
    """(ward, (guide, step)) -> (stopped at the step, reached it) for steps 1..n of the guides in `steps`."""
    furthest: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for ward, guide, page, n in pages:
        if guide in steps:
            furthest[(ward, guide)][page] += n
    out: Rates = {}
    for (ward, guide), pages_reached in furthest.items():
        for step in range(1, steps[guide] + 1):
            reached = sum(n for page, n in pages_reached.items() if page >= step)
            if reached:
                out[(ward, (guide, step))] = (pages_reached.get(step, 0), reached)
    return out


def topic_questions(db: storage.Database, since: str, until: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(ward, topic) -> (questions not answered, questions), topics with a name only."""
    sql = f"""select ward, topic, sum(case when kind in {_kinds_sql(UNANSWERED_KINDS)} then n else 0 end), sum(n)
              from daily where day between ? and ? and kind in {_kinds_sql(QUESTION_KINDS)} and topic <> ''
              group by ward, topic"""
    return {(w, t): (int(u), int(n)) for w, t, u, n in db.execute(sql, [since, until]).fetchall()}


def votes(db: storage.Database, since: str, until: str) -> Rates:
    """(ward, entry) -> (👎, 👍 + 👎) from the events (idx_events_feedback)."""
    sql = """select coalesce(ward, ''), entry_id, sum(case when feedback = 'down' then 1 else 0 end), count(*)
             from events where feedback in ('up', 'down') and entry_id is not null and day between ? and ?
             group by coalesce(ward, ''), entry_id"""
    return {(w, e): (int(d), int(n)) for w, e, d, n in db.execute(sql, [since, until]).fetchall()}


def ticket_counts(db: storage.Database, since: str, until: str) -> Counter:
    """(ward, topic) -> tickets created in the window (the ward the citizen chose for the ticket)."""
    lo, hi = day_bounds(since, until)
    sql = "select ward, coalesce(topic, ''), count(*) from tickets where created_at >= ? and created_at < ? group by 1, 2"
    return Counter({(w, t): int(n) for w, t, n in db.execute(sql, [lo, hi]).fetchall()})


def province(rates: Rates) -> dict[Any, tuple[int, int]]:
    """key -> (count, base) summed over every ward."""
    out: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    for (_, key), (count, base) in rates.items():
        out[key][0] += count
        out[key][1] += base
    return {k: (c, b) for k, (c, b) in out.items()}


# -- the test ---------------------------------------------------------------------------------------------------

def stands_out(count: int, base: int, p: float) -> bool:
    """Whether `count` of `base` is clearly more than the province's rate `p` predicts: enough of them,
    MIN_RATIO times the rate, and beyond chance (one-sided z-test on the binomial count)."""
    if count < MIN_COUNT or base <= 0:
        return False
    if p <= 0:
        return True
    if count / base < MIN_RATIO * p:
        return False
    if p >= 1:
        return False
    return (count - base * p) / math.sqrt(base * p * (1 - p)) >= Z_CRITICAL


def compare(kind: str, ward: str, rates: Rates, guide_of, topic_of, **extra) -> list[Suggestion]:
    """The ward's suggestions of one signal: each key of the ward that stands out against the province."""
    whole = province(rates)
    out = []
    for (w, key), (count, base) in rates.items():
        if w != ward:
            continue
        p_count, p_base = whole[key]
        p = p_count / p_base if p_base else 0.0
        if stands_out(count, base, p):
            out.append(_suggestion(kind, ward, key, count, base, p_count, p_base, guide_of, topic_of))
    return out


def absolute(kind: str, rates: Rates, guide_of, topic_of) -> list[Suggestion]:
    """The province's own largest counts of one signal (no comparison: ranked by count)."""
    out = []
    for key, (count, base) in province(rates).items():
        if count >= MIN_COUNT:
            out.append(_suggestion(kind, None, key, count, base, count, base, guide_of, topic_of))
    return out


def _suggestion(kind, ward, key, count, base, p_count, p_base, guide_of, topic_of) -> Suggestion:
    p = p_count / p_base if p_base else 0.0
    entry, step = (key if isinstance(key, tuple) else (key, None))
    topic = topic_of(entry) if kind in ("dropoff", "thumbs_down") else entry
    rate = count / base if base else 0.0
    return Suggestion(
        kind=kind, ward=ward, guide_id=guide_of(kind, entry, topic), topic=topic,
        entry_id=entry if kind in ("dropoff", "thumbs_down") else None, step=step, count=count, base=base, rate=rate,
        province_count=p_count, province_base=p_base, province_rate=p,
        ratio=(rate / p if p and ward is not None else None), excess=(count - base * p if ward is not None else float(count)),
    )


def _worst_step(items: list[Suggestion]) -> list[Suggestion]:
    """One drop-off suggestion per guide: its step with the largest excess."""
    best: dict[str | None, Suggestion] = {}
    for s in items:
        if s.entry_id not in best or s.excess > best[s.entry_id].excess:
            best[s.entry_id] = s
    return list(best.values())


# -- the whole advice ---------------------------------------------------------------------------------------------

def advise(db: storage.Database, kb: Any, ward: str | None = None, until: dt.date | None = None, days: int = WINDOW_DAYS) -> Advice:
    """The suggestions for `ward` (None: the province) over the `days` days that end on `until` (default:
    the last day with data)."""
    span = window(db, until, days)
    if span is None:
        return Advice(ward, "", "", days, notes=["No data yet."])
    since, last = span
    steps = {g.id: len(g.steps) for g in kb.guides.values()}
    pages = furthest_pages(db, since, last)
    started = Counter()
    for _, guide, _, n in pages:
        started[guide] += n
    guide_of, topic_of = _mappers(kb, started)
    questions = topic_questions(db, since, last)
    tickets = ticket_counts(db, since, last)
    signals: dict[str, Rates] = {
        "dropoff": dropoff_rates(pages, steps),
        "unanswered": dict(questions),
        "thumbs_down": votes(db, since, last),
        "tickets": {(w, t): (tickets.get((w, t), 0), n) for (w, t), (_, n) in questions.items()},
    }
    advice = Advice(ward, since, last, days)
    if ward is None:
        for kind, rates in signals.items():  # each signal's largest PER_KIND, so that one kind cannot fill the page
            found = absolute(kind, rates, guide_of, topic_of)
            found = _worst_step(found) if kind == "dropoff" else found
            advice.suggestions += sorted(found, key=lambda s: (-s.count, s.entry_id or s.topic or ""))[:PER_KIND]
        advice.suggestions.sort(key=lambda s: (-s.count, s.kind, s.entry_id or s.topic or ""))
        for w in kb.ward_ids:
            mine = _ranked(_ward_suggestions(w, signals, guide_of, topic_of))
            if mine:
                advice.wards.append(mine[0])
    else:
        advice.suggestions = [
            replace(s, example=_example(db, ward, s.topic, since, last)) if s.kind == "unanswered" else s
            for s in _ranked(_ward_suggestions(ward, signals, guide_of, topic_of))[:SHOWN]
        ]
    return advice


def _ward_suggestions(ward: str, signals: dict[str, Rates], guide_of, topic_of) -> list[Suggestion]:
    out = []
    for kind, rates in signals.items():
        found = compare(kind, ward, rates, guide_of, topic_of)
        out += _worst_step(found) if kind == "dropoff" else found
    return out


def _ranked(items: list[Suggestion]) -> list[Suggestion]:
    return sorted(items, key=lambda s: (-s.excess, s.kind, s.entry_id or s.topic or ""))


def _mappers(kb: Any, started: Counter):
    """guide_of(kind, entry, topic) and topic_of(entry) for the content in `kb`."""
    by_topic: dict[str, list[str]] = defaultdict(list)
    for g in kb.guides.values():
        by_topic[g.topic].append(g.id)

    def topic_of(entry: str) -> str | None:
        item = kb.guides.get(entry) or kb.faqs.get(entry)
        return item.topic if item is not None else None

    def guide_of(kind: str, entry: str | None, topic: str | None) -> str | None:
        if entry in kb.guides:
            return entry
        candidates = by_topic.get(topic or "", [])
        if not candidates:
            return None
        return max(candidates, key=lambda g: (started.get(g, 0), -candidates.index(g)))

    return guide_of, topic_of


def _example(db: storage.Database, ward: str, topic: str | None, since: str, until: str) -> str | None:
    """The ward's most asked unanswered question of the topic in the window, in its most common wording."""
    row = db.execute(
        f"""select question_key from daily_questions where ward = ? and topic = ? and day between ? and ?
            and kind in {_kinds_sql(UNANSWERED_KINDS)} group by question_key order by sum(n) desc, question_key limit 1""",
        [ward, topic or "", since, until],
    ).fetchone()
    return unanswered_example(db, row[0], "coalesce(ward, '') = ?", [ward]) if row else None
