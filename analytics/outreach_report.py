"""Results per working group and per ward: which posters and links brought citizens in, and what they did.

Pure queries over the analytics database, like analytics/report.py (same `Filters`, same dataclass style;
nothing here prints). The dashboard's /dashboard/groups page and `python -m analytics groups` show them.

    outreach(db, groups, guide_pages, Filters(since=..., until=...))   -> Outreach (to_plain for JSON)
    section_rows(name, plain[name])                                    -> CSV header and rows

Definitions
- A citizen's group is the working group inside their first-touch source (bot.outreach: the payload or poster
  code they first arrived with, e.g. "g-eid-activate__tdp-phuc-yen-5" -> "tdp-phuc-yen-5"). The engine keeps
  that source on every later event, so each citizen belongs to at most one group.
- New citizens reached: citizens whose first day with DigiGuide began with a link or poster code of the
  group (the source of their first event, as `daily_users` keeps it), counted once, on that day, when it is
  in the range. Someone who already used the bot and scans a poster later is not new: their questions and
  guides count for the group from then on, but not as a new citizen. Limit of the rollup: a newcomer who
  wrote something else first and scanned the poster later that same day has an empty source for that day;
  they are not counted as new either (daily_users keeps the day's first source).
- Questions (faq, guide, suggest, fallback; answered = faq + guide) and topics: events whose source carries
  the group, from the `daily` rollup (exact per event).
- Guides started and finished: (citizen, guide) pairs from `daily_guide`, joined with `daily_users` on (day,
  user) for the group (the day's first source). Started = any page of the guide seen in the range (counted
  on the first such day); finished = the wrap-up page after the last step (page len(steps) + 1) reached,
  counted on the first day it was. A guide the content no longer has counts as started only.
- Per ward: the sum over the working groups of that ward (the ward in content/locality.yaml; "" = none).
  "all" sums every group. A group found in the data but no longer in the content is listed with no ward.
- Weekly: ISO weeks (Monday start, "2025-W10"), zero-filled from the range start (or the first day with
  data) to its end (or the last day with data); a week cut by since/until counts only the days in range.
- Posters: new citizens per group and target (the payload without its group: "g-eid-activate", "menu"),
  i.e. which poster or link of the group brought them.
- Filters: since, until and ward apply (a ward keeps only its own groups, and "all" is then the sum of
  those; "" keeps the groups without a ward); channel, topic and source filters are ignored (notes say so).

Speed: three independent passes, each one scan of one rollup: new citizens (daily_users grouped by user),
guides (daily_guide joined with daily_users by primary key) and questions (daily). The guide and question
passes run on two threads with connections of their own (read-only ones on an SQLite file, which releases
the GIL while it works; on PostgreSQL each connection's query runs in its own server process); on this
project's 2-core machine that saves 15-20 % on SQLite (the scans compete for memory more than for the
cores). The SQL is the same on both engines. Measured best of three (tests/test_outreach_report.py, the million-event test):
on /tmp/a1m.db (1M events, 225,000 daily_users rows) 0.3-0.4 s for the page's default 12 weeks and about
0.5 s for all time; on a copy where about 60,000 citizens came through working groups, 0.6-0.7 s and about
1 s.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from bot import storage
from bot.outreach import GROUP_SEPARATOR

from .report import ANSWERED_KINDS, QUESTION_KINDS, Filters, _kinds_sql, _rate, iso_week, to_plain

SECTIONS = ("groups", "wards", "weekly", "topics", "guides", "posters")


# -- result types ----------------------------------------------------------------------------------------------

@dataclass
class GroupResult:
    level: str  # group | ward | all
    id: str  # the group id, the ward id ("" = no ward) or "" for all
    ward: str | None  # the group's ward (level group); the ward itself (level ward)
    new_citizens: int = 0
    questions: int = 0
    answered: int = 0
    answer_rate: float | None = None
    guides_started: int = 0
    guides_finished: int = 0
    completion_rate: float | None = None
    top_topic: str | None = None


@dataclass
class GroupWeek:
    level: str
    id: str
    period: str  # "2025-W10"
    start: str  # its Monday
    new_citizens: int = 0
    questions: int = 0
    answered: int = 0
    guides_started: int = 0
    guides_finished: int = 0


@dataclass
class GroupTopic:
    level: str
    id: str
    topic: str  # "" = no topic (fallbacks)
    questions: int
    answered: int


@dataclass
class GroupGuide:
    level: str
    id: str
    guide_id: str
    started: int
    finished: int
    completion_rate: float | None


@dataclass
class GroupPoster:
    level: str
    id: str
    target: str  # the payload without its group: g-<guide>, t-<topic>, f-<faq> or menu
    new_citizens: int


@dataclass
class Outreach:
    filters: dict[str, Any]
    notes: list[str]
    groups: list[GroupResult] = field(default_factory=list)
    wards: list[GroupResult] = field(default_factory=list)
    weekly: list[GroupWeek] = field(default_factory=list)
    topics: list[GroupTopic] = field(default_factory=list)
    guides: list[GroupGuide] = field(default_factory=list)
    posters: list[GroupPoster] = field(default_factory=list)


# -- the passes over the rollups -------------------------------------------------------------------------------
# Each pass groups by the whole source ("target__group") in SQL and splits it in Python: the rows are few
# (sources times days), and both engines then run the same SQL (SQLite has instr(), PostgreSQL strpos()).

def _like_group() -> str:
    """A LIKE pattern for a source that carries a group (the separator's "_" are LIKE wildcards: escaped)."""
    escaped = GROUP_SEPARATOR.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


_HAS_GROUP = "like ? escape '\\'"  # after the source column; the parameter is _like_group()


def _split(source: str) -> tuple[str, str]:
    """A source's (group, target): "g-eid-activate__tdp-phuc-yen-5" -> ("tdp-phuc-yen-5", "g-eid-activate")."""
    target, _, group = source.partition(GROUP_SEPARATOR)
    return group, target


def _touch_pass(db: storage.Database, f: Filters) -> list[tuple[str, str, str, int]]:
    """(group, target, day, citizens): citizens whose first day's source carries a group, by that day."""
    lo, hi = f.bounds
    # one row per citizen: their first day and its source. Days are all ten characters (YYYY-MM-DD), so the
    # least `day || source` of a citizen is their first day followed by that day's source.
    sql = f"""select first_day, source, count(*) from (
                select substr(first, 1, 10) as first_day, substr(first, 11) as source from (
                    select min(day || source) as first from daily_users group by user) citizens) firsts
              where source {_HAS_GROUP} and first_day between ? and ? group by first_day, source"""
    out: Counter = Counter()
    for day, source, n in db.execute(sql, [_like_group(), lo, hi]).fetchall():
        out[(*_split(source), day)] += n
    return [(*key, n) for key, n in out.items()]


def _guide_pass(db: storage.Database, f: Filters, guide_pages: Mapping[str, int]) -> list[tuple[str, str, str, str | None, int]]:
    """(group, guide, day started, day finished or None, pairs): the groups' (citizen, guide) pairs, each on
    the first day in range it was seen on the guide and on the guide's wrap-up page; the group is that of
    the source of the first of those days."""
    lo, hi = f.bounds
    if guide_pages:
        case = "case g.guide_id " + " ".join("when ? then ?" for _ in guide_pages) + " end"
        params: list[Any] = [v for guide, steps in guide_pages.items() for v in (guide, steps + 1)]
    else:
        case, params = "null", []
    sql = f"""select source, guide_id, started, finished, count(*) from (
                select substr(min(g.day || u.source), 11) as source, g.guide_id, min(g.day) as started,
                       min(case when g.step >= {case} then g.day end) as finished
                from daily_guide g join daily_users u on u.day = g.day and u.user = g.user
                where g.day between ? and ? and u.source {_HAS_GROUP} group by g.user, g.guide_id) pairs
              group by 1, 2, 3, 4"""
    out: Counter = Counter()
    for source, guide, started, finished, n in db.execute(sql, [*params, lo, hi, _like_group()]).fetchall():
        out[(_split(source)[0], guide, started, finished)] += n
    return [(*key, n) for key, n in out.items()]


def _question_pass(db: storage.Database, f: Filters) -> list[tuple[str, str, str, str, int]]:
    """(group, day, topic, kind, questions) for the question kinds of sources that carry a group."""
    lo, hi = f.bounds
    sql = f"""select source, day, topic, kind, sum(n) from daily
              where day between ? and ? and source {_HAS_GROUP} and kind in {_kinds_sql(QUESTION_KINDS)} group by source, day, topic, kind"""
    out: Counter = Counter()
    for source, day, topic, kind, n in db.execute(sql, [lo, hi, _like_group()]).fetchall():
        out[(_split(source)[0], day, topic, kind)] += n
    return [(*key, n) for key, n in out.items()]


def _apart(db: storage.Database) -> bool:
    """Whether another connection can read what `db` reads (not an SQLite database in memory)."""
    path = db.target.path
    return db.engine == "postgresql" or (path is not None and str(path) != ":memory:" and Path(path).exists())


def _reader(db: storage.Database) -> storage.Database:
    """A connection of its own to the same database, for a pass on another thread. SQLite: read-only, on the
    same file. PostgreSQL: a plain new connection (the schema is there: no migration check)."""
    if db.engine == "postgresql":
        return storage.open_database(db.target, application="digiguide-outreach")
    conn = sqlite3.connect(f"{Path(db.target.path).resolve().as_uri()}?mode=ro", uri=True, timeout=5.0, check_same_thread=False)
    return storage.Database(db.target, conn)


def _run_passes(db: storage.Database, f: Filters, guide_pages: Mapping[str, int], parallel: bool) -> tuple[list, list, list]:
    """The three passes; in parallel, the guide and question passes run on threads of their own, each with
    its own connection: SQLite releases the GIL while it works, and PostgreSQL runs each connection's query
    in a server process of its own."""
    if not parallel or not _apart(db):
        return _touch_pass(db, f), _guide_pass(db, f, guide_pages), _question_pass(db, f)

    def on_own_connection(fn: Callable[..., list], *args: Any) -> list:
        own = _reader(db)
        try:
            return fn(own, *args)
        finally:
            own.close()

    guides = _POOL.submit(on_own_connection, _guide_pass, f, guide_pages)
    questions = _POOL.submit(on_own_connection, _question_pass, f)
    touches = _touch_pass(db, f)
    return touches, guides.result(), questions.result()


_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="outreach")


def _data_days(db: storage.Database) -> tuple[str | None, str | None]:
    return tuple(db.execute("select min(day), max(day) from daily").fetchone())  # type: ignore[return-value]


# -- the report ------------------------------------------------------------------------------------------------

def notes(f: Filters) -> list[str]:
    ignored = [d for d in ("channel", "topic", "source") if getattr(f, d) is not None]
    return [f"Working-group results apply only the date range and the ward; the {', '.join(ignored)} filter is ignored."] if ignored else []


def outreach(
    db: storage.Database,
    groups: Mapping[str, Any] | None = None,
    guide_pages: Mapping[str, int] | None = None,
    f: Filters = Filters(),
    *,
    parallel: bool = True,
) -> Outreach:
    """Every section for the range of `f`. `groups` (kb.working_groups: id -> object with .ward) lists the
    groups to show even without data and gives their wards; `guide_pages` (guide id -> number of steps)
    says which page is the wrap-up (steps + 1)."""
    groups = groups or {}
    guide_pages = guide_pages or {}
    lo, hi = f.bounds
    ward_of: dict[str, str] = {gid: (getattr(g, "ward", None) or "") for gid, g in groups.items()}

    touch_rows, guide_rows, question_rows = _run_passes(db, f, guide_pages, parallel)
    new: dict[str, Counter] = defaultdict(Counter)  # group -> day -> citizens
    posters: dict[str, Counter] = defaultdict(Counter)  # group -> target -> citizens
    for group, target, day, n in touch_rows:
        new[group][day] += n
        posters[group][target] += n
    started: dict[str, Counter] = defaultdict(Counter)  # group -> day -> (citizen, guide) pairs
    finished: dict[str, Counter] = defaultdict(Counter)
    per_guide: dict[str, dict[str, list[int]]] = defaultdict(dict)  # group -> guide -> [started, finished]
    for group, guide, day, finished_day, n in guide_rows:
        started[group][day] += n
        slot = per_guide[group].setdefault(guide, [0, 0])
        slot[0] += n
        if finished_day is not None:
            finished[group][finished_day] += n
            slot[1] += n

    questions: dict[str, Counter] = defaultdict(Counter)  # group -> day -> questions
    answered: dict[str, Counter] = defaultdict(Counter)
    topics: dict[str, dict[str, list[int]]] = defaultdict(dict)  # group -> topic -> [questions, answered]
    for group, day, topic, kind, n in question_rows:
        questions[group][day] += n
        slot = topics[group].setdefault(topic, [0, 0])
        slot[0] += n
        if kind in ANSWERED_KINDS:
            answered[group][day] += n
            slot[1] += n
    for table in (new, questions, started):
        for group in table:
            ward_of.setdefault(group, "")
    if f.ward is not None:  # a ward's results: only its groups count, in every section and in "all"
        ward_of = {gid: ward for gid, ward in ward_of.items() if ward == f.ward}

    # levels: each group, each ward (sum of its groups), all groups
    members: dict[tuple[str, str], list[str]] = {}
    for gid in ward_of:
        members[("group", gid)] = [gid]
        members.setdefault(("ward", ward_of[gid]), []).append(gid)
        members.setdefault(("all", ""), []).append(gid)
    order = {gid: i for i, gid in enumerate(groups)}
    group_keys = sorted((k for k in members if k[0] == "group"), key=lambda k: (order.get(k[1], len(order)), k[1]))
    ward_keys = sorted((k for k in members if k[0] == "ward"), key=lambda k: (k[1] == "", k[1]))

    def total(table: Mapping[str, Counter], ids: list[str], days: tuple[str, str] = (lo, hi)) -> int:
        return sum(n for g in ids for d, n in table.get(g, {}).items() if days[0] <= d <= days[1])

    def result(level: str, ident: str) -> GroupResult:
        ids = members[(level, ident)]
        topic_counts: Counter = Counter()
        for g in ids:
            for topic, (q, _a) in topics.get(g, {}).items():
                topic_counts[topic] += q
        top = min(topic_counts.items(), key=lambda kv: (-kv[1], kv[0]))[0] if topic_counts else None
        q, a = total(questions, ids), total(answered, ids)
        s, fin = total(started, ids), total(finished, ids)
        ward = ward_of.get(ident) if level == "group" else (ident if level == "ward" else None)
        return GroupResult(level, ident, ward, total(new, ids), q, a, _rate(a, q), s, fin, _rate(fin, s), top)

    out = Outreach(filters=f.to_dict(), notes=notes(f))
    out.groups = [result(*k) for k in group_keys]
    out.wards = [result(*k) for k in ward_keys]
    all_key = ("all", "")
    if all_key not in members:
        members[all_key] = []
    everything = result(*all_key)

    # weeks
    first, last = _data_days(db)
    if first is not None:
        start = max(dt.date.fromisoformat(first), f.since or dt.date.min)
        end = min(dt.date.fromisoformat(last), f.until or dt.date.max)
        weeks: list[tuple[str, str, str, str]] = []  # label, monday, first day in range, last day in range
        day = start
        while day <= end:
            monday = day - dt.timedelta(days=day.weekday())
            sunday = min(monday + dt.timedelta(days=6), end)
            weeks.append((iso_week(day), monday.isoformat(), day.isoformat(), sunday.isoformat()))
            day = sunday + dt.timedelta(days=1)
        for key in [*group_keys, *ward_keys, all_key]:
            ids = members[key]
            for label, monday, a_day, b_day in weeks:
                span = (a_day, b_day)
                out.weekly.append(
                    GroupWeek(key[0], key[1], label, monday, total(new, ids, span), total(questions, ids, span),
                              total(answered, ids, span), total(started, ids, span), total(finished, ids, span))
                )

    for key in [*group_keys, *ward_keys, all_key]:
        ids = members[key]
        merged: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        guides: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        targets: Counter = Counter()
        for g in ids:
            for topic, (q, a) in topics.get(g, {}).items():
                merged[topic][0] += q
                merged[topic][1] += a
            for guide, (s, fin) in per_guide.get(g, {}).items():
                guides[guide][0] += s
                guides[guide][1] += fin
            targets.update(posters.get(g, {}))
        out.topics += [GroupTopic(key[0], key[1], t, q, a) for t, (q, a) in sorted(merged.items(), key=lambda kv: (-kv[1][0], kv[0]))]
        out.guides += [GroupGuide(key[0], key[1], g, s, fin, _rate(fin, s)) for g, (s, fin) in sorted(guides.items(), key=lambda kv: (-kv[1][0], kv[0]))]
        out.posters += [GroupPoster(key[0], key[1], t, n) for t, n in sorted(targets.items(), key=lambda kv: (-kv[1], kv[0]))]
    out.wards.append(everything)
    return out


def outreach_plain(
    db: storage.Database, groups: Mapping[str, Any] | None = None, guide_pages: Mapping[str, int] | None = None, f: Filters = Filters(), *, parallel: bool = True
) -> dict[str, Any]:
    """outreach() as JSON-ready data."""
    return to_plain(outreach(db, groups, guide_pages, f, parallel=parallel))


def for_kb(db: storage.Database, kb: Any, f: Filters = Filters()) -> dict[str, Any]:
    """outreach() for a KnowledgeBase's working groups and guides, as JSON-ready data."""
    return outreach_plain(db, kb.working_groups, {g.id: len(g.steps) for g in kb.guides.values()}, f)


def section_rows(name: str, data: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """One section (plain data) as a CSV header and rows."""
    if name not in SECTIONS:
        raise KeyError(name)
    columns = {
        "groups": ["level", "id", "ward", "new_citizens", "questions", "answered", "answer_rate", "guides_started", "guides_finished", "completion_rate", "top_topic"],
        "wards": ["level", "id", "ward", "new_citizens", "questions", "answered", "answer_rate", "guides_started", "guides_finished", "completion_rate", "top_topic"],
        "weekly": ["level", "id", "period", "start", "new_citizens", "questions", "answered", "guides_started", "guides_finished"],
        "topics": ["level", "id", "topic", "questions", "answered"],
        "guides": ["level", "id", "guide_id", "started", "finished", "completion_rate"],
        "posters": ["level", "id", "target", "new_citizens"],
    }[name]
    return columns, [[row[c] for c in columns] for row in data]


# -- text output (python -m analytics groups) ------------------------------------------------------------------

TABLE_TITLES = {
    "groups": "Per working group", "wards": "Per ward (sum of its groups; the last line: all groups)",
    "weekly": "New citizens per ISO week", "topics": "Questions per topic (all groups)", "guides": "Guides (all groups)",
    "posters": "New citizens per poster or link (target)",
}


def _cell(value: Any, column: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1%}"
    text = str(value)
    return "(none)" if text == "" and column in ("id", "ward", "topic") else text


def _columns(header: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [header] + [[_cell(v, h) for h, v in zip(header, r)] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    numeric = [all(isinstance(r[i], (int, float)) or r[i] is None for r in rows) for i in range(len(header))]
    return ["  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric)).rstrip() for row in cells]


def as_table(data: dict[str, Any], names: Mapping[str, str] | None = None) -> str:
    """The report (outreach_plain) as text tables; `names` (group id -> short name, e.g. its code) label the
    weekly columns."""
    names = names or {}
    out: list[str] = [f"Filters: since {data['filters']['since'] or '(start)'}, until {data['filters']['until'] or '(end)'}", *data["notes"], ""]
    keep = ["id", "ward", "new_citizens", "questions", "answer_rate", "guides_started", "guides_finished", "completion_rate", "top_topic"]
    for name in ("groups", "wards"):
        out.append(f"== {TABLE_TITLES[name]} ==")
        columns = keep if name == "groups" else [k for k in keep if k != "ward"]
        rows = [[("(all groups)" if r["level"] == "all" and k == "id" else r[k]) for k in columns] for r in data[name]]
        out += (_columns(columns, rows) if rows else ["(nothing)"]) + [""]
    out.append(f"== {TABLE_TITLES['weekly']} ==")
    groups = [r["id"] for r in data["groups"]]
    weeks: dict[str, dict[str, int]] = {}
    for r in data["weekly"]:
        if r["level"] == "group":
            weeks.setdefault(r["period"], {})[r["id"]] = r["new_citizens"]
    if weeks:
        header = ["week", *(names.get(g, g) for g in groups), "all"]
        out += _columns(header, [[w, *(c.get(g, 0) for g in groups), sum(c.values())] for w, c in weeks.items()])
    else:
        out.append("(nothing)")
    out.append("")
    for name, columns in (("topics", ["topic", "questions", "answered"]), ("guides", ["guide_id", "started", "finished", "completion_rate"]), ("posters", ["id", "target", "new_citizens"])):
        out.append(f"== {TABLE_TITLES[name]} ==")
        level = "group" if name == "posters" else "all"
        rows = [[r[c] for c in columns] for r in data[name] if r["level"] == level]
        out += (_columns(columns, rows) if rows else ["(nothing)"]) + [""]
    return "\n".join(out)


def as_csv(data: dict[str, Any]) -> str:
    """Every section, each after a "# <section>" line (like `python -m analytics report --format csv`)."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for name in SECTIONS:
        buf.write(f"# {name}\n")
        header, rows = section_rows(name, data[name])
        writer.writerow(header)
        writer.writerows([["" if v is None else v for v in r] for r in rows])
    return buf.getvalue()
