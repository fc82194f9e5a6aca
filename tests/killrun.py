"""Kill -9 under load: is every answer a citizen received also stored? (issue 10, section 3)

`python -m bot serve` runs in a subprocess on a database of its own; web chat questions arrive at a steady
rate, each carrying a unique made-up word; the server is killed with SIGKILL while questions are in flight.
Afterwards every question that got its answer (HTTP 200) must have its event in the database. Used by
tests/test_durability.py (a few runs) and bench/bench_durability.py (ten runs, durable on and off).

    result = kill_under_load(folder, rate=20, seconds=2.0, durable=True)
    result.acknowledged, result.lost
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import sqlite3
import string
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
SESSIONS = 80  # questions go round these, so no session nears the web chat's per-session rate limit
QUESTION = "kich hoat vneid muc hai {word}"


@dataclass(frozen=True)
class KillResult:
    sent: int
    acknowledged: int  # answered with 200 before the kill
    lost: int  # acknowledged but not in the database afterwards

    @property
    def lost_share(self) -> float:
        return self.lost / self.acknowledged if self.acknowledged else 0.0


def marker(i: int) -> str:
    """A word made of letters only ("zqbacd"), so redaction keeps it and the event shows it."""
    letters = string.ascii_lowercase
    out = ""
    for _ in range(4):
        i, r = divmod(i, 26)
        out += letters[r]
    return "zq" + out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(folder: Path, port: int, durable: bool) -> subprocess.Popen:
    env = {
        **os.environ,
        "DIGIGUIDE_PORT": str(port),
        "DIGIGUIDE_DB": str(folder / "data" / "bot.db"),
        "DIGIGUIDE_DASHBOARD_TOKEN": "kill-test-token",
        "DIGIGUIDE_DURABLE_EVENTS": "1" if durable else "0",
        "TELEGRAM_BOT_TOKEN": "",
        "ZALO_BOT_TOKEN": "",
    }
    return subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _wait_healthy(http: aiohttp.ClientSession, base: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited before it was healthy")
        try:
            async with http.get(base + "/healthz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError("the server did not become healthy")


async def _ask(http: aiohttp.ClientSession, base: str, session: str, word: str, acknowledged: list[str]) -> None:
    try:
        async with http.post(base + "/api/chat", json={"session": session, "text": QUESTION.format(word=word)}) as resp:
            if resp.status == 200:
                await resp.json()  # the whole answer arrived: the citizen has seen it
                acknowledged.append(word)
    except (aiohttp.ClientError, asyncio.TimeoutError):
        pass  # cut off by the kill: never acknowledged


async def _load_and_kill(folder: Path, rate: float, seconds: float, durable: bool) -> tuple[int, list[str]]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(folder, port, durable)
    acknowledged: list[str] = []
    sent = 0
    try:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as http:
            await _wait_healthy(http, base, proc)
            sessions = itertools.cycle(f"killrun-session-{n:03d}" for n in range(SESSIONS))
            tasks = []
            start = time.monotonic()
            for i in itertools.count():
                due = start + i / rate
                if due - start >= seconds:
                    break
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                tasks.append(asyncio.create_task(_ask(http, base, next(sessions), marker(i), acknowledged)))
                sent += 1
            proc.send_signal(signal.SIGKILL)  # questions still in flight: some answered, some cut off
            proc.wait(10)
            await asyncio.gather(*tasks)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    return sent, acknowledged


def stored_words(db: Path) -> set[str]:
    """The made-up words of every question stored as an event (SQLite replays the WAL on open)."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("select question from events where question like '%zq%'").fetchall()
    finally:
        conn.close()
    return {word for (question,) in rows for word in question.split() if word.startswith("zq")}


def kill_under_load(folder: Path, rate: float = 20.0, seconds: float = 2.0, durable: bool = True) -> KillResult:
    """One run in `folder` (a fresh, empty directory): questions at `rate` per second for `seconds`, then kill -9."""
    folder.mkdir(parents=True, exist_ok=True)
    sent, acknowledged = asyncio.run(_load_and_kill(folder, rate, seconds, durable))
    stored = stored_words(folder / "data" / "bot.db")
    lost = sum(1 for word in acknowledged if word not in stored)
    return KillResult(sent=sent, acknowledged=len(acknowledged), lost=lost)
