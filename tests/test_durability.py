"""What the citizen was told is stored (issue 10, section 3), and reloading content does not stall the
channels (section 6). The event store's tests run on SQLite and PostgreSQL (db_target); the kill test and
SQLite's file lock are SQLite's own, with a PostgreSQL table lock as the lock's counterpart."""

import asyncio
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from analytics.store import EventStore, connect
from bot.engine import Engine, Incoming
from bot.knowledge import DEFAULT_CONTENT_DIR
from bot.service import ChatService
from bot.state import DatabaseStateStore

from killrun import kill_under_load


def events_in(where: Path | str) -> int:
    db = connect(where)  # a connection of its own: what it sees is committed
    try:
        return db.scalar("select count(*) from events")
    finally:
        db.close()


@pytest.mark.parametrize("run", range(3))
def test_no_answered_question_is_lost_when_the_server_is_killed(tmp_path, run):
    result = kill_under_load(tmp_path / f"run{run}", rate=20, seconds=1.5, durable=True)
    assert result.acknowledged >= 20, result  # the load really ran and was answered
    assert result.lost == 0, result


def test_a_stored_event_is_in_the_database_when_its_future_is_done(db_target):
    path = db_target
    store = EventStore(path, flush_interval=60).start()  # the timer alone would not write for a minute
    try:
        from test_analytics_store import event

        done = store.stored(event(1))
        assert done.result(timeout=5) is True
        assert events_in(path) == 1  # another connection sees it: committed, not just queued
    finally:
        store.stop()


async def test_the_answer_waits_for_its_event_and_many_answers_share_a_commit(db_target, kb, matcher):
    path = db_target
    store = EventStore(path, flush_interval=60).start()
    service = ChatService(Engine(kb, DatabaseStateStore(path), salt="s", matcher=matcher), store)
    try:
        await service.handle(Incoming("web", "durable-session-1", text="kich hoat vneid"))
        assert events_in(path) == 1  # stored before handle returned, although the writer's timer is a minute
        outcomes = await asyncio.gather(*(service.handle(Incoming("web", f"durable-session-{i:02d}", text="quen mat khau vneid")) for i in range(40)))
        assert len(outcomes) == 40 and events_in(path) == 41
    finally:
        store.stop()
        service.engine.store.close()


async def test_a_locked_database_delays_the_answer_only_up_to_the_commit_timeout(tmp_path, kb, matcher):
    path = tmp_path / "digiguide.db"
    connect(path).close()
    store = EventStore(path, flush_interval=0.1).start()
    service = ChatService(Engine(kb, DatabaseStateStore(tmp_path / "state.db"), salt="s", matcher=matcher), store, commit_timeout=0.5)
    blocker = sqlite3.connect(path, isolation_level=None, timeout=0)
    blocker.execute("begin exclusive")
    try:
        start = time.monotonic()
        outcome = await service.handle(Incoming("web", "locked-session-1", text="kich hoat vneid"))
        assert outcome.replies and time.monotonic() - start < 3  # the citizen still got the answer
        assert service.unconfirmed == 1 and events_in_safe(path) == 0
    finally:
        blocker.execute("rollback")
        blocker.close()
    store.stop()  # the queued event is written once the lock is gone
    service.engine.store.close()
    assert events_in(path) == 1


async def test_a_locked_postgresql_table_delays_the_answer_only_up_to_the_commit_timeout(pg_url, tmp_path, kb, matcher):
    """PostgreSQL's writer waits for a lock (no busy timeout): an operator's `lock table events` holds it
    back, the citizen is answered after the commit timeout all the same, and the event goes in once the
    lock is gone."""
    store = EventStore(pg_url, flush_interval=0.1).start()
    service = ChatService(Engine(kb, DatabaseStateStore(tmp_path / "state.db"), salt="s", matcher=matcher), store, commit_timeout=0.5)
    blocker = connect(pg_url)
    try:
        with blocker.transaction():
            blocker.execute("lock table events in access exclusive mode")
            start = time.monotonic()
            outcome = await service.handle(Incoming("web", "locked-session-2", text="kich hoat vneid"))
            assert outcome.replies and time.monotonic() - start < 3  # the citizen still got the answer
            assert service.unconfirmed == 1
        store.stop()  # the queued event is written once the lock is gone
        assert events_in(pg_url) == 1 and store.committed == 1
    finally:
        blocker.close()
        service.engine.store.close()


def events_in_safe(path: Path) -> int:
    try:
        conn = sqlite3.connect(path, timeout=0)
        try:
            return conn.execute("select count(*) from events").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0


async def test_reload_builds_off_the_event_loop_and_answers_go_on_meanwhile(tmp_path, kb, matcher):
    service = ChatService(Engine(kb, DatabaseStateStore(tmp_path / "state.db"), salt="s", matcher=matcher))
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker():  # how long the loop goes without running a ready task
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0.05)
    start = time.perf_counter()
    reload = asyncio.create_task(service.reload(DEFAULT_CONTENT_DIR))
    await asyncio.sleep(0)
    answer = await service.handle(Incoming("web", "reload-session-1", text="kich hoat vneid muc 2"))
    answered = time.perf_counter() - start
    ok, message = await reload
    took = time.perf_counter() - start
    stop.set()
    await ticking
    assert ok and "content reloaded" in message and answer.replies
    assert answered < took  # the citizen was answered (on the old content) while the new one was built
    assert max(gaps) < took / 3, (max(gaps), took)  # the loop kept running: no stall the length of the build


async def test_bad_content_is_refused_on_reload_and_the_old_content_stays(tmp_path, kb, matcher):
    content = tmp_path / "content"
    shutil.copytree(DEFAULT_CONTENT_DIR, content)
    faq = content / "faq" / "qr.yaml"
    faq.write_text(faq.read_text(encoding="utf-8").replace("  topic: qr\n", "  topic: banking\n", 1), encoding="utf-8")
    service = ChatService(Engine(kb, DatabaseStateStore(tmp_path / "state.db"), salt="s", matcher=matcher))
    ok, message = await service.reload(content)
    assert not ok and "rejected" in message and service.kb is kb
    assert (await service.handle(Incoming("web", "reload-session-2", text="kich hoat vneid"))).replies
