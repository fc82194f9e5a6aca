"""A confirmed ticket is never lost (issue 12, section 1): `python -m bot serve` in a subprocess, citizens
on the web chat hand questions over to an official at a steady pace, and the server is killed with
SIGKILL while confirmations are in flight. Every ticket code a citizen was shown must be in the database
afterwards, and after a restart the citizen's conversation knows the ticket. On each engine: the SQLite file,
and PostgreSQL (DIGIGUIDE_DATABASE_URL; the server process is killed, the database server is not)."""

from __future__ import annotations

import asyncio
import re
import signal
import time

import aiohttp

from bot import storage
from killrun import _free_port, _start, _wait_healthy

UNKNOWN = "vneid hang hai va hang mot {n}"  # the bot falls back; {n} keeps each citizen's question apart


async def hand_over(http: aiohttp.ClientSession, base: str, session: str, n: int, shown: dict[str, str], enough: asyncio.Event, wanted: int) -> None:
    """One citizen: the question, "ask an official", a ward, "Send"; the code they were shown, if any."""
    try:
        for body in ({"text": UNKNOWN.format(n=f"zq{n:04d}")}, {"action": "h:ask"}, {"action": "h:w:phuc-yen"}, {"action": "h:ok"}):
            async with http.post(base + "/api/chat", json={"session": session, **body}) as resp:
                if resp.status != 200:
                    return
                data = await resp.json()
        found = re.search(r"#\d+", data["replies"][0]["text"])
        if found:
            shown[session] = found.group(0)
            if len(shown) >= wanted:
                enough.set()
    except (aiohttp.ClientError, asyncio.TimeoutError):
        pass  # cut off by the kill: never confirmed


async def kill_during_handovers(folder, citizens: int = 120, rate: float = 400.0, kill_after: int = 50) -> dict[str, str]:
    """`citizens` start handing over at `rate` per second; the server is killed the moment `kill_after`
    of them were shown their code, while the others are somewhere in their four steps."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(folder, port, durable=True)
    shown: dict[str, str] = {}
    enough = asyncio.Event()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            await _wait_healthy(http, base, proc)
            tasks = []
            start = time.monotonic()
            for n in range(citizens):
                await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
                tasks.append(asyncio.create_task(hand_over(http, base, f"handover-kill-{n:03d}", n, shown, enough, kill_after)))
            await asyncio.wait_for(enough.wait(), 30)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            await asyncio.gather(*tasks)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    return shown


def test_no_confirmed_ticket_is_lost_when_the_server_is_killed(tmp_path, db_target, monkeypatch):
    where = tmp_path / "data" / "bot.db"  # killrun's DIGIGUIDE_DB
    if db_target.startswith("postgresql://"):
        monkeypatch.setenv("DIGIGUIDE_DATABASE_URL", db_target)  # the server's environment is ours plus killrun's
        where = db_target
    shown = asyncio.run(kill_during_handovers(tmp_path))
    assert 50 <= len(shown) < 120, len(shown)  # many confirmed before the kill, and others cut off by it
    with storage.connect(where) as db:
        stored = {f"#{i:04d}": question for i, question in db.execute("select id, question from tickets where status = 'open'").fetchall()}
    missing = {s: code for s, code in shown.items() if code not in stored}
    assert not missing, f"{len(missing)} confirmed ticket(s) lost: {missing}"
    session, code = sorted(shown.items())[0]
    assert stored[code].startswith("vneid hang hai va hang mot zq")

    async def after_restart() -> str:
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        proc = _start(tmp_path, port, durable=True)
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
                await _wait_healthy(http, base, proc)
                async with http.post(base + "/api/chat", json={"session": session, "text": "/canbo"}) as resp:
                    return (await resp.json())["replies"][0]["text"]
        finally:
            proc.kill()
            proc.wait(10)

    assert code in asyncio.run(after_restart())  # the citizen's ticket, found again after the restart
