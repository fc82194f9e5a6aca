"""Events -> the database (SQLite or PostgreSQL, bot.storage), batched off the hot path, privacy-safe,
fast to report on.

Why this shape:
- What a citizen was told is stored (issue 10, section 3): `stored(event)` returns a future that is done
  once the event's transaction has committed, and the service sends the reply only then. One writer thread
  does a group commit: whatever is queued when it wakes goes into one transaction, so under load many
  answers share one commit and throughput holds (the cost is measured in bench/bench_durability.py).
  `record(event)` (fire and forget) is for bulk writers: those batches wait up to `flush_interval`.
  On SQLite, WAL with synchronous=NORMAL (set by bot.storage) makes a committed transaction survive the
  process being killed (kill -9, OOM); only a power cut or an OS crash can still lose the last commits.
  On PostgreSQL a commit is as durable as the server's settings make it.
- A locked database, a full disk or a PostgreSQL server gone away is logged and retried with backoff (on
  a fresh connection); the bot keeps answering (the service waits only a bounded time for a commit, see
  bot.service).
- Dashboards must stay under a second at a million events: each batch also updates small daily rollup
  tables (counts by day, channel, topic, kind, language, source, ward; users seen per day; guide steps
  reached; feedback), so reports read thousands of rollup rows instead of scanning every event. At ten
  million events the all-time figures that count citizens need more: user_firsts (each citizen's first
  day, overall and per channel, ward and source) and guide_furthest (each citizen's furthest page of each
  guide), one row per citizen instead of one per citizen and day (migration 0003).
- Nothing identifying is stored: events arrive with a salted user hash and redacted text (the question
  as typed, and its folded grouping key; bot.engine builds them that way); `forget()` removes a citizen's
  events, per-user rows and their share of the question and feedback rollups (forget_user).
- The tables are created by bot.storage's migrations (bot/storage/migrations/versions), like every other.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass, fields
from operator import attrgetter
from pathlib import Path
from typing import Iterable

from bot import storage
from bot.engine import Event
from bot.storage.dialect import for_postgresql

log = logging.getLogger("digiguide.analytics")

VIETNAM = dt.timezone(dt.timedelta(hours=7))
UNANSWERED_KINDS = ("fallback", "suggest")
EVENT_COLUMNS = [f.name for f in fields(Event)]
ROLLUP_DIMS = ("channel", "topic", "kind", "lang", "source", "ward")  # the order of the daily table's key
VIETNAM_OFFSET = 7 * 3600
_event_values = attrgetter(*EVENT_COLUMNS)
# the tables forget_user deletes from (vacuumed afterwards on PostgreSQL)
CITIZEN_TABLES = ("events", "daily_users", "daily_guide", "daily_questions", "daily_feedback", "cluster_marks", "user_firsts", "guide_furthest")
ROLLUP_TABLES = ("daily", "daily_users", "daily_guide", "daily_feedback", "daily_questions")
USER_DIMS = ("channel", "source", "ward")  # daily_users' columns after (day, user), and user_firsts' dimensions


def local_day(ts: float) -> str:
    """Calendar day in Vietnam (UTC+7): officials think in local days and weeks."""
    return dt.datetime.fromtimestamp(ts, VIETNAM).strftime("%Y-%m-%d")


def connect(where: storage.Target | Path | str) -> storage.Database:
    """Open the database where the events live (bot.storage.connect: opened, and migrated if it is behind)."""
    return storage.connect(where)


def _dim(value) -> str:
    return "" if value is None else str(value)


_EVENT_INSERT = f"insert into events (day, {', '.join(EVENT_COLUMNS)}) values ({', '.join('?' * (len(EVENT_COLUMNS) + 1))})"
_DAILY_UPSERT = """insert into daily (day, channel, topic, kind, lang, source, ward, n) values (?, ?, ?, ?, ?, ?, ?, ?)
    on conflict (day, channel, topic, kind, lang, source, ward) do update set n = daily.n + excluded.n"""
_USERS_INSERT = "insert or ignore into daily_users (day, user, channel, source, ward) values (?, ?, ?, ?, ?)"
_GUIDE_INSERT = "insert or ignore into daily_guide (day, guide_id, step, user) values (?, ?, ?, ?)"
_FEEDBACK_UPSERT = """insert into daily_feedback (day, entry_id, topic, up, down) values (?, ?, ?, ?, ?)
    on conflict (day, entry_id) do update set up = daily_feedback.up + excluded.up, down = daily_feedback.down + excluded.down"""
# the all-time rollups (migration 0003): a first day only moves earlier, a furthest page only further
_FIRSTS_UPSERT = """insert into user_firsts (dimension, value, user, day) values (?, ?, ?, ?)
    on conflict (dimension, value, user) do update set day = excluded.day where excluded.day < user_firsts.day"""
_FURTHEST_UPSERT = """insert into guide_furthest (guide_id, user, furthest, last_day) values (?, ?, ?, ?)
    on conflict (guide_id, user) do update set
    furthest = case when excluded.furthest > guide_furthest.furthest then excluded.furthest else guide_furthest.furthest end,
    last_day = case when excluded.last_day > guide_furthest.last_day then excluded.last_day else guide_furthest.last_day end"""
_QUESTIONS_UPSERT = """insert into daily_questions (day, question_key, topic, kind, channel, ward, n) values (?, ?, ?, ?, ?, ?, ?)
    on conflict (day, question_key, topic, kind, channel, ward) do update set n = daily_questions.n + excluded.n"""


def write_batch(db: storage.Database, events: list[Event]) -> None:
    """Insert events and update every rollup in one transaction: all of a batch or none of it.

    The rollup rows go in key order, so that two writers (two server processes on one PostgreSQL database)
    lock shared rows in the same order and never deadlock. On PostgreSQL the events go in through COPY
    and each rollup in one statement over arrays (_unnest): half as fast again as executemany."""
    rows = []
    daily: Counter = Counter()
    users: dict[tuple[str, str], tuple[str, str, str]] = {}
    guide: set[tuple[str, str, int, str]] = set()
    feedback: dict[tuple[str, str], list] = {}
    questions: Counter = Counter()
    days: dict[int, str] = {}
    for e in events:
        # The writer shares the GIL with the engine: keep per-event Python work small (no asdict, one
        # strftime per calendar day).
        index = int(e.ts + VIETNAM_OFFSET) // 86400
        day = days.get(index) or days.setdefault(index, local_day(e.ts))
        rows.append((day, *_event_values(e)))
        daily[(day, e.channel, _dim(e.topic), e.kind, _dim(e.lang), _dim(e.source), _dim(e.ward))] += 1
        users.setdefault((day, e.user), (e.channel, _dim(e.source), _dim(e.ward)))
        if e.guide_step is not None and e.entry_id is not None:  # any way into a guide page: step, typed, tapped, deep link
            guide.add((day, e.entry_id, e.guide_step, e.user))
        if e.feedback in ("up", "down") and e.entry_id:
            slot = feedback.setdefault((day, e.entry_id), [_dim(e.topic), 0, 0])
            slot[1 if e.feedback == "up" else 2] += 1
        if e.question_key:
            questions[(day, e.question_key, _dim(e.topic), e.kind, e.channel, _dim(e.ward))] += 1
    rollups = (
        [(*k, n) for k, n in sorted(daily.items())],
        [(*k, *v) for k, v in sorted(users.items())],
        sorted(guide),
        [(day, entry, topic, up, down) for (day, entry), (topic, up, down) in sorted(feedback.items())],
        [(*k, n) for k, n in sorted(questions.items())],
        _firsts(users),
        _furthest(guide),
    )
    with db.transaction():
        if db.engine == "postgresql":
            db.copy_in("events", ["day", *EVENT_COLUMNS], rows)
            for (_, batch_sql), values in zip(_ROLLUPS, rollups):
                if values:
                    db.raw.execute(batch_sql, [list(column) for column in zip(*values)])
        else:
            db.executemany(_EVENT_INSERT, rows)
            for (sql, _), values in zip(_ROLLUPS, rollups):
                db.executemany(sql, values)


def _firsts(users: dict[tuple[str, str], tuple[str, str, str]]) -> list[tuple[str, str, str, str]]:
    """user_firsts rows of a batch: each (dimension, value, user) once, with its earliest day in the batch."""
    first: dict[tuple[str, str, str], str] = {}
    for (day, user), values in users.items():
        for key in (("all", "", user), *((d, v, user) for d, v in zip(USER_DIMS, values))):
            if key not in first or day < first[key]:
                first[key] = day
    return [(*k, day) for k, day in sorted(first.items())]


def _furthest(guide: set[tuple[str, str, int, str]]) -> list[tuple[str, str, int, str]]:
    """guide_furthest rows of a batch: each (guide, user) once, with its furthest page and last day."""
    best: dict[tuple[str, str], list] = {}
    for day, guide_id, step, user in guide:
        slot = best.setdefault((guide_id, user), [step, day])
        slot[0], slot[1] = max(slot[0], step), max(slot[1], day)
    return [(*k, step, day) for k, (step, day) in sorted(best.items())]


def rebuild_all_time(db: storage.Database) -> None:
    """Fill user_firsts and guide_furthest again from the daily tables (after a purge has cut their days).
    Call inside a transaction."""
    db.execute("delete from user_firsts")
    db.execute("insert into user_firsts (dimension, value, user, day) select 'all', '', user, min(day) from daily_users group by user")
    for d in USER_DIMS:
        db.execute(f"insert into user_firsts (dimension, value, user, day) select '{d}', {d}, user, min(day) from daily_users group by {d}, user")
    db.execute("delete from guide_furthest")
    db.execute("insert into guide_furthest (guide_id, user, furthest, last_day) select guide_id, user, max(step), max(day) from daily_guide group by guide_id, user")


def _unnest(sql: str, types: str) -> str:
    """PostgreSQL's form of a rollup statement for a whole batch at once: `... select * from unnest(%s::text[], ...)`
    with one array per column, instead of one execution per row (the executemany of the same statements
    ingests at about 12,500 events/s on this project's 2-core machine; this and COPY at about 19,500)."""
    head, tail = sql.split(" values (", 1)
    arrays = ", ".join(f"?::{t}[]" for t in types.split())
    return for_postgresql(f"{head} select * from unnest({arrays}){tail.split(')', 1)[1]}")


# each rollup statement, and its PostgreSQL form (the column types of its values, in order)
_ROLLUPS = [
    (sql, _unnest(sql, types))
    for sql, types in (
        (_DAILY_UPSERT, "text text text text text text text int"),
        (_USERS_INSERT, "text text text text text"),
        (_GUIDE_INSERT, "text text int text"),
        (_FEEDBACK_UPSERT, "text text text int int"),
        (_QUESTIONS_UPSERT, "text text text text text text int"),
        (_FIRSTS_UPSERT, "text text text text"),
        (_FURTHEST_UPSERT, "text text int text"),
    )
]


# What one citizen's events added to daily_questions and daily_feedback: write_batch's keys, in SQL.
_QUESTIONS_OF = """select day, question_key, coalesce(topic, ''), kind, channel, coalesce(ward, ''), count(*) from events
    where user = ? and question_key is not null and question_key != '' group by 1, 2, 3, 4, 5, 6"""
_FEEDBACK_OF = """select day, entry_id, sum(case when feedback = 'up' then 1 else 0 end), sum(case when feedback = 'down' then 1 else 0 end)
    from events where user = ? and feedback in ('up', 'down') and entry_id is not null and entry_id != '' group by 1, 2"""
_QUESTION_ROW = "day = ? and question_key = ? and topic = ? and kind = ? and channel = ? and ward = ?"


def forget_user(db: storage.Database, user: str) -> int:
    """Delete everything kept of one citizen, in one transaction. Returns events deleted.

    Their events and their rows of daily_users, daily_guide, user_firsts and guide_furthest go; what their events added to
    daily_questions (whose keys are their own words) and daily_feedback is taken off again, rows left at
    zero deleted, while the same question asked by others keeps their count; a triage mark on a question
    key that nobody else asked goes with it. Only `daily` keeps them, as anonymous counts by day, channel,
    topic, kind, language, source and ward.

    No old copy stays readable afterwards. On SQLite the deleted content is overwritten (bot.storage turns
    secure_delete on for every connection, whatever SQLite's build default) and the write-ahead log is
    checkpointed and truncated. On PostgreSQL a DELETE only marks the row versions dead, and their bytes
    stay in the table's pages until a vacuum reclaims them (autovacuum may take hours on a quiet table),
    so the touched tables are vacuumed right after the commit: the dead versions are removed and their
    space is marked free for new rows. PostgreSQL has no secure_delete: until new rows reuse that space,
    and until the server recycles its WAL segments, the bytes can still be on the server's disk (they are
    no longer reachable through any query); an operator who must guarantee more runs VACUUM FULL."""
    with db.transaction():
        questions = db.execute(_QUESTIONS_OF, [user]).fetchall()
        feedback = db.execute(_FEEDBACK_OF, [user]).fetchall()
        _take_off_firsts(db, user)
        deleted = db.execute("delete from events where user = ?", [user]).rowcount
        db.execute("delete from daily_users where user = ?", [user])
        db.execute("delete from daily_guide where user = ?", [user])
        _take_off_questions(db, questions)
        _take_off_feedback(db, feedback)
    if not db.reclaim(CITIZEN_TABLES):  # a long report still reads an older snapshot: the next checkpoint overwrites those pages
        log.warning("forget: the write-ahead log could not be truncated yet (a reader is busy)")
    return deleted


def _take_off_firsts(db: storage.Database, user: str) -> None:
    """Delete a citizen's user_firsts and guide_furthest rows by primary key (the tables have no by-user
    index), with every channel, source, ward and guide their events and daily rows hold (the events: a
    later batch of the same day may have added a value the day's daily_users row does not keep). Call
    before deleting those."""
    dims = ", ".join(f"coalesce({d}, '')" for d in USER_DIMS)
    values = db.execute(f"select {dims} from events where user = ? union select {dims} from daily_users where user = ?", [user, user]).fetchall()
    keys = {("all", "")} | {(d, v) for row in values for d, v in zip(USER_DIMS, row)}
    db.executemany("delete from user_firsts where dimension = ? and value = ? and user = ?", [(d, v, user) for d, v in sorted(keys)])
    guides = db.execute("""select entry_id from events where user = ? and guide_step is not null and entry_id is not null
                           union select guide_id from daily_guide where user = ?""", [user, user]).fetchall()
    db.executemany("delete from guide_furthest where guide_id = ? and user = ?", [(g, user) for (g,) in sorted(guides)])


def _take_off_questions(db: storage.Database, rows: list[tuple]) -> None:
    """Subtract a citizen's counts from daily_questions; delete rows left at zero and orphaned marks."""
    db.executemany(f"update daily_questions set n = n - ? where {_QUESTION_ROW}", [(n, *key) for *key, n in rows])
    db.executemany(f"delete from daily_questions where {_QUESTION_ROW} and n <= 0", [tuple(key) for *key, _ in rows])
    for key in sorted({key[1] for *key, _ in rows}):
        if db.execute("select 1 from cluster_marks where question_key = ?", [key]).fetchone() is None:
            continue  # the usual case: only a key an official marked is looked for among everybody's questions
        if db.execute("select 1 from daily_questions where question_key = ? limit 1", [key]).fetchone() is None:
            db.execute("delete from cluster_marks where question_key = ?", [key])


def _take_off_feedback(db: storage.Database, rows: list[tuple]) -> None:
    """Subtract a citizen's 👍/👎 from daily_feedback; delete rows left with none."""
    db.executemany(
        """update daily_feedback set up = case when up > ? then up - ? else 0 end, down = case when down > ? then down - ? else 0 end
           where day = ? and entry_id = ?""",
        [(up, up, down, down, day, entry) for day, entry, up, down in rows],
    )
    db.executemany("delete from daily_feedback where day = ? and entry_id = ? and up = 0 and down = 0", [(day, entry) for day, entry, _, _ in rows])


def purge_older_than(db: storage.Database, days: int, today: dt.date | None = None) -> int:
    """Delete events and rollups older than `days` days (Vietnam calendar). Returns events deleted."""
    today = today or dt.datetime.now(VIETNAM).date()
    cutoff = (today - dt.timedelta(days=days)).isoformat()
    with db.transaction():
        deleted = db.execute("delete from events where day < ?", [cutoff]).rowcount
        for table in ROLLUP_TABLES:
            db.execute(f"delete from {table} where day < ?", [cutoff])
        rebuild_all_time(db)  # a first day or a furthest page may have been in the days just cut
    return deleted


class EventStore:
    """Queue + writer thread. `record()` and `stored()` are safe from any thread and never block on the disk."""

    def __init__(self, where: storage.Target | Path | str, flush_interval: float = 1.0, max_batch: int = 5000, max_backlog: int = 1_000_000):
        """`where`: the database (a file path, sqlite:///path or postgresql://...; bot.storage)."""
        self.where = where
        self.target = storage.Target.parse(where)
        self.path = self.target.path  # the SQLite file (None on PostgreSQL)
        self.flush_interval = flush_interval
        self.max_batch = max_batch
        self.max_backlog = max_backlog
        # Queued and pending items are bare Events (record: no allocation per event, which at a million
        # events costs the garbage collector dearly) or _Waiting (stored); None only wakes the writer.
        self._queue: queue.SimpleQueue[Event | _Waiting | None] = queue.SimpleQueue()
        self._pending: list[Event | _Waiting] = []  # taken from the queue, not yet committed
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._forget: queue.SimpleQueue[tuple[str, threading.Event, list]] = queue.SimpleQueue()
        self.committed = 0
        self.failures = 0

    # -- producer side --------------------------------------------------------------------------------------
    def record(self, event: Event) -> None:
        """Queue an event; it is committed within `flush_interval` (bulk writers, replays)."""
        self._queue.put(event)

    def stored(self, event: Event, linger: float = 0.0) -> Future:
        """Queue an event and get a future that is done once it is committed (or dropped by a /forget of its
        user). The writer commits at once when such an event waits: a group commit with all else queued.

        `linger`: the caller knows more events are coming (answers still being worked out): the writer may
        wait that long for them, so that they share one commit. Zero (nothing else coming) commits now."""
        waiting = _Waiting(event, Future(), linger)
        self._queue.put(waiting)
        return waiting.done

    @property
    def backlog(self) -> int:
        """Events queued or pending, not yet committed (a growing number means the disk is refusing writes)."""
        return self._queue.qsize() + len(self._pending)

    def forget(self, user: str, timeout: float = 10.0) -> int:
        """Delete a user's events, including any still queued. Blocks until done (rare, explicit request)."""
        done, result = threading.Event(), []
        self._forget.put((user, done, result))
        self._queue.put(None)  # wake the writer now rather than at the end of its interval
        if self._thread is None or not self._thread.is_alive():
            self._run_once()
        done.wait(timeout)
        return result[0] if result else 0

    # -- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> "EventStore":
        connect(self.where).close()  # create / migrate before the first event
        self._thread = threading.Thread(target=self._run, name="analytics-writer", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Flush everything queued, then stop the writer."""
        self._stopping.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
        else:
            self._run_once()

    # -- writer side ----------------------------------------------------------------------------------------
    def _drain_queue(self, wait: float) -> None:
        """Move queued events to `_pending`: wait up to `wait` seconds for more, but once an event someone
        waits for (from `stored`) is among them, only as long as the latest such event's `linger` allows
        (bounded from the first one's arrival), and never past a wake-up (None)."""
        deadline = time.monotonic() + wait
        if any(type(item) is _Waiting for item in self._pending):
            deadline = time.monotonic()  # a retry after a failure: whoever waits has waited enough
        first_waiter = None
        while len(self._pending) < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                return
            if item is None:  # stop(), forget(): act now rather than wait out the interval
                deadline = time.monotonic()
                continue
            self._pending.append(item)
            if type(item) is _Waiting:
                now = time.monotonic()
                first_waiter = first_waiter or now
                deadline = min(deadline, first_waiter + item.linger) if item.linger > 0 else now

    def _connected(self, db: storage.Database | None) -> storage.Database | None:
        """`db` if it is still usable, else a new connection (None while the database cannot be reached: a
        PostgreSQL server restarting, a file on a disk that went away); the caller retries later."""
        if db is not None and not db.broken:
            return db
        if db is not None:
            _close(db)
        try:
            return connect(self.where)
        except Exception as exc:  # storage.Error, or a migration that could not run: keep the writer alive
            self.failures += 1
            log.error("analytics database unavailable (%s); %d event(s) kept in memory, retrying", exc, len(self._pending))
            self._trim_backlog()
            return None

    def _trim_backlog(self) -> None:
        if len(self._pending) > self.max_backlog:
            dropped = len(self._pending) - self.max_backlog
            _settle(self._pending[:dropped], False)
            del self._pending[:dropped]
            log.error("analytics backlog over %d events: dropped the %d oldest", self.max_backlog, dropped)

    def _flush(self, db: storage.Database | None) -> bool:
        if not self._pending:
            return True
        if db is None:
            return False
        batch = self._pending[: self.max_batch]
        try:
            write_batch(db, [item.event if type(item) is _Waiting else item for item in batch])
        except storage.Error as exc:  # locked, disk full, I/O error, server gone: keep the batch, try again later
            self.failures += 1
            log.error("analytics write failed (%s); %d event(s) kept in memory, retrying", exc, len(self._pending))
            self._trim_backlog()
            return False
        del self._pending[: len(batch)]
        self.committed += len(batch)
        _settle(batch, True)
        return True

    def _handle_forget(self, db: storage.Database | None) -> None:
        while True:
            try:
                user, done, result = self._forget.get_nowait()
            except queue.Empty:
                return
            self._drain_queue(0)
            mine = [item for item in self._pending if _event(item).user == user]
            _settle(mine, False)
            self._pending = [item for item in self._pending if _event(item).user != user]
            try:
                result.append(forget_user(db, user) if db is not None else 0)
                if db is None:
                    log.error("forget failed: the analytics database cannot be reached")
            except storage.Error as exc:
                log.error("forget failed: %s", exc)
                result.append(0)
            done.set()

    def _run_once(self) -> None:
        db = connect(self.where)
        try:
            self._handle_forget(db)
            self._drain_queue(0)
            while self._pending and self._flush(db):
                self._drain_queue(0)
        finally:
            _close(db)

    def _run(self) -> None:
        db = self._connected(None)
        wait = self.flush_interval
        try:
            while True:
                self._drain_queue(wait)  # up to one interval, a full batch, or at once for a waiter
                db = self._connected(db)
                self._handle_forget(db)
                ok = self._flush(db)
                while ok and self._pending:  # a backlog, or a waiter that came in after the batch was cut
                    ok = self._flush(db)
                wait = self.flush_interval if ok else min(wait * 2, 30.0)
                if not ok:
                    time.sleep(min(wait, 1.0))  # the queue may keep waking us: back off on the disk anyway
                if self._stopping.is_set() and self._queue.empty():
                    for _ in range(5):  # final flush; a few retries if the disk is briefly unavailable
                        self._drain_queue(0)
                        db = self._connected(db)
                        if self._flush(db) and not self._pending:
                            break
                        time.sleep(0.2)
                    _settle(self._pending, False)
                    return
        finally:
            if db is not None:
                _close(db)

    @staticmethod
    def read(where: storage.Target | Path | str) -> Iterable[dict]:
        """Every stored event as a dict, oldest first (tests and export)."""
        db = connect(where)
        try:
            cursor = db.execute("select * from events order by id")
            names = [d[0] for d in cursor.description]
            for row in cursor:
                yield dict(zip(names, row))
        finally:
            db.close()


def _close(db: storage.Database) -> None:
    try:
        db.close()
    except storage.Error:  # already broken: nothing left to close
        pass


@dataclass(slots=True)
class _Waiting:
    """An event someone waits for (EventStore.stored): its future, and how long the writer may linger."""

    event: Event
    done: Future
    linger: float


def _event(item: Event | _Waiting) -> Event:
    return item.event if type(item) is _Waiting else item


def _settle(items: list[Event | _Waiting], committed: bool) -> None:
    """Tell whoever waits for these events whether they were committed."""
    for item in items:
        if type(item) is _Waiting and not item.done.done():
            item.done.set_result(committed)
