"""The event store: batching off the hot path, flush on shutdown, crash safety, privacy, forget, purge, on
SQLite and PostgreSQL (db_target); the bytes-on-disk and file-lock tests are SQLite's own."""

import datetime as dt
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from analytics.store import EventStore, connect, local_day, purge_older_than
from bot.engine import Engine, Event, Incoming
from bot.service import ChatService
from bot.state import DatabaseStateStore
from bot.storage import Target, migrate

ROOT = Path(__file__).resolve().parent.parent


def event(i=0, user="u1", kind="faq", ts=None, **kw):
    return Event(ts=ts or time.time(), channel="web", user=user, lang="vi", kind=kind, topic="eid", entry_id="eid-what-is", score=0.8, question=f"cau hoi {i}", question_key="hoi", **kw)


def count(where, table="events"):
    """Rows in `table`, through a connection of the test's own (another than the writer's)."""
    db = connect(where)
    try:
        return db.scalar(f"select count(*) from {table}")
    finally:
        db.close()


def test_record_never_touches_the_disk_and_the_writer_flushes_within_a_second(db_target):
    store = EventStore(db_target, flush_interval=0.2).start()
    try:
        start = time.perf_counter()
        for i in range(1000):
            store.record(event(i))
        assert time.perf_counter() - start < 0.5  # appending to a queue, not writing
        deadline = time.time() + 3
        while count(db_target) < 1000 and time.time() < deadline:
            time.sleep(0.05)
        assert count(db_target) == 1000
        db = connect(db_target)
        try:
            assert count(db_target, "daily") >= 1 and db.scalar("select sum(n) from daily") == 1000
        finally:
            db.close()
    finally:
        store.stop()


def test_stop_flushes_everything_queued(db_target):
    store = EventStore(db_target, flush_interval=60).start()  # the timer alone would not flush in time
    for i in range(2500):
        store.record(event(i))
    store.stop()
    assert count(db_target) == 2500 and store.committed == 2500
    assert [e["question"] for e in EventStore.read(db_target)] == [f"cau hoi {i}" for i in range(2500)]


def test_the_schema_comes_from_the_storage_migrations_and_a_reopen_keeps_everything(db_target):
    db = connect(db_target)
    try:
        assert migrate.current(db) == migrate.head()
        tables = set(db.table_names())
        assert {"events", "daily", "daily_users", "daily_guide", "daily_feedback", "daily_questions", "cluster_marks"} <= tables
        assert "schema_version" not in tables  # the store's own version table is gone: Alembic's says where it stands
    finally:
        db.close()
    store = EventStore(db_target).start()
    store.record(event(1))
    store.stop()
    db = connect(db_target)  # second open: nothing re-applied, nothing lost
    try:
        assert migrate.current(db) == migrate.head() and db.scalar("select count(*) from events") == 1
    finally:
        db.close()


def test_a_killed_writer_loses_nothing_that_was_committed(db_target):
    """Kill the process mid-stream: every event committed before the kill is intact, the database opens."""
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from analytics.store import EventStore
        from bot.engine import Event
        store = EventStore({db_target!r}, flush_interval=0.1, max_batch=200).start()
        i = 0
        while True:
            store.record(Event(ts=time.time(), channel="web", user="u", lang="vi", kind="faq", question=str(i)))
            i += 1
            if i % 50 == 0:
                time.sleep(0.01)
            if i % 1000 == 0:
                print(store.committed, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    acknowledged = 0
    while acknowledged < 3000:
        acknowledged = int(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    target = Target.parse(db_target)
    if target.engine == "sqlite":
        with sqlite3.connect(target.path) as conn:
            assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
    db = connect(db_target)
    try:
        stored = db.scalar("select count(*) from events")
        numbers = {int(r[0]) for r in db.execute("select question from events")}
        assert db.scalar("select sum(n) from daily") == stored  # no batch half written: events and rollups agree
    finally:
        db.close()
    assert stored >= acknowledged
    assert numbers == set(range(len(numbers)))  # a prefix: no holes, no partial batch


def test_a_locked_database_is_retried_not_fatal(tmp_path, caplog):
    path = tmp_path / "locked.db"
    connect(path).close()
    blocker = sqlite3.connect(path, isolation_level=None, timeout=0)
    blocker.execute("begin exclusive")
    store = EventStore(path, flush_interval=0.1).start()
    store.record(event(1))
    time.sleep(6.5)  # sqlite's busy timeout is 5 s, so at least one write fails while locked
    assert count_safe(path) == 0
    blocker.execute("rollback")
    blocker.close()
    store.stop()
    assert count(path) == 1 and store.failures >= 1
    assert "analytics write failed" in caplog.text


def test_a_lost_postgresql_connection_is_reopened_and_nothing_is_lost(pg_url, caplog):
    """The server ends the writer's session (a restart, a failover, an idle timeout): the next batch fails,
    is kept, and goes in on a new connection."""
    store = EventStore(pg_url, flush_interval=0.1).start()
    try:
        assert store.stored(event(1)).result(timeout=10) is True
        db = connect(pg_url)
        try:
            ended = db.scalar(
                "select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = current_database() and pid != pg_backend_pid()"
            )
            assert ended >= 1
            assert store.stored(event(2)).result(timeout=15) is True
            assert db.scalar("select count(*) from events") == 2 and db.scalar("select sum(n) from daily") == 2
        finally:
            db.close()
    finally:
        store.stop()
    assert store.failures >= 1 and ("analytics write failed" in caplog.text or "unavailable" in caplog.text)


def count_safe(path):
    try:
        with sqlite3.connect(path, timeout=0) as conn:
            return conn.execute("select count(*) from events").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


async def test_planted_identifiers_never_reach_the_database_file(tmp_path, kb, matcher):
    db_path = tmp_path / "digiguide.db"
    store = EventStore(db_path, flush_interval=0.1).start()
    service = ChatService(Engine(kb, DatabaseStateStore(db_path), salt="s", matcher=matcher), store)
    planted = ["079203004567", "0912345678", "482913", "19036677889900", "nguyenvana@gmail.com", "123456789", "telegram-id-55501"]
    questions = [
        "số cccd của tôi 079203004567 không kích hoạt được vneid",
        "sdt 0912345678 ko nhận được otp",
        "mã otp 482913 nhập vào đâu",
        "chuyển nhầm vào stk 19036677889900 thì sao",
        "gửi email nguyenvana@gmail.com cho tôi",
        "cmnd 123456789 còn dùng được không",
    ]
    for q in questions:
        await service.handle(Incoming("telegram", "telegram-id-55501", text=q))
    store.stop()
    service.engine.store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("digiguide.db"))
    assert count(db_path) == len(questions)
    for secret in planted:
        assert secret.encode() not in raw, secret


async def test_forget_deletes_the_citizens_events_and_state_but_not_others(db_target, kb, matcher):
    store = EventStore(db_target, flush_interval=0.1).start()
    service = ChatService(Engine(kb, DatabaseStateStore(db_target), salt="s", matcher=matcher), store)
    for text in ["kich hoat vneid", "quen mat khau", "/lang en"]:
        await service.handle(Incoming("web", "alice-session-1", text=text))
        await service.handle(Incoming("web", "bob-session-22", text=text))
    time.sleep(0.3)
    out = await service.handle(Incoming("web", "alice-session-1", text="xoá dữ liệu của tôi"))
    assert out.event.kind == "forget" and "xoá dữ liệu" in out.replies[0].text
    store.stop()
    alice = out.event.user
    db = connect(db_target)
    try:
        users = [r[0] for r in db.execute("select distinct user from events")]
        assert alice not in users and len(users) == 1
        assert db.scalar("select count(*) from daily_users where user = ?", [alice]) == 0
        assert db.scalar("select count(*) from user_state where user = ?", [alice]) == 0
    finally:
        db.close()
    # and the next message starts fresh (language back to Vietnamese; the event store is stopped by now)
    assert (await ChatService(service.engine).handle(Incoming("web", "alice-session-1", text="menu"))).event.lang == "vi"
    service.engine.store.close()


def test_purge_removes_old_events_and_rollups(db_target):
    now = time.time()
    store = EventStore(db_target).start()
    for days_ago in (1, 10, 40, 100):
        store.record(event(days_ago, ts=now - days_ago * 86400))
    store.stop()
    db = connect(db_target)
    try:
        today = dt.datetime.fromtimestamp(now, dt.timezone(dt.timedelta(hours=7))).date()
        assert purge_older_than(db, 30, today) == 2
        assert sorted(r[0] for r in db.execute("select day from events")) == sorted(local_day(now - d * 86400) for d in (1, 10))
        assert db.scalar("select count(*) from daily where day < ?", [(today - dt.timedelta(days=30)).isoformat()]) == 0
        assert db.scalar("select sum(n) from daily") == 2
    finally:
        db.close()


def test_purge_command_line(db_target):
    store = EventStore(db_target).start()
    store.record(event(1, ts=time.time() - 90 * 86400))
    store.record(event(2))
    store.stop()
    run = subprocess.run([sys.executable, "-m", "analytics", "purge", "--older-than", "30", "--vacuum", "--db", db_target], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert "deleted 1 event(s)" in run.stdout
    assert count(db_target) == 1
