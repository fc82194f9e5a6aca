"""Events -> SQLite, batched off the hot path, privacy-safe, fast to report on.

Why this shape:
- What a citizen was told is stored (issue 10, section 3): `stored(event)` returns a future that is done
  once the event's transaction has committed, and the service sends the reply only then. One writer thread
  does a group commit: whatever is queued when it wakes goes into one transaction, so under load many
  answers share one commit and throughput holds (the cost is measured in bench/bench_durability.py).
  `record(event)` (fire and forget) is for bulk writers: those batches wait up to `flush_interval`.
  WAL with synchronous=NORMAL makes a committed transaction survive the process being killed (kill -9,
  OOM); only a power cut or an OS crash can still lose the last commits.
- A locked database or a full disk is logged and retried with backoff; the bot keeps answering (the
  service waits only a bounded time for a commit, see bot.service).
- Dashboards must stay under a second at a million events: each batch also updates small daily rollup
  tables (counts by day, channel, topic, kind, language, source, ward; users seen per day; guide steps
  reached; feedback), so reports read thousands of rollup rows instead of scanning every event.
- Nothing identifying is stored: events arrive with a salted user hash and redacted text (the question
  as typed, and its folded grouping key; bot.engine builds them that way); `forget()` removes a citizen's events, per-user rows and their share
  of the question and feedback rollups (forget_user).
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import sqlite3
import threading
import time
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass, fields
from operator import attrgetter
from pathlib import Path
from typing import Iterable

import sqlite_utils

from bot.engine import Event

log = logging.getLogger("digiguide.analytics")

VIETNAM = dt.timezone(dt.timedelta(hours=7))
UNANSWERED_KINDS = ("fallback", "suggest")
EVENT_COLUMNS = [f.name for f in fields(Event)]
ROLLUP_DIMS = ("channel", "topic", "kind", "lang", "source", "ward")  # the order of the daily table's key
VIETNAM_OFFSET = 7 * 3600
_event_values = attrgetter(*EVENT_COLUMNS)
MMAP_SIZE = 256 * 1024 * 1024  # bytes of the database file read through mmap
CACHE_KIB = 32 * 1024  # page cache per connection


def local_day(ts: float) -> str:
    """Calendar day in Vietnam (UTC+7): officials think in local days and weeks."""
    return dt.datetime.fromtimestamp(ts, VIETNAM).strftime("%Y-%m-%d")


# Each migration moves the schema one version up; the version table says where a file stands.
MIGRATIONS: list[list[str]] = [
    [
        """create table events (
            id integer primary key, ts real not null, day text not null, channel text not null, user text not null,
            lang text, kind text not null, topic text, entry_id text, guide_step integer, score real,
            question text, question_key text, source text, ward text, feedback text)""",
        "create index idx_events_day on events(day)",
        "create index idx_events_user on events(user)",
        "create index idx_events_unanswered on events(question_key) where kind in ('fallback', 'suggest')",
        "create index idx_events_feedback on events(entry_id) where feedback is not null",
        """create table daily (
            day text not null, channel text not null, topic text not null, kind text not null, lang text not null,
            source text not null, ward text not null, n integer not null,
            primary key (day, channel, topic, kind, lang, source, ward)) without rowid""",
        """create table daily_users (
            day text not null, user text not null, channel text not null, source text not null, ward text not null,
            primary key (day, user)) without rowid""",
        """create table daily_guide (
            day text not null, guide_id text not null, step integer not null, user text not null,
            primary key (day, guide_id, step, user)) without rowid""",
        """create table daily_feedback (
            day text not null, entry_id text not null, topic text not null, up integer not null, down integer not null,
            primary key (day, entry_id)) without rowid""",
        """create table daily_questions (
            day text not null, question_key text not null, topic text not null, kind text not null,
            channel text not null, ward text not null, n integer not null,
            primary key (day, question_key, topic, kind, channel, ward)) without rowid""",
        """create table cluster_marks (
            question_key text primary key, status text not null check (status in ('resolved', 'ignored')),
            entry_id text, marked_at real not null)""",
    ],
    [
        # For the reports over long ranges (see analytics.report._wide): distinct users per channel, ward
        # and source value, counted in index order without a sort; each user's furthest guide page; and the
        # question kinds of `daily` (about 40% of its rows) with their counts, which every breakdown and
        # series reads. 52 MB at one million events written through EventStore: 287 MB in all, under the
        # 300 MB target. (A sixth, daily_users(user), would save 0.1 s on the user total for 9 MB more.)
        "create index idx_daily_users_channel on daily_users(channel, user)",
        "create index idx_daily_users_ward on daily_users(ward, user)",
        "create index idx_daily_users_source on daily_users(source, user)",
        "create index idx_daily_guide_user on daily_guide(guide_id, user)",
        "create index idx_daily_question_kinds on daily(day, n) where kind in ('faq', 'guide', 'suggest', 'fallback')",
    ],
]


def connect(path: Path | str) -> sqlite_utils.Database:
    """Open (creating and migrating as needed) the analytics database in WAL mode."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=5.0)
    conn.execute("pragma journal_mode=wal")
    conn.execute("pragma synchronous=normal")
    # for reading: pages straight from the OS's file cache (no copy into each new connection's own cache),
    # and a larger page cache for a report's several reads of one rollup. (Not temp_store=memory: SQLite
    # then sorts a GROUP BY through an in-memory b-tree, at one million events 1.5 to 2 times slower.)
    conn.execute(f"pragma mmap_size={MMAP_SIZE}")
    conn.execute(f"pragma cache_size=-{CACHE_KIB}")
    db = sqlite_utils.Database(conn)
    migrate(db)
    return db


def migrate(db: sqlite_utils.Database) -> int:
    if "schema_version" not in db.table_names():
        with db.conn:  # two connections may open a new file at once: create the table once, atomically
            db.execute("begin immediate")
            db.execute("create table if not exists schema_version (version integer not null)")
            if db.execute("select count(*) from schema_version").fetchone()[0] == 0:
                db.execute("insert into schema_version values (0)")
    version = db.execute("select version from schema_version").fetchone()[0]
    while version < len(MIGRATIONS):
        with db.conn:
            db.execute("begin immediate")  # the write lock first: another connection may be migrating too
            version = db.execute("select version from schema_version").fetchone()[0]
            if version < len(MIGRATIONS):
                for sql in MIGRATIONS[version]:
                    db.execute(sql)
                version += 1
                db.execute("update schema_version set version = ?", [version])
    return len(MIGRATIONS)


def _dim(value) -> str:
    return "" if value is None else str(value)


def write_batch(db: sqlite_utils.Database, events: list[Event]) -> None:
    """Insert events and update every rollup in one transaction: all of a batch or none of it."""
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
    conn = db.conn
    with conn:
        conn.execute("begin")
        columns = ["day", *EVENT_COLUMNS]
        conn.executemany(f"insert into events ({', '.join(columns)}) values ({', '.join('?' * len(columns))})", rows)
        conn.executemany(
            "insert into daily values (?, ?, ?, ?, ?, ?, ?, ?) on conflict do update set n = n + excluded.n",
            [(*k, n) for k, n in daily.items()],
        )
        conn.executemany("insert or ignore into daily_users values (?, ?, ?, ?, ?)", [(*k, *v) for k, v in users.items()])
        conn.executemany("insert or ignore into daily_guide values (?, ?, ?, ?)", list(guide))
        conn.executemany(
            "insert into daily_feedback values (?, ?, ?, ?, ?) on conflict do update set up = up + excluded.up, down = down + excluded.down",
            [(day, entry, topic, up, down) for (day, entry), (topic, up, down) in feedback.items()],
        )
        conn.executemany(
            "insert into daily_questions values (?, ?, ?, ?, ?, ?, ?) on conflict do update set n = n + excluded.n",
            [(*k, n) for k, n in questions.items()],
        )


# What one citizen's events added to daily_questions and daily_feedback: write_batch's keys, in SQL.
_QUESTIONS_OF = """select day, question_key, coalesce(topic, ''), kind, channel, coalesce(ward, ''), count(*) from events
    where user = ? and question_key is not null and question_key != '' group by 1, 2, 3, 4, 5, 6"""
_FEEDBACK_OF = """select day, entry_id, sum(feedback = 'up'), sum(feedback = 'down') from events
    where user = ? and feedback in ('up', 'down') and entry_id is not null and entry_id != '' group by 1, 2"""
_QUESTION_ROW = "day = ? and question_key = ? and topic = ? and kind = ? and channel = ? and ward = ?"
_SECURE_DELETE = {0: "off", 1: "on", 2: "fast"}


def forget_user(db: sqlite_utils.Database, user: str) -> int:
    """Delete everything kept of one citizen, in one transaction. Returns events deleted.

    Their events and their rows of daily_users and daily_guide go; what their events added to
    daily_questions (whose keys are their own words) and daily_feedback is taken off again, rows left at
    zero deleted, while the same question asked by others keeps their count; a triage mark on a question
    key that nobody else asked goes with it. Only `daily` keeps them, as anonymous counts by day, channel,
    topic, kind, language, source and ward. The deleted content is overwritten (secure_delete, whatever
    SQLite's build default) and the write-ahead log checkpointed and truncated, so no old copy of a page
    stays in the files either."""
    conn = db.conn
    secure = conn.execute("pragma secure_delete").fetchone()[0]
    conn.execute("pragma secure_delete = on")
    try:
        with conn:
            conn.execute("begin immediate")
            questions = conn.execute(_QUESTIONS_OF, [user]).fetchall()
            feedback = conn.execute(_FEEDBACK_OF, [user]).fetchall()
            deleted = conn.execute("delete from events where user = ?", [user]).rowcount
            conn.execute("delete from daily_users where user = ?", [user])
            conn.execute("delete from daily_guide where user = ?", [user])
            _take_off_questions(conn, questions)
            _take_off_feedback(conn, feedback)
    finally:
        conn.execute(f"pragma secure_delete = {_SECURE_DELETE.get(secure, 'on')}")
    busy = conn.execute("pragma wal_checkpoint(truncate)").fetchone()[0]
    if busy:  # a long report still reads an older snapshot: the next checkpoint overwrites those pages
        log.warning("forget: the write-ahead log could not be truncated yet (a reader is busy)")
    return deleted


def _take_off_questions(conn: sqlite3.Connection, rows: list[tuple]) -> None:
    """Subtract a citizen's counts from daily_questions; delete rows left at zero and orphaned marks."""
    conn.executemany(f"update daily_questions set n = n - ? where {_QUESTION_ROW}", [(n, *key) for *key, n in rows])
    conn.executemany(f"delete from daily_questions where {_QUESTION_ROW} and n <= 0", [tuple(key) for *key, _ in rows])
    for key in {key[1] for *key, _ in rows}:
        if conn.execute("select 1 from cluster_marks where question_key = ?", [key]).fetchone() is None:
            continue  # the usual case: only a key an official marked is looked for among everybody's questions
        if conn.execute("select 1 from daily_questions where question_key = ? limit 1", [key]).fetchone() is None:
            conn.execute("delete from cluster_marks where question_key = ?", [key])


def _take_off_feedback(conn: sqlite3.Connection, rows: list[tuple]) -> None:
    """Subtract a citizen's 👍/👎 from daily_feedback; delete rows left with none."""
    conn.executemany(
        "update daily_feedback set up = max(up - ?, 0), down = max(down - ?, 0) where day = ? and entry_id = ?",
        [(up, down, day, entry) for day, entry, up, down in rows],
    )
    conn.executemany("delete from daily_feedback where day = ? and entry_id = ? and up = 0 and down = 0", [(day, entry) for day, entry, _, _ in rows])


def purge_older_than(db: sqlite_utils.Database, days: int, today: dt.date | None = None) -> int:
    """Delete events and rollups older than `days` days (Vietnam calendar). Returns events deleted."""
    today = today or dt.datetime.now(VIETNAM).date()
    cutoff = (today - dt.timedelta(days=days)).isoformat()
    with db.conn:
        db.conn.execute("begin")
        deleted = db.conn.execute("delete from events where day < ?", [cutoff]).rowcount
        for table in ("daily", "daily_users", "daily_guide", "daily_feedback", "daily_questions"):
            db.conn.execute(f"delete from {table} where day < ?", [cutoff])
    return deleted


class EventStore:
    """Queue + writer thread. `record()` and `stored()` are safe from any thread and never block on the disk."""

    def __init__(self, path: Path | str, flush_interval: float = 1.0, max_batch: int = 5000, max_backlog: int = 1_000_000):
        self.path = Path(path)
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
        connect(self.path).conn.close()  # create / migrate before the first event
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

    def _flush(self, db: sqlite_utils.Database) -> bool:
        if not self._pending:
            return True
        batch = self._pending[: self.max_batch]
        try:
            write_batch(db, [item.event if type(item) is _Waiting else item for item in batch])
        except sqlite3.Error as exc:  # locked, disk full, I/O error: keep the batch and try again later
            self.failures += 1
            log.error("analytics write failed (%s); %d event(s) kept in memory, retrying", exc, len(self._pending))
            if len(self._pending) > self.max_backlog:
                dropped = len(self._pending) - self.max_backlog
                _settle(self._pending[:dropped], False)
                del self._pending[:dropped]
                log.error("analytics backlog over %d events: dropped the %d oldest", self.max_backlog, dropped)
            return False
        del self._pending[: len(batch)]
        self.committed += len(batch)
        _settle(batch, True)
        return True

    def _handle_forget(self, db: sqlite_utils.Database) -> None:
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
                result.append(forget_user(db, user))
            except sqlite3.Error as exc:
                log.error("forget failed: %s", exc)
                result.append(0)
            done.set()

    def _run_once(self) -> None:
        db = connect(self.path)
        try:
            self._handle_forget(db)
            self._drain_queue(0)
            while self._pending and self._flush(db):
                self._drain_queue(0)
        finally:
            db.conn.close()

    def _run(self) -> None:
        db = connect(self.path)
        wait = self.flush_interval
        try:
            while True:
                self._drain_queue(wait)  # up to one interval, a full batch, or at once for a waiter
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
                        if self._flush(db) and not self._pending:
                            break
                        time.sleep(0.2)
                    _settle(self._pending, False)
                    return
        finally:
            db.conn.close()

    @staticmethod
    def read(path: Path | str) -> Iterable[dict]:
        """Every stored event as a dict (tests and export)."""
        db = connect(path)
        try:
            yield from db["events"].rows
        finally:
            db.conn.close()


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
