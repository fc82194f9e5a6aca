"""`python -m bot serve --workers 2` on one port, on SQLite and on PostgreSQL (issue 13, section 2).

Real processes on a real database: a citizen's conversation continues whichever worker takes the next
message; rate limits hold across workers; the singleton work (polling, deliveries) runs in exactly one
worker and moves when that one is killed; Telegram never sees two pollers at once.
"""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest

from fake_telegram import FakeTelegram
from workersrun import Workers

ENGINES = ["sqlite", "postgresql"]


@pytest.fixture(params=ENGINES)
def database_url(request):
    """"" (the SQLite file beside the server) or a fresh PostgreSQL database on the tests' server."""
    if request.param == "sqlite":
        return ""
    return request.getfixturevalue("pg_database")


def session() -> str:
    return "w" + uuid.uuid4().hex[:20]


def texts(data) -> str:
    return "\n".join(r["text"] for r in data.get("replies", []))


def actions(data) -> list[str]:
    return [b["action"] for r in data.get("replies", []) for b in r["buttons"]]


@pytest.mark.parametrize("database_url", ENGINES, indirect=True)
async def test_a_conversation_continues_whichever_worker_answers(tmp_path, database_url):
    async with Workers(tmp_path, workers=2, database_url=database_url) as server:
        seen = await server.every_worker()
        assert len(seen) == 2, f"both workers take connections: {seen}"
        assert {h.database for h in seen.values()} == {"postgresql" if database_url else "sqlite"}
        assert sum(h.singleton for h in seen.values()) == 1, "exactly one worker holds the singleton work"

        me = session()
        status, data = await server.chat(me, action="l:en")
        assert status == 200 and data["lang"] == "en"
        # a guide walked step by step, each step a new connection: every step follows from the last one's state
        status, data = await server.chat(me, action="g:eid-activate:1")
        for step in range(1, 8):
            assert status == 200, data
            assert data["lang"] == "en", "the language chosen on one worker holds on the other"
            assert re.search(rf"Step {step}/\d+", texts(data)), texts(data)[:200]
            nxt = f"g:eid-activate:{step + 1}"
            if nxt not in actions(data):
                break
            status, data = await server.chat(me, action=nxt)
        # numbered options typed as a number pick among the options the other worker showed
        status, data = await server.chat(me, text="vneid")
        assert status == 200 and "s:1" in actions(data)
        status, picked = await server.chat(me, action="s:1")
        assert status == 200 and picked["replies"], picked


@pytest.mark.parametrize("database_url", ENGINES, indirect=True)
async def test_one_chats_messages_are_handled_one_at_a_time_across_workers(tmp_path, database_url):
    """Ten taps of one session at once, spread over both workers: each is handled on the state the one
    before left, so none is lost (a lost update would leave the language or the step behind)."""
    async with Workers(tmp_path, workers=2, database_url=database_url) as server:
        me = session()
        await server.chat(me, action="l:en")
        results = await asyncio.gather(*(server.chat(me, action="g:eid-activate:1") for _ in range(10)))
        assert all(status == 200 and data["lang"] == "en" for status, data in results)
        status, data = await server.chat(me, action="g:eid-activate:2")
        assert status == 200 and data["lang"] == "en" and re.search(r"Step 2/\d+", texts(data))


@pytest.mark.parametrize("database_url", ENGINES, indirect=True)
async def test_the_rate_limit_holds_across_workers(tmp_path, database_url):
    """The web chat allows 12 typed messages per session in 30 s. Two workers with a budget each would let
    24 through; the shared count lets 12."""
    async with Workers(tmp_path, workers=2, database_url=database_url) as server:
        assert len(await server.every_worker()) == 2
        me = session()
        statuses = [(await server.chat(me, text=f"kich hoat vneid lan {i}"))[0] for i in range(20)]
        assert statuses.count(200) == 12, statuses
        assert statuses[12:] == [429] * 8


async def test_killing_the_worker_that_holds_the_singleton_work_moves_it_within_seconds(tmp_path, db_target):
    if not db_target.startswith("postgresql"):
        db_target = ""  # the SQLite file beside the server
    async with Workers(tmp_path, workers=2, database_url=db_target) as server:
        holder = await server.singleton_holder()
        server.kill(holder.pid)
        took = await server.wait_until(lambda: _other_holder(server, holder.pid), timeout=10, what="another worker taking over")
        assert took < 5.0
        # the master started a worker in place of the killed one: two answer again
        await server.wait_until(lambda: _count_workers(server, 2), timeout=30, what="a replacement worker")
        assert await server.stop() == 0


async def _other_holder(server: Workers, dead: int) -> bool:
    return any(h.singleton and h.pid != dead for h in (await server.workers_seen(10)).values())


async def _count_workers(server: Workers, n: int) -> bool:
    return len(await server.workers_seen(20)) >= n


@pytest.mark.parametrize("database_url", ENGINES, indirect=True)
async def test_telegram_polling_runs_in_one_worker_and_moves_when_it_dies(tmp_path, database_url):
    telegram = await FakeTelegram().start()
    try:
        env = {"TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_BASE": telegram.api_base}
        async with Workers(tmp_path, workers=2, database_url=database_url, env=env) as server:
            telegram.queue(telegram.text_update("kich hoat vneid muc 2", user_id=2001))
            await telegram.wait_for("sendMessage", timeout=15)
            holder = await server.singleton_holder()
            mark = telegram.mark()
            server.kill(holder.pid)
            await server.singleton_holder(exclude=holder.pid)
            telegram.queue(telegram.text_update("ko nhan dc ma otp", user_id=2002))
            await server.wait_until(lambda: any(str(m["chat_id"]) == "2002" for m in telegram.requests("sendMessage", since=mark)),
                                    timeout=15, what="the new poller answering")
            # Telegram ends a long poll with 409 Conflict when another starts: the killed worker's poll (its
            # answer goes nowhere) may be one, but no living worker was ever told so
            assert "Conflict" not in server.log(), "two workers polled Telegram at once"
    finally:
        await telegram.close()
