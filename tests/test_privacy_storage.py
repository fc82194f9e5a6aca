"""Privacy where it counts: the bytes on disk (issue 10, section 1).

`python -m bot serve` runs in a subprocess, as an operator runs it, on a database of its own, with its log
captured to a file and Telegram pointed at the loopback fake (tests/fake_telegram.py). Citizens send their
ID, phone, OTP, account and email, typed the ways people type them, through the web chat and Telegram.
Then every byte of digiguide.db, its -wal and -shm files (while the server runs, before any checkpoint)
and of the log is searched for each value in each typed form and as bare digits. Alice then sends /forget:
nothing of hers may be left, not in a table and not in the file's bytes, while Bob's and Carol's data,
including their share of the questions Alice asked too, stays exactly as it was. A second test checks
forget_user itself on hand-made events over several days, channels and wards, on SQLite and PostgreSQL:
afterwards every rollup is exactly what the other citizen's events alone make. PostgreSQL has no
secure_delete: its counterpart of the bytes check is that the touched tables were vacuumed at once, so no
dead version of Alice's rows is left in them (test_forget_on_postgresql_vacuums_the_touched_tables).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from analytics.report import mark_cluster
from analytics.store import CITIZEN_TABLES, connect, forget_user, write_batch
from bot.engine import Event
from bot.privacy import hash_user
from analytics_data import copy_of
from fake_telegram import FakeTelegram

SALT = "privacy-test-salt"
ALICE, BOB = "alice-web-session-55501", "bob-web-session-55502"  # web sessions are the users' ids
CAROL = 7654321987  # a Telegram user id
ALICE_WORD, BOB_WORD, CAROL_WORD = "zqalicew", "zqbobyvk", "zqcarolx"  # letters only: redaction keeps them

# Each planted value: its digits, and the forms the messages type it in.
PLANTED = {
    "cccd": ("079203004567", ["cccd079203004567", "079 203 004 567", "0792-0300-4567"]),
    "phone": ("0912345678", ["sdt0912345678", "09 12 34 56 78", "0912.345.678", "+84 912 345 678", "0912345678_"]),
    "otp": ("483920", ["otp483920", "4 8 3 9 2 0", "mã:483920"]),
    "account": ("19036549821017", ["stk19036549821017", "stk:1903 6549 8210 17"]),
    "cmnd": ("132456789", ["cmnd 132.456.789"]),
    "email": ("nguyenvana1990", ["nguyenvana1990@gmail.com"]),
}
SHARED = "quên mật khẩu vneid"  # asked by Alice (twice) and Bob (once): one question key, two citizens

ALICE_SAYS = [
    f"Tôi là {ALICE_WORD}, số cccd079203004567, sdt0912345678 không nhận được otp",
    f"{ALICE_WORD} mã:483920 nhập vào đâu, sđt 09 12 34 56 78",
    f"{ALICE_WORD} chuyển nhầm vào stk:1903 6549 8210 17 thì sao",
    f"{ALICE_WORD} email nguyenvana1990@gmail.com, cccd 079 203 004 567, cmnd 132.456.789",
    f"{ALICE_WORD} zqthoitiet hom nay the nao",  # nothing answers it: an unanswered key only Alice asked
    SHARED,
    SHARED,
]
BOB_SAYS = [f"{BOB_WORD} otp483920 và 4 8 3 9 2 0, sđt 0912.345.678", f"{BOB_WORD} kích hoạt vneid 0792-0300-4567", SHARED]
CAROL_SAYS = [f"{CAROL_WORD} sđt +84 912 345 678 và 0912345678_", f"{CAROL_WORD} stk19036549821017 otp 4 8 3 9 2 0"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    url: str
    folder: Path
    proc: asyncio.subprocess.Process
    http: aiohttp.ClientSession

    @property
    def db(self) -> Path:
        return self.folder / "data" / "digiguide.db"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    async def chat(self, session: str, **body: str) -> dict:
        async with self.http.post(self.url + "/api/chat", json={"session": session, **body}) as resp:
            data = await resp.json()
            assert resp.status == 200, data
            return data

    async def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), 30)


async def wait_healthy(server: Served, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.proc.returncode is None, server.log.read_text()
        try:
            async with server.http.get(server.url + "/healthz") as resp:
                body = await resp.json()
                if resp.status == 200 and "telegram" in body["channels"]:
                    return body
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError("the server did not become healthy:\n" + server.log.read_text())


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = await FakeTelegram().start()
    yield fake
    await fake.close()


@pytest.fixture
async def server(tmp_path: Path, telegram: FakeTelegram) -> AsyncIterator[Served]:
    port = free_port()
    env = {
        **os.environ,
        "DIGIGUIDE_PORT": str(port),
        "DIGIGUIDE_DB": str(tmp_path / "data" / "digiguide.db"),
        "DIGIGUIDE_SALT": SALT,
        "DIGIGUIDE_DASHBOARD_TOKEN": "privacy-test-token",
        "TELEGRAM_BOT_TOKEN": telegram.token,
        "TELEGRAM_API_BASE": telegram.api_base,
        "ZALO_BOT_TOKEN": "",
    }
    with open(tmp_path / "server.log", "wb") as log:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "serve", cwd=tmp_path, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        served = Served(f"http://127.0.0.1:{port}", tmp_path, proc, http)
        try:
            await wait_healthy(served)
            yield served
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


def database_bytes(db: Path) -> dict[str, bytes]:
    """Every file next to the database: the main file, its -wal and -shm while they exist, and any other."""
    return {p.name: p.read_bytes() for p in sorted(db.parent.iterdir()) if p.is_file()}


def leaks(blobs: dict[str, bytes]) -> list[str]:
    """Each planted value, in a typed form or as bare digits (and a phone without its 0), found anywhere."""
    needles = {form for digits, forms in PLANTED.values() for form in [*forms, digits]} | {"912345678", str(CAROL), ALICE, BOB}
    return [f"{needle!r} in {name}" for name, blob in blobs.items() for needle in sorted(needles) if needle.encode() in blob]


def rows(db: Path, sql: str, *args) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


async def talk(server: Served, telegram: FakeTelegram) -> None:
    """Everybody's messages, taps on a guide and on 👍, and Carol on Telegram (each reply comes once its
    event is committed)."""
    for session, lines in ((ALICE, ALICE_SAYS), (BOB, BOB_SAYS)):
        for line in lines:
            await server.chat(session, text=line)
        answer = await server.chat(session, text=SHARED)
        assert "fb:eid-forgot-password:up" in [b["action"] for r in answer["replies"] for b in r["buttons"]]
        await server.chat(session, action="fb:eid-forgot-password:up")
        await server.chat(session, action="g:eid-activate:1")
    for line in CAROL_SAYS:
        mark = telegram.mark()
        telegram.queue(telegram.text_update(line, user_id=CAROL))
        await telegram.wait_for("sendMessage", since=mark, timeout=15)


def alice_only_unanswered_key(db: Path) -> str:
    [(key,)] = rows(db, "select distinct question_key from events where question_key like ?", "%zqthoitiet%")
    return key


async def test_no_planted_value_reaches_the_files_and_forget_leaves_nothing_of_the_citizen(server, telegram):
    await talk(server, telegram)
    alice, bob, carol = (hash_user(SALT, "web", ALICE), hash_user(SALT, "web", BOB), hash_user(SALT, "telegram", str(CAROL)))
    users = {u for (u,) in rows(server.db, "select distinct user from events")}
    assert {alice, bob, carol} <= users

    # While the server runs: the WAL holds the recent pages, nothing checkpointed them yet.
    live = database_bytes(server.db)
    assert {"digiguide.db-wal", "digiguide.db-shm"} <= set(live) and len(live["digiguide.db-wal"]) > 0
    assert leaks(live | {"server.log": server.log.read_bytes()}) == []
    assert any(ALICE_WORD.encode() in blob for blob in live.values())  # the search does see what is stored

    # An official marks Alice's unanswered question (nobody else asked it) as ignored.
    key = alice_only_unanswered_key(server.db)
    db = connect(server.db)
    try:
        mark_cluster(db, key, "ignored")
    finally:
        db.close()
    shared_key = rows(server.db, "select question_key from events where user = ? and question = ?", bob, SHARED)[0][0]

    forgot = await server.chat(ALICE, text="/forget")
    assert "xoá" in forgot["replies"][0]["text"].lower()
    after_forget = database_bytes(server.db)
    assert not any(ALICE_WORD.encode() in blob for blob in after_forget.values()), "a copy of Alice's words is left on disk"
    assert not any(alice.encode() in blob for blob in after_forget.values()), "Alice's pseudonym is left on disk"
    assert any(BOB_WORD.encode() in blob for blob in after_forget.values())

    assert await server.stop() == 0
    log = server.log.read_bytes()
    assert b"stopped cleanly" in log  # the log was captured, to the end
    final = database_bytes(server.db)
    assert leaks(final | {"server.log": log}) == []
    assert not any(ALICE_WORD.encode() in blob for blob in final.values())

    # Alice: gone from every table that knows users, and from the question and feedback rollups.
    for table in ("events", "daily_users", "daily_guide", "user_state"):
        assert rows(server.db, f"select count(*) from {table} where user = ?", alice) == [(0,)], table
    assert rows(server.db, "select count(*) from daily_questions where question_key like ?", f"%{ALICE_WORD}%") == [(0,)]
    assert rows(server.db, "select count(*) from cluster_marks where question_key = ?", key) == [(0,)]

    # Bob and Carol: every rollup is still exactly what their events add up to.
    assert {u for (u,) in rows(server.db, "select distinct user from events")} == {bob, carol}
    assert rows(server.db, "select sum(n) from daily_questions where question_key = ?", shared_key) == [(2,)]  # Bob asked it twice
    expected_questions = rows(
        server.db,
        """select day, question_key, coalesce(topic, ''), kind, channel, coalesce(ward, ''), count(*) from events
           where question_key is not null and question_key != '' group by 1, 2, 3, 4, 5, 6 order by 1, 2, 3, 4, 5, 6""",
    )
    assert rows(server.db, "select * from daily_questions order by 1, 2, 3, 4, 5, 6") == expected_questions
    expected_feedback = rows(
        server.db,
        """select day, entry_id, sum(case when feedback = 'up' then 1 else 0 end), sum(case when feedback = 'down' then 1 else 0 end)
           from events where feedback is not null group by 1, 2 order by 1, 2""",
    )
    assert rows(server.db, "select day, entry_id, up, down from daily_feedback order by 1, 2") == expected_feedback == [(expected_feedback[0][0], "eid-forgot-password", 1, 0)]
    assert rows(server.db, "select distinct user from daily_guide") == [(bob,)]
    assert {u for (u,) in rows(server.db, "select user from daily_users")} == {bob, carol}
    assert rows(server.db, "select question from events where user = ? and question like ?", carol, f"%{CAROL_WORD}%")  # kept, redacted
    assert re.search(r"\d{4}", " ".join(q for (q,) in rows(server.db, "select question from events where question is not null"))) is None


# -- forget_user on hand-made events: several days, channels, wards, missing topics -----------------------------
ROLLUPS = ("daily_questions", "daily_feedback", "daily_users", "daily_guide")


def citizen_events(user: str, ts: float) -> list[Event]:
    """What one citizen leaves over two days: questions (one of them everybody's), a 👍, a guide page."""
    later = ts + 2 * 86400
    return [
        Event(ts=ts, channel="web", user=user, lang="vi", kind="fallback", question="chung", question_key="chung hoi"),
        Event(ts=ts, channel="web", user=user, lang="vi", kind="fallback", question="chung", question_key="chung hoi"),
        Event(ts=later, channel="zalo", user=user, lang="vi", kind="faq", topic="eid", entry_id="eid-what-is", question="vneid la gi", question_key="gi la vneid", ward="phuc-yen"),
        Event(ts=later, channel="zalo", user=user, lang="vi", kind="feedback", topic="eid", entry_id="eid-what-is", feedback="up", ward="phuc-yen"),
        Event(ts=later, channel="web", user=user, lang="vi", kind="guide_step", topic="eid", entry_id="eid-activate", guide_step=1),
        Event(ts=later, channel="web", user=user, lang="vi", kind="fallback", question=f"rieng {user}", question_key=f"rieng {user}"),
    ]


def table(db, name: str) -> list[tuple]:
    return db.execute(f"select * from {name} order by 1, 2, 3, 4").fetchall()


def test_forget_takes_off_exactly_what_the_citizens_events_added(db_target, tmp_path, request):
    """After forgetting Alice, every per-user and question rollup is what Bob's events alone would have made."""
    ts = time.time() - 5 * 86400
    connect(db_target).close()
    other = copy_of(request, db_target, tmp_path)  # a second empty database on the same engine
    both, bob_only = connect(db_target), connect(other)
    try:
        alice, bob = citizen_events("alice", ts), citizen_events("bob", ts + 60)
        write_batch(both, alice[:3] + bob[:2])  # in several batches, interleaved, as the writer commits them
        write_batch(both, bob[2:] + alice[3:])
        write_batch(bob_only, bob)
        for db in (both, bob_only):
            for key in ("chung hoi", "rieng alice", "rieng bob"):
                mark_cluster(db, key, "ignored", marked_at=ts)
        daily_before = table(both, "daily")

        assert forget_user(both, "alice") == len(alice)
        for name in ROLLUPS:
            assert table(both, name) == table(bob_only, name), name
        assert [k for (k,) in both.execute("select question_key from cluster_marks order by 1")] == ["chung hoi", "rieng bob"]
        assert table(both, "daily") == daily_before  # anonymous counts by day, channel, topic, kind...: kept
        assert forget_user(both, "alice") == 0  # forgetting again finds nothing and changes nothing
        assert table(both, "daily_questions") == table(bob_only, "daily_questions")
    finally:
        both.close()
        bob_only.close()


def test_forget_on_postgresql_vacuums_the_touched_tables(pg_url):
    """A DELETE on PostgreSQL leaves dead row versions (with their bytes) until a vacuum: forget_user vacuums
    every table it touched right after its commit, so none of Alice's is left in them, and Bob's rows stay."""
    db = connect(pg_url)
    try:
        write_batch(db, citizen_events("alice", time.time()) + citizen_events("bob", time.time()))
        mark_cluster(db, "rieng alice", "ignored")

        def vacuums() -> dict[str, int]:
            sql = f"select relname, vacuum_count from pg_stat_user_tables where relname in ({', '.join('?' * len(CITIZEN_TABLES))})"
            return dict(db.execute(sql, list(CITIZEN_TABLES)).fetchall())

        before = vacuums()
        assert forget_user(db, "alice") == 6
        after = vacuums()
        assert set(after) == set(CITIZEN_TABLES) and all(after[t] == before.get(t, 0) + 1 for t in CITIZEN_TABLES), (before, after)
        dead = db.execute(f"select relname, n_dead_tup from pg_stat_user_tables where relname in ({', '.join('?' * len(CITIZEN_TABLES))})", list(CITIZEN_TABLES)).fetchall()
        assert all(n == 0 for _, n in dead), dead
        assert db.scalar("select count(*) from events where user = 'alice'") == 0 and db.scalar("select count(*) from events where user = 'bob'") == 6
        assert db.scalar("select count(*) from cluster_marks") == 0
        assert db.scalar("select count(*) from daily_questions where question_key like '%alice%'") == 0
    finally:
        db.close()
