"""What officials read: pure queries over the analytics database, for the CLI and the web dashboard.

Every function takes a `bot.storage.Database` (from `analytics.store.connect`: SQLite or PostgreSQL) and a
`Filters`. It returns dataclasses (or lists of them) that `dataclasses.asdict` turns into JSON-ready data.
Nothing here prints. The queries are the subset both engines run (bot.storage.dialect); the only
engine-specific parts are SQLite's planner hints (`indexed by`, `+column`, `cross join`: see _wide and
funnels), which PostgreSQL, whose planner keeps statistics, neither needs nor accepts.
Reports read the daily rollup tables, never a scan of `events`. Measured on one million generated events
over 180 days (bench/bench_analytics.py), all time: each function takes at most 0.3 s of CPU, and
full_report 1.7 s (it counts users once for totals and breakdowns and reads daily_questions once for both
question sections); over the last 28 days 0.43 s. Over long ranges the per-user counts read the by-user
indexes of the baseline migration (bot/storage/migrations/versions/0001_baseline.py; see _wide). Only
example texts, guide topics and feedback under a channel/ward/source filter touch `events`, and only
through its indexes (idx_events_unanswered, idx_events_day_question, idx_events_feedback).

Definitions
- Day: the Vietnam calendar day (UTC+7) of an event. `since` and `until` are inclusive Vietnam days.
- Filters: since, until, channel, topic, ward, source. Each is optional and every function takes them. A
  value of "" matches events without that field (no topic, no ward, no campaign source).
- Question: an event of kind faq, guide, suggest or fallback. Taps on an FAQ button count too (kind faq,
  with no text). Answered = faq + guide.
- Answer rate = answered / questions. Fallback rate = fallback / questions.
- Suggestion acceptance = tapped suggestions (kind "suggestion") / suggest.
- Unique users: distinct users in `daily_users` over the range. A user's channel, source and ward for a day
  come from their first event that day. Users are not kept per topic, so under a topic filter the count is
  None and a note says so.
- Breakdowns (topic, channel, language, source, ward): questions, answered, suggest, fallback and the rates
  for each value. Also users, where `daily_users` keeps that dimension (channel, source, ward).
  Fallbacks have no topic, so they appear under topic "".
- Series: questions per topic per day, and per ISO week (Monday start, labelled "2025-W10"). Both are dense:
  days or weeks with nothing show 0, within the filter range clipped to the days that have data. A week cut
  by `since`/`until` counts only the days in range.
- Top questions per topic: `daily_questions` rows of the question kinds (typed text only), summed per
  question_key. In each topic the `pool` most frequent keys (default 300) are merged greedily, most frequent
  first: a key joins the cluster whose leading key has rapidfuzz `fuzz.ratio` >= 90 with it, else it leads
  a new one. Keys are already sorted content words, so ratio catches typos without merging "vneid" into
  every question that mentions VNeID (token_set_ratio would). Example: the leading key's most common stored
  wording (see Examples).
- Unanswered clusters: the same merge over `daily_questions` rows of kind fallback or suggest, across
  topics. Each cluster has a count (with fallback/suggest split), `example` (the leading key's most common
  wording) and up to 3 distinct `examples` (that one first, then the latest wording of each key),
  first/last day, its most common topic and its status. `key` is what `python -m analytics mark` takes.
- Examples: events keep the question as the citizen typed it, redacted (bot.engine; older databases hold it
  folded). Keys are folded, sorted content words: never shown as an example. The most common wording is
  counted among a key's latest EXAMPLE_SAMPLE unanswered texts (idx_events_unanswered): always for a
  cluster, and for a top question unanswered at least EXAMPLE_ENOUGH times; other top questions count
  their texts on their last day in range, or over the week ending then when that day has fewer than
  EXAMPLE_ENOUGH (idx_events_day_question). Among equally common wordings one with Vietnamese diacritics wins (it
  reads more easily), then the latest.
- Marks (Botpress "misunderstood" triage): `cluster_marks` holds one mark per question_key, "resolved"
  (optionally with the entry that now answers it) or "ignored". A mark is remembered: new questions with a
  marked key keep its status. A cluster takes the mark of its most frequent marked key. `after_mark` counts
  the cluster's questions on days after the mark: for marked keys, after their own mark day; for unmarked
  keys, all of them if the key first appeared after the cluster's mark day. A resolved cluster whose
  after_mark keeps growing was not really resolved. Ignored clusters are hidden unless asked for. Resolved
  ones are listed after the open ones. The dashboard should mark all of a cluster's `keys`.
- Helpfulness per entry: thumbs up and down from `daily_feedback`, or from `events` through
  idx_events_feedback when a channel, ward or source filter is set. helpful_share = up / (up + down).
  Entries with fewer than `min_votes` votes are left out. Sorted with the least helpful first, and among
  ties the most votes first.
- Guide funnels from `daily_guide` (a guide's pages: 0 overview, 1..n steps, n+1 wrap-up): each user's
  furthest page in the range. users(step) = users whose furthest page >= step, so the funnel never rises.
  dropped(step) = users who stopped at that page. drop_off_rate = dropped / users(step). finished = users
  who reached the furthest page anyone reached. Channel, ward and source filters apply through
  `daily_users`. The topic of a guide is read from one of its events on a day it was used. Caveat:
  store.write_batch puts only kind "guide_step" events in `daily_guide`. A guide opened by a typed question
  (kind guide), a tapped suggestion or a deep link (kind start) counts only once the user moves to another
  page. Until then, people who leave at the overview are not seen.
- Filters a section cannot apply: question rollups (top questions, clusters) have no source, and users
  have no topic. `notes(f)` says in words what a given set of filters leaves out; `full_report` includes it.
"""

from __future__ import annotations

import datetime as dt
import heapq
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any, Iterable, Sequence

from rapidfuzz import fuzz, process

from bot import storage
from bot.text import has_vietnamese_marks

from .store import local_day

QUESTION_KINDS = ("faq", "guide", "suggest", "fallback")
ANSWERED_KINDS = ("faq", "guide")
UNANSWERED_KINDS = ("fallback", "suggest")
MARK_STATUSES = ("resolved", "ignored")
DIMENSIONS = ("topic", "channel", "lang", "source", "ward")
MERGE_THRESHOLD = 90.0
POOL = 300

# which filter dimensions each rollup keeps (the day is always there)
_DAILY = ("channel", "topic", "ward", "source")
_USERS = ("channel", "ward", "source")
_QUESTIONS = ("channel", "topic", "ward")
_FEEDBACK = ("topic",)


def _kinds_sql(kinds: Sequence[str]) -> str:
    """An SQL list of kind constants (ours, never user input), spelled as the partial index spells it."""
    return "(" + ", ".join(f"'{k}'" for k in kinds) + ")"


# -- filters ---------------------------------------------------------------------------------------------------

def parse_day(value: str | dt.date | None) -> dt.date | None:
    """A date or an ISO day string ("2025-03-31"); raises ValueError with a readable message."""
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"not a date: {value!r} (use YYYY-MM-DD)") from None


@dataclass(frozen=True)
class Filters:
    since: dt.date | None = None
    until: dt.date | None = None
    channel: str | None = None
    topic: str | None = None
    ward: str | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "since", parse_day(self.since))
        object.__setattr__(self, "until", parse_day(self.until))
        if self.since and self.until and self.since > self.until:
            raise ValueError(f"since ({self.since}) is after until ({self.until})")

    @property
    def bounds(self) -> tuple[str, str]:
        return (self.since.isoformat() if self.since else "0000-00-00", self.until.isoformat() if self.until else "9999-12-31")

    def dims(self) -> dict[str, str]:
        """The dimension filters that are set."""
        return {d: getattr(self, d) for d in ("channel", "topic", "ward", "source") if getattr(self, d) is not None}

    def to_dict(self) -> dict[str, str | None]:
        return {f.name: (v.isoformat() if isinstance(v := getattr(self, f.name), dt.date) else v) for f in fields(self)}


def _where(f: Filters, dims: Sequence[str], alias: str = "", events: bool = False, plus: bool = False) -> tuple[str, list]:
    """SQL for the day range and the filters this table can honour; the others are left out. Rollups store
    a missing value as ""; `events` keeps NULL, hence the coalesce there. `plus` writes the filters as
    "+channel = ?", which keeps SQLite from seeking them in an index (idx_daily_users_channel ...); pass
    `plus=_sqlite(db)`: PostgreSQL has no unary + on text (and plans by its statistics)."""
    p = f"{alias}." if alias else ""
    clauses, params = [f"{p}day between ? and ?"], list(f.bounds)
    for d, v in f.dims().items():
        if d in dims:
            clauses.append(f"coalesce({p}{d}, '') = ?" if events else f"{'+' if plus else ''}{p}{d} = ?")
            params.append(v)
    return " and ".join(clauses), params


def notes(f: Filters) -> list[str]:
    """What the given filters cannot restrict, in words an official can read."""
    out = []
    if f.topic is not None:
        out.append("Unique users are not counted per topic, so they are left blank under a topic filter.")
    if f.source is not None:
        out.append("Top questions and unanswered clusters ignore the source filter: question counts are not kept per source.")
    return out


def _sqlite(db: storage.Database) -> bool:
    """Whether SQLite's planner hints apply (`indexed by`, `+column`, a cross join to fix the join order)."""
    return db.engine == "sqlite"


def _rate(a: int, b: int) -> float | None:
    return a / b if b else None


WIDE = 1 / 30  # share of a per-user rollup's days from which its by-user index is read whole (see _wide)


def _from_start(db: storage.Database, f: Filters, table: str) -> bool:
    """Whether the range starts at or before the first day of `table`: then the all-time rollups
    (user_firsts, guide_furthest; migration 0003) hold the answer, one row per citizen."""
    if f.since is None:
        return True
    first = db.execute(f"select min(day) from {table}").fetchone()[0]  # the primary key's first entry
    return first is None or f.since.isoformat() <= first


def _reaches_end(db: storage.Database, f: Filters, table: str) -> bool:
    """Whether the range ends at or after the last day of `table`."""
    if f.until is None:
        return True
    last = db.execute(f"select max(day) from {table}").fetchone()[0]
    return last is None or f.until.isoformat() >= last


def _wide(db: storage.Database, table: str, f: Filters) -> bool:
    """Whether to read `table` (daily_users or daily_guide) through a by-user index (the baseline migration's),
    whole and in order, rather than the filter's days through the primary key and then sort them by user. It
    pays when the days cover a good share of the table: at one million events over 180 days, users per
    channel over 28 days 39 ms against 68, over one day 20 ms against 16. (SQLite only: PostgreSQL's planner
    chooses by its statistics.)"""
    if f.since is None and f.until is None:
        return True
    lo, hi = db.execute(f"select (select min(day) from {table}), (select max(day) from {table})").fetchone()
    if lo is None:
        return False
    first, last = dt.date.fromisoformat(lo), dt.date.fromisoformat(hi)
    start, end = max(first, f.since or first), min(last, f.until or last)
    return end >= start and (end - start).days + 1 >= WIDE * ((last - first).days + 1)


# -- result types ----------------------------------------------------------------------------------------------

@dataclass
class Totals:
    events: int
    questions: int
    answered: int
    faq: int
    guide: int
    suggest: int
    fallback: int
    suggestions_tapped: int
    smalltalk: int
    feedback: int
    answer_rate: float | None
    fallback_rate: float | None
    suggestion_acceptance: float | None
    unique_users: int | None
    first_day: str | None
    last_day: str | None


@dataclass
class Breakdown:
    dimension: str
    value: str
    questions: int
    answered: int
    suggest: int
    fallback: int
    answer_rate: float | None
    fallback_rate: float | None
    users: int | None


@dataclass
class SeriesPoint:
    period: str  # the day, or the ISO week ("2025-W10")
    start: str  # the day, or the week's Monday
    topic: str
    questions: int
    answered: int
    suggest: int
    fallback: int


@dataclass
class TopQuestion:
    topic: str
    rank: int
    key: str
    count: int
    example: str
    first_day: str
    last_day: str
    keys: list[str] = field(default_factory=list)


@dataclass
class Cluster:
    key: str
    count: int
    fallback: int
    suggest: int
    topic: str
    examples: list[str]
    first_day: str
    last_day: str
    status: str  # open | resolved | ignored
    entry_id: str | None
    marked_on: str | None  # Vietnam day of the mark
    after_mark: int
    keys: list[str] = field(default_factory=list)
    example: str = ""  # the most common wording of the leading key: what an official reads (examples[0])


@dataclass
class Helpfulness:
    entry_id: str
    topic: str
    up: int
    down: int
    votes: int
    helpful_share: float


@dataclass
class FunnelStep:
    step: int
    users: int
    dropped: int
    drop_off_rate: float | None


@dataclass
class Funnel:
    guide_id: str
    topic: str | None
    users: int
    finished: int
    completion_rate: float | None
    steps: list[FunnelStep]


# -- totals and breakdowns -------------------------------------------------------------------------------------

def _kind_counts(db: storage.Database, f: Filters) -> tuple[Counter, str | None, str | None]:
    """Events per kind, and the first and last day with any."""
    where, params = _where(f, _DAILY)
    if f.dims():
        kinds, first, last = Counter(), None, None
        for kind, n, lo, hi in db.execute(f"select kind, sum(n), min(day), max(day) from daily where {where} group by kind", params).fetchall():
            kinds[kind] = n
            first, last = min(first or lo, lo), max(last or hi, hi)
        return kinds, first, last
    # unfiltered, the first and last day are two primary-key lookups, not two more aggregates over the
    # grouped rows (at one million events, all time, 130 ms instead of 170 ms)
    kinds = Counter(dict(db.execute(f"select kind, sum(n) from daily where {where} group by kind", params).fetchall()))
    first, last = db.execute(f"select (select min(day) from daily where {where}), (select max(day) from daily where {where})", params + params).fetchone()
    return kinds, first, last


def _distinct_users(db: storage.Database, f: Filters, dimension: str | None = None) -> Any:
    """Distinct users in daily_users over the range: a count, or {value: count} per value of `dimension`
    (channel, ward or source). From the first day on, with no channel, ward or source filter, user_firsts
    answers (all time at ten million events: 1.2 s on SQLite and 2.5 s on PostgreSQL per view before it).
    Otherwise, through idx_daily_users_<dimension> (see _wide) SQLite counts each user once
    as the index brings them in order, without a sort: at one million events, all time, 55 ms instead of
    360 ms. Under a filter on another of those dimensions, the filter's days through the primary key and a
    sort are cheaper than that index's rows looked up one by one. The total has no index of its own (see
    the baseline migration); under a filter, SQLite seeks it in the filter's index, users already in order.
    On PostgreSQL both are the grouped subquery, which it hashes (count(distinct) would sort per value)."""
    if _from_start(db, f, "daily_users") and not set(f.dims()) & set(_USERS):
        # from the first day on: users whose first day is by `until` (user_firsts, one row per user)
        until = [] if f.until is None else [f.until.isoformat()]
        day = "" if f.until is None else " and day <= ?"
        if dimension is None:
            return db.execute(f"select count(*) from user_firsts where dimension = 'all'{day}", until).fetchone()[0]
        return dict(db.execute(f"select value, count(*) from user_firsts where dimension = ?{day} group by value", [dimension, *until]).fetchall())
    if dimension is None:
        where, params = _where(f, _USERS)
        return db.execute(f"select count(*) from (select user from daily_users where {where} group by user) users", params).fetchone()[0]
    if _sqlite(db) and set(f.dims()) & set(_USERS) <= {dimension} and _wide(db, "daily_users", f):
        where, params = _where(f, _USERS)
        sql = f"select {dimension}, count(distinct user) from daily_users indexed by idx_daily_users_{dimension} where {where} group by 1"
    else:
        where, params = _where(f, _USERS, plus=_sqlite(db))
        sql = f"select {dimension}, count(*) from (select {dimension}, user from daily_users where {where} group by 1, 2) users group by 1"
    return dict(db.execute(sql, params).fetchall())


def unique_users(db: storage.Database, f: Filters) -> int | None:
    if f.topic is not None:
        return None
    return _distinct_users(db, f)


def totals(db: storage.Database, f: Filters = Filters(), _users: tuple[int, dict[str, Counter]] | None = None) -> Totals:
    kinds, first, last = _kind_counts(db, f)
    questions = sum(kinds[k] for k in QUESTION_KINDS)
    answered = sum(kinds[k] for k in ANSWERED_KINDS)
    return Totals(
        events=sum(kinds.values()),
        questions=questions,
        answered=answered,
        faq=kinds["faq"],
        guide=kinds["guide"],
        suggest=kinds["suggest"],
        fallback=kinds["fallback"],
        suggestions_tapped=kinds["suggestion"],
        smalltalk=kinds["smalltalk"],
        feedback=kinds["feedback"],
        answer_rate=_rate(answered, questions),
        fallback_rate=_rate(kinds["fallback"], questions),
        suggestion_acceptance=_rate(kinds["suggestion"], kinds["suggest"]),
        unique_users=_users[0] if _users is not None else unique_users(db, f),
        first_day=first,
        last_day=last,
    )


def _user_counts(db: storage.Database, f: Filters) -> tuple[int, dict[str, Counter]] | None:
    """Distinct users overall and per channel, ward and source value (what full_report shares between
    totals and the breakdowns). None under a topic filter."""
    if f.topic is not None:
        return None
    return _distinct_users(db, f), {d: Counter(_distinct_users(db, f, d)) for d in _USERS}


def breakdown(db: storage.Database, dimension: str, f: Filters = Filters(), _users: tuple[int, dict[str, Counter]] | None = None) -> list[Breakdown]:
    """Questions per value of one dimension (topic, channel, lang, source, ward), most first."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r} (use one of: {', '.join(DIMENSIONS)})")
    where, params = _where(f, _DAILY)
    counts: dict[str, Counter] = defaultdict(Counter)
    sql = f"select {dimension}, kind, sum(n) from daily where {where} and kind in {_kinds_sql(QUESTION_KINDS)} group by 1, 2"
    for value, kind, n in db.execute(sql, params).fetchall():
        counts[value][kind] += n
    users: dict[str, int] = {}
    if _users is not None and dimension in _USERS:
        users = _users[1][dimension]
    elif dimension in _USERS and f.topic is None:
        users = _distinct_users(db, f, dimension)
    rows = []
    for value, c in counts.items():
        q, a = sum(c[k] for k in QUESTION_KINDS), sum(c[k] for k in ANSWERED_KINDS)
        rows.append(Breakdown(dimension, value, q, a, c["suggest"], c["fallback"], _rate(a, q), _rate(c["fallback"], q), users.get(value, 0) if dimension in _USERS and f.topic is None else None))
    rows.sort(key=lambda r: (-r.questions, r.value))
    return rows


# -- series ----------------------------------------------------------------------------------------------------

def iso_week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def series(db: storage.Database, f: Filters = Filters(), period: str = "day") -> list[SeriesPoint]:
    """Questions per topic per day ("day") or per ISO week ("week"), zero-filled, oldest first."""
    if period not in ("day", "week"):
        raise ValueError("period must be 'day' or 'week'")
    where, params = _where(f, _DAILY)
    sql = f"select day, topic, kind, sum(n) from daily where {where} and kind in {_kinds_sql(QUESTION_KINDS)} group by 1, 2, 3"
    cells: dict[tuple[str, str], Counter] = defaultdict(Counter)
    topics = set() if f.topic is None else {f.topic}
    for day, topic, kind, n in db.execute(sql, params).fetchall():
        cells[(day, topic)][kind] += n
        topics.add(topic)
    first, last = db.execute("select (select min(day) from daily), (select max(day) from daily)").fetchone()  # two lookups, not a scan
    if first is None or not topics:
        return []
    lo = max(dt.date.fromisoformat(first), f.since or dt.date.min)
    hi = min(dt.date.fromisoformat(last), f.until or dt.date.max)
    out: dict[tuple[str, str], SeriesPoint] = {}
    day = lo
    while day <= hi:
        start = day if period == "day" else day - dt.timedelta(days=day.weekday())
        label = day.isoformat() if period == "day" else iso_week(day)
        for topic in sorted(topics):
            c = cells.get((day.isoformat(), topic), Counter())
            point = out.get((label, topic))
            if point is None:
                point = out[(label, topic)] = SeriesPoint(label, start.isoformat(), topic, 0, 0, 0, 0)
            point.questions += sum(c[k] for k in QUESTION_KINDS)
            point.answered += sum(c[k] for k in ANSWERED_KINDS)
            point.suggest += c["suggest"]
            point.fallback += c["fallback"]
        day += dt.timedelta(days=1)
    return list(out.values())


# -- question clusters -----------------------------------------------------------------------------------------

def merge_keys(keys: Sequence[str], threshold: float = MERGE_THRESHOLD) -> list[list[int]]:
    """Greedy clustering of keys given most frequent first: indices grouped, the leader first."""
    leaders: list[str] = []
    groups: list[list[int]] = []
    for i, key in enumerate(keys):
        hit = process.extractOne(key, leaders, scorer=fuzz.ratio, score_cutoff=threshold) if leaders else None
        if hit is None:
            leaders.append(key)
            groups.append([i])
        else:
            groups[hit[2]].append(i)
    return groups


EXAMPLE_SAMPLE = 50  # latest unanswered texts of a key among which its most common wording is counted
EXAMPLE_ENOUGH = 20  # texts of an answered key on its last day that make a fair count; fewer: its last WEEK
WEEK = 7


def most_common_wording(texts: Iterable[str]) -> str | None:
    """The wording given most often (texts latest first); among equals one with Vietnamese diacritics, which
    reads more easily than the same words without, then the latest."""
    counts: Counter = Counter()
    for text in texts:
        counts[text] += 1  # insertion order: latest first
    if not counts:
        return None
    return max(counts, key=lambda t: (counts[t], has_vietnamese_marks(t)))  # max keeps the first of equals


def _per_key(db: storage.Database, sql: str, params: Sequence) -> Any:
    """Run a query for one question key (or a few) on `events`, planned for its own key each time
    (Database.execute's plan_each): the unanswered clusters at one million events on PostgreSQL take 0.8 s
    instead of 7 s with one generic plan."""
    return db.execute(sql, params, plan_each=True)


def _unanswered_index(db: storage.Database) -> str:
    """SQLite's hint for a key's unanswered texts: idx_events_unanswered (question_key, id), newest first.
    SQLite keeps no statistics here and would rather take idx_events_day_question, which holds every event
    of the key, answered or not (13 s instead of 0.5 s for the clusters at ten million events). PostgreSQL
    chooses by its statistics and has no such clause."""
    return "indexed by idx_events_unanswered" if _sqlite(db) else ""


def _unanswered_texts(db: storage.Database, key: str, where: str = "1 = 1", params: Sequence = ()) -> list[str]:
    """A key's latest EXAMPLE_SAMPLE unanswered texts, latest first, through idx_events_unanswered."""
    sql = f"""select question from events {_unanswered_index(db)} where question_key = ? and kind in {_kinds_sql(UNANSWERED_KINDS)}
              and question is not null and {where} order by id desc limit {EXAMPLE_SAMPLE}"""
    return [t for (t,) in _per_key(db, sql, [key, *params])]


def unanswered_example(db: storage.Database, key: str, where: str = "1 = 1", params: Sequence = ()) -> str | None:
    """The most common wording among a key's latest unanswered texts (None when none was kept)."""
    return most_common_wording(_unanswered_texts(db, key, where, params))


def _texts_between(db: storage.Database, keys: list[str], first: str, last: str) -> dict[str, list[str]]:
    """Every text of the keys asked from day `first` to `last` (a week at most), latest first, through
    idx_events_day_question: the days are listed (`day in (...)`), so that SQLite seeks each (day, key)
    pair instead of reading every event of the days (a range on `day` leaves the key unused: 0.7 s
    instead of 0.2 s at ten million events)."""
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    days = [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
    texts: dict[str, list[str]] = defaultdict(list)
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        sql = f"""select question_key, question from events where day in ({', '.join('?' * len(days))})
                  and question_key in ({', '.join('?' * len(chunk))}) and question is not null order by id desc"""
        for key, text in _per_key(db, sql, [*days, *chunk]).fetchall():
            texts[key].append(text)
    return texts


def _examples(db: storage.Database, wanted: dict[str, str]) -> dict[str, str]:
    """The most common wording of each key; `wanted` maps key -> its last day asked. A key often unanswered
    is read through idx_events_unanswered; the others (a few "did you mean" are no fair sample of what
    was mostly answered) on that day, or, when that day has fewer than EXAMPLE_ENOUGH texts of it, over
    the WEEK that ends on it (both through idx_events_day_question)."""
    found: dict[str, str] = {}
    few: dict[str, list[str]] = {}  # the unanswered texts of the others: better than no example at all
    by_day: dict[str, list[str]] = defaultdict(list)
    for key, day in wanted.items():
        few[key] = _unanswered_texts(db, key)
        if len(few[key]) >= EXAMPLE_ENOUGH:
            found[key] = most_common_wording(few.pop(key))
        else:
            by_day[day].append(key)
    thin: dict[str, list[str]] = defaultdict(list)
    texts: dict[str, list[str]] = {}
    for day, keys in by_day.items():
        texts.update(_texts_between(db, keys, day, day))
        thin[day] = [k for k in keys if len(texts.get(k, ())) < EXAMPLE_ENOUGH]
    for day, keys in thin.items():
        if keys:
            texts.update(_texts_between(db, keys, (dt.date.fromisoformat(day) - dt.timedelta(days=WEEK - 1)).isoformat(), day))
    for key, unanswered in few.items():
        text = most_common_wording(texts.get(key) or unanswered)
        if text is not None:
            found[key] = text
    return found


@dataclass
class _QuestionScan:
    """daily_questions summed: per (topic, key) -> [count, first day, last day] over the question kinds, and
    per key -> [count, fallback, first day, last day, count after the key's mark, {topic: count}] over
    fallback and suggest."""

    top: dict[tuple[str, str], list]
    unanswered: dict[str, list]
    marks: dict[str, tuple[str, str | None, str]]


def _scan_questions(db: storage.Database, f: Filters, top: bool = True, unanswered: bool = True) -> _QuestionScan:
    where, params = _where(f, _QUESTIONS)
    marks = _marks(db)
    top_rows: dict[tuple[str, str], list] = {}
    if top:
        # SQLite sums per (key, topic) in C and hands over ~10^4 groups, instead of ~10^5 rows for Python
        # to add up: at one million events 160 ms instead of 240 ms, most of it outside the GIL.
        sql = f"""select question_key, topic, sum(n), min(day), max(day) from daily_questions
                  where {where} and kind in {_kinds_sql(QUESTION_KINDS)} group by 1, 2"""
        for key, topic, n, first, last in db.execute(sql, params).fetchall():  # at once: psycopg's row-by-row iteration costs 2 µs a row
            top_rows[(topic, key)] = [n, first, last]
    stats: dict[str, list] = {}
    if unanswered:
        # Fallback and suggest rows only, summed here (the after-mark count needs the marks; a grouped
        # query with them is no faster: 120 ms at one million events, nor at ten million). Rows come in day
        # order (the primary key's), so first and last need no comparison.
        mark_day = {k: m[2] for k, m in marks.items()}
        sql = f"select day, question_key, topic, kind, n from daily_questions where {where} and kind in {_kinds_sql(UNANSWERED_KINDS)} order by day"
        for day, key, topic, kind, n in db.execute(sql, params).fetchall():
            u = stats.get(key)
            if u is None:
                u = stats[key] = [0, 0, day, day, 0, {}]
            u[0] += n
            if kind == "fallback":
                u[1] += n
            u[3] = day
            if key in mark_day and day > mark_day[key]:
                u[4] += n
            u[5][topic] = u[5].get(topic, 0) + n
    return _QuestionScan(top_rows, stats, marks)


def top_questions(db: storage.Database, f: Filters = Filters(), per_topic: int = 10, pool: int = POOL, _scan: _QuestionScan | None = None) -> list[TopQuestion]:
    """The most asked questions of each topic, near-identical keys merged (see the module docstring)."""
    scan = _scan or _scan_questions(db, f, unanswered=False)
    per: dict[str, list[tuple]] = defaultdict(list)
    for (topic, key), (n, first, last) in scan.top.items():
        per[topic].append((key, n, first, last))
    picked: list[tuple[str, list[tuple]]] = []
    for topic, rows in per.items():
        rows = heapq.nsmallest(pool, rows, key=lambda r: (-r[1], r[0]))
        groups = [[rows[i] for i in g] for g in merge_keys([r[0] for r in rows])]
        groups.sort(key=lambda g: (-sum(r[1] for r in g), g[0][0]))
        picked.extend((topic, g) for g in groups[:per_topic])
    examples = _examples(db, {g[0][0]: g[0][3] for _, g in picked})
    out, rank = [], Counter()
    for topic, g in sorted(picked, key=lambda tg: (tg[0], -sum(r[1] for r in tg[1]))):
        rank[topic] += 1
        leader = g[0][0]
        out.append(TopQuestion(topic, rank[topic], leader, sum(r[1] for r in g), examples.get(leader, leader), min(r[2] for r in g), max(r[3] for r in g), [r[0] for r in g]))
    return out


def _marks(db: storage.Database) -> dict[str, tuple[str, str | None, str]]:
    """question_key -> (status, entry_id, Vietnam day of the mark)."""
    rows = db.execute("select question_key, status, entry_id, marked_at from cluster_marks").fetchall()
    return {k: (s, e, local_day(at)) for k, s, e, at in rows}


def unanswered_clusters(
    db: storage.Database,
    f: Filters = Filters(),
    limit: int | None = 50,
    pool: int = POOL,
    include_ignored: bool = False,
    examples: int = 3,
    _scan: _QuestionScan | None = None,
) -> list[Cluster]:
    """Fallback and suggest questions grouped into clusters, open ones first (see the module docstring)."""
    scan = _scan or _scan_questions(db, f, top=False)
    stats, marks = scan.unanswered, scan.marks
    ranked = heapq.nsmallest(pool, stats, key=lambda k: (-stats[k][0], k))
    clusters = []
    for group in merge_keys(ranked):
        members = [ranked[i] for i in group]
        st = [stats[m] for m in members]
        marked = [m for m in members if m in marks]  # members are most frequent first
        status, entry_id, marked_on = marks[marked[0]] if marked else ("open", None, None)
        if status == "ignored" and not include_ignored:
            continue
        after = 0
        if marked_on:
            after = sum(s[4] if m in marks else (s[0] if s[2] > marked_on else 0) for m, s in zip(members, st))
        topics: Counter = Counter()
        for s in st:
            topics.update(s[5])
        count, fallback = sum(s[0] for s in st), sum(s[1] for s in st)
        clusters.append(
            Cluster(
                key=members[0],
                count=count,
                fallback=fallback,
                suggest=count - fallback,
                topic=max(topics, key=lambda t: (topics[t], t)),
                examples=[],
                first_day=min(s[2] for s in st),
                last_day=max(s[3] for s in st),
                status=status,
                entry_id=entry_id,
                marked_on=marked_on,
                after_mark=after,
                keys=members,
            )
        )
    order = {"open": 0, "resolved": 1, "ignored": 2}
    clusters.sort(key=lambda c: (order[c.status], -c.count, c.key))
    if limit is not None:
        clusters = clusters[:limit]
    for c in clusters:
        c.examples = _cluster_examples(db, f, c.keys, examples)
        c.example = c.examples[0] if c.examples else ""
    return clusters


def _cluster_examples(db: storage.Database, f: Filters, keys: list[str], wanted: int) -> list[str]:
    """Up to `wanted` distinct texts through idx_events_unanswered: the leading key's most common wording,
    then the latest text of each key (most frequent key first), then, if that is not enough, a bounded walk
    back for other wordings."""
    if wanted <= 0 or not keys:
        return []
    where, params = _where(f, _QUESTIONS, events=True)
    sql = f"""select question from events {_unanswered_index(db)} where question_key = ? and kind in {_kinds_sql(UNANSWERED_KINDS)}
              and question is not null and {where} order by id desc limit ?"""
    common = most_common_wording(_unanswered_texts(db, keys[0], where, params))
    out: list[str] = [common] if common is not None else []
    for limit in (1, 1000):
        for key in keys:
            for (text,) in _per_key(db, sql, [key, *params, limit]):  # lazily: stop as soon as there are enough
                if text not in out:
                    out.append(text)
                if len(out) >= wanted:
                    return out
        if len(out) >= len(keys) and limit == 1 and len(keys) > 1:
            return out  # one wording per key is example enough
    return out


def unknown_keys(db: storage.Database, keys: Iterable[str]) -> list[str]:
    """The keys no stored question has and no mark names: marking them would mark nothing an official will
    ever see (a typo, or an example pasted instead of its key). Unanswered keys are found through
    idx_events_unanswered; only the others cost a scan of daily_questions."""
    unknown = []
    for key in keys:
        if db.execute(f"select 1 from events {_unanswered_index(db)} where question_key = ? and kind in {_kinds_sql(UNANSWERED_KINDS)} limit 1", [key]).fetchone():
            continue
        if db.execute("select 1 from cluster_marks where question_key = ?", [key]).fetchone():
            continue
        if db.execute("select 1 from daily_questions where question_key = ? limit 1", [key]).fetchone():
            continue
        unknown.append(key)
    return unknown


def mark_cluster(db: storage.Database, key: str | Iterable[str], status: str, entry_id: str | None = None, marked_at: float | None = None) -> int:
    """Mark a question key (or every key of a cluster) resolved, optionally with the entry that answers it,
    or ignored. The mark is remembered for future questions with the same key. Returns keys marked."""
    if status not in MARK_STATUSES:
        raise ValueError(f"status must be one of {', '.join(MARK_STATUSES)}, not {status!r}")
    keys = [key] if isinstance(key, str) else list(key)
    if not keys or any(not k or not k.strip() for k in keys):
        raise ValueError("a question key is required")
    entry = entry_id if status == "resolved" else None
    when = time.time() if marked_at is None else marked_at
    with db.transaction():
        db.executemany(
            """insert into cluster_marks (question_key, status, entry_id, marked_at) values (?, ?, ?, ?)
               on conflict (question_key) do update set status = excluded.status, entry_id = excluded.entry_id, marked_at = excluded.marked_at""",
            [(k, status, entry, when) for k in keys],
        )
    return len(keys)


def unmark(db: storage.Database, key: str | Iterable[str]) -> int:
    """Forget the marks on a key (or keys); the cluster is open again. Returns marks removed."""
    keys = [key] if isinstance(key, str) else list(key)
    with db.transaction():
        return sum(db.execute("delete from cluster_marks where question_key = ?", [k]).rowcount for k in keys)


# -- helpfulness and funnels -----------------------------------------------------------------------------------

def helpfulness(db: storage.Database, f: Filters = Filters(), min_votes: int = 1) -> list[Helpfulness]:
    """Thumbs per entry, the least helpful first."""
    if set(f.dims()) - set(_FEEDBACK):  # channel, ward or source: only the events have them
        where, params = _where(f, _DAILY, events=True)
        if _sqlite(db):
            where = "+" + where  # "+day": read through idx_events_feedback (few rows), not idx_events_day_question
        sql = f"""select entry_id, max(coalesce(topic, '')), sum(case when feedback = 'up' then 1 else 0 end),
                  sum(case when feedback = 'down' then 1 else 0 end) from events
                  where feedback is not null and feedback in ('up', 'down') and entry_id is not null and {where} group by 1"""
    else:
        where, params = _where(f, _FEEDBACK)
        sql = f"select entry_id, max(topic), sum(up), sum(down) from daily_feedback where {where} group by 1"
    rows = []
    for entry, topic, up, down in db.execute(sql, params).fetchall():
        if up + down >= max(min_votes, 1):
            rows.append(Helpfulness(entry, topic, up, down, up + down, up / (up + down)))
    rows.sort(key=lambda r: (r.helpful_share, -r.votes, r.entry_id))
    return rows


def _guide_topics(db: storage.Database, last_day: dict[str, str]) -> dict[str, str | None]:
    """Each guide's topic, from one of its events on a day it was used (through idx_events_day_question). One
    lookup per guide that stops at its first event: reading the whole day's events to group them took
    0.6 s at ten million events on PostgreSQL (55,000 events a day)."""
    sql = "select topic from events where day = ? and kind = 'guide_step' and entry_id = ? and topic is not null limit 1"
    return {g: db.scalar(sql, [day, g]) for g, day in last_day.items()}


def funnels(db: storage.Database, f: Filters = Filters()) -> list[Funnel]:
    """Per guide: users reaching each page (by their furthest page) and where they stopped. Most used first."""
    lo, hi = f.bounds
    dims = {d: v for d, v in f.dims().items() if d in _USERS}
    join = ""
    params: list = [lo, hi]
    if dims:
        hint = "+" if _sqlite(db) else ""
        join = f"{'cross join' if _sqlite(db) else 'join'} daily_users u on u.day = g.day and u.user = g.user"
        join += "".join(f" and {hint}u.{d} = ?" for d in dims)  # looked up by primary key, not a by-user index
        params = [*dims.values(), lo, hi]
    # Through idx_daily_guide_user (see _wide) the pages come in (guide, user) order and need no sort: at
    # one million events, all time, 180 ms instead of 450 ms (260 ms instead of 310 ms under a channel
    # filter). The cross join keeps daily_guide the outer loop: SQLite, which keeps no statistics here,
    # would rather start from a filter's idx_daily_users_<channel|ward|source> and then read each matching
    # user-day's whole day of guide pages (a minute at one million events).
    # (SQLite only: PostgreSQL rejects "cross join ... on" and "indexed by", and orders joins by its statistics.)
    index = "indexed by idx_daily_guide_user" if _sqlite(db) and _wide(db, "daily_guide", f) else ""
    pages = f"""select g.guide_id, g.user, max(g.step) as furthest, max(g.day) as last_day from daily_guide g {index} {join}
                where g.day between ? and ? group by g.guide_id, g.user"""
    if not dims and _from_start(db, f, "daily_guide") and _reaches_end(db, f, "daily_guide"):
        pages, params = "select guide_id, furthest, last_day from guide_furthest", []  # all of it: one row per (guide, user)
    sql = f"select guide_id, furthest, count(*), max(last_day) from ({pages}) pages group by 1, 2"
    stopped: dict[str, Counter] = defaultdict(Counter)
    last_day: dict[str, str] = {}
    for guide, furthest, n, last in db.execute(sql, params).fetchall():
        stopped[guide][furthest] += n
        last_day[guide] = max(last_day.get(guide, ""), last)
    topics = _guide_topics(db, last_day)
    out = []
    for guide, by_step in stopped.items():
        if f.topic is not None and topics[guide] != f.topic:
            continue
        top = max(by_step)
        steps, reached = [], sum(by_step.values())
        for step in range(top + 1):
            dropped = by_step[step] if step < top else 0
            steps.append(FunnelStep(step, reached, dropped, _rate(dropped, reached)))
            reached -= by_step[step]
        users = steps[0].users
        out.append(Funnel(guide, topics[guide], users, by_step[top], _rate(by_step[top], users), steps))
    out.sort(key=lambda fn: (-fn.users, fn.guide_id))
    return out


# -- everything at once ----------------------------------------------------------------------------------------

SECTIONS = (
    "filters", "notes", "totals", "by_topic", "by_channel", "by_lang", "by_source", "by_ward", "daily", "weekly",
    "top_questions", "unanswered", "helpfulness", "funnels",
)


def to_plain(value: Any) -> Any:
    """Dataclasses, lists and dates -> JSON-ready data."""
    if is_dataclass(value) and not isinstance(value, type):
        return value.to_dict() if isinstance(value, Filters) else asdict(value)
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def full_report(
    db: storage.Database, f: Filters = Filters(), *, per_topic: int = 10, clusters: int | None = 50, min_votes: int = 1, include_ignored: bool = False
) -> dict[str, Any]:
    """Every section, as plain JSON-ready data, keyed by the names in SECTIONS."""
    users = _user_counts(db, f)  # one pass over daily_users for totals and the breakdowns
    report: dict[str, Any] = {"filters": f.to_dict(), "notes": notes(f), "totals": totals(db, f, _users=users)}
    for dim in DIMENSIONS:
        report[f"by_{dim}"] = breakdown(db, dim, f, _users=users)
    report["daily"] = series(db, f, "day")
    report["weekly"] = series(db, f, "week")
    scan = _scan_questions(db, f)  # daily_questions read once for both sections
    report["top_questions"] = top_questions(db, f, per_topic=per_topic, _scan=scan)
    report["unanswered"] = unanswered_clusters(db, f, limit=clusters, include_ignored=include_ignored, _scan=scan)
    report["helpfulness"] = helpfulness(db, f, min_votes=min_votes)
    report["funnels"] = funnels(db, f)
    return {name: to_plain(report[name]) for name in SECTIONS}


SPREADSHEET_FORMULA = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet reads as the start of a formula


def csv_cell(value: Any) -> Any:
    """A value for a CSV file an official opens in a spreadsheet: citizens' questions are stored as typed, so
    one can start like a formula (`=HYPERLINK(...)`); it is prefixed with ' and shown as text. None -> ""."""
    if isinstance(value, str) and value.startswith(SPREADSHEET_FORMULA):
        return "'" + value
    return "" if value is None else value


def section_rows(name: str, data: Any) -> tuple[list[str], list[list[Any]]]:
    """A report section (plain data, as in full_report) as a header and flat rows, for CSV and tables.
    Funnels get one row per step; lists of texts are joined with " | "."""
    if name == "funnels":
        header = ["guide_id", "topic", "users", "finished", "completion_rate", "step", "step_users", "dropped", "drop_off_rate"]
        rows = [[fn["guide_id"], fn["topic"], fn["users"], fn["finished"], fn["completion_rate"], s["step"], s["users"], s["dropped"], s["drop_off_rate"]] for fn in data for s in fn["steps"]]
        return header, rows
    if name == "notes":
        return ["note"], [[n] for n in data]
    items = [data] if isinstance(data, dict) else list(data)
    if not items:
        return [], []
    header = list(items[0])
    rows = [[" | ".join(map(str, v)) if isinstance(v, list) else v for v in (item[h] for h in header)] for item in items]
    return header, rows
