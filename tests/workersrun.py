"""`python -m bot serve --workers N` in a subprocess, on an SQLite file or a PostgreSQL database, for the
multi-worker tests (tests/test_workers.py) and the scale benchmark (bench/bench_scale.py).

    async with Workers(folder, workers=2, database_url=url) as server:
        worker = await server.health()           # whichever worker answered this connection
        holder = await server.singleton_holder() # the worker running polling and deliveries
        server.kill(holder.pid)                  # kill -9 one worker; the master starts another

Each request goes on a new TCP connection (the kernel hands each connection to one worker), so requests
spread over the workers as a reverse proxy's would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "workers-test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Health:
    worker: str
    singleton: bool
    database: str
    channels: dict[str, str]

    @property
    def pid(self) -> int:
        return int(self.worker.rsplit(":", 1)[1])


class Workers:
    def __init__(self, folder: Path, workers: int = 2, database_url: str = "", env: dict[str, str] | None = None, durable: bool = True):
        self.folder = Path(folder)
        self.workers = workers
        self.database_url = database_url
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.extra_env = env or {}
        self.durable = durable
        self.proc: subprocess.Popen | None = None
        self.http: aiohttp.ClientSession | None = None
        self.log_path = self.folder / "server.log"

    @property
    def db_path(self) -> Path:
        return self.folder / "data" / "bot.db"

    async def __aenter__(self) -> "Workers":
        self.folder.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "DIGIGUIDE_PORT": str(self.port),
            "DIGIGUIDE_DB": str(self.db_path),
            "DIGIGUIDE_DATABASE_URL": self.database_url,
            "DIGIGUIDE_DASHBOARD_TOKEN": TOKEN,
            "DIGIGUIDE_DURABLE_EVENTS": "1" if self.durable else "0",
            "TELEGRAM_BOT_TOKEN": "",
            "ZALO_BOT_TOKEN": "",
            **self.extra_env,
        }
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--workers", str(self.workers)], cwd=ROOT, env=env,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        # a new connection per request: the kernel spreads connections over the workers
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15), connector=aiohttp.TCPConnector(force_close=True, limit=0))
        await self.wait_until(lambda: self._all_up(), timeout=60, what="all workers healthy")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM to the master (it stops every worker, each draining); returns its exit code."""
        code = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = await asyncio.to_thread(self.proc.wait, timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        elif self.proc is not None:
            code = self.proc.returncode
        if self.http is not None:
            await self.http.close()
            self.http = None
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # -- asking -------------------------------------------------------------------------------------------
    async def health(self) -> Health | None:
        """/healthz from whichever worker takes this connection; None while nobody answers."""
        assert self.http is not None
        try:
            async with self.http.get(self.base + "/healthz") as resp:
                if resp.status != 200:
                    return None
                data = await resp.json()
        except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError):
            return None
        return Health(data["worker"], data["singleton_work"], data["database"], data.get("channels", {}))

    async def workers_seen(self, tries: int = 60) -> dict[int, Health]:
        """The workers that answered `tries` connections, opened at once, by pid (the latest answer of each)."""
        seen: dict[int, Health] = {}
        for h in await asyncio.gather(*(self.health() for _ in range(tries))):
            if h is not None:
                seen[h.pid] = h
        return seen

    async def every_worker(self, timeout: float = 20.0) -> dict[int, Health]:
        """The workers seen answering until all `workers` have been, or `timeout` (then fewer). One listening
        socket is shared: under light load an idle worker can win every accept for a while (clean-clone runs
        saw one worker take 30 of 30 health checks, at once or one after the other), so a single burst of
        checks cannot tell that both take connections; asking until each has answered can."""
        seen: dict[int, Health] = {}

        async def everyone() -> bool:
            seen.update(await self.workers_seen(2 * self.workers))
            return len(seen) >= self.workers

        try:
            await self.wait_until(everyone, timeout=timeout, what="every worker answering")
        except AssertionError:
            pass  # the caller asserts on what was seen
        return seen

    async def singleton_holder(self, timeout: float = 15.0, exclude: int | None = None) -> Health:
        """The worker that reports holding the singleton work (other than `exclude`)."""
        found: list[Health] = []

        async def holder() -> bool:
            for h in (await self.workers_seen(20)).values():
                if h.singleton and h.pid != exclude:
                    found.append(h)
                    return True
            return False

        await self.wait_until(holder, timeout=timeout, what="a worker holding the singleton work")
        return found[-1]

    async def chat(self, session: str, text: str | None = None, action: str | None = None) -> tuple[int, dict[str, Any]]:
        assert self.http is not None
        body: dict[str, Any] = {"session": session}
        if text is not None:
            body["text"] = text
        if action is not None:
            body["action"] = action
        async with self.http.post(self.base + "/api/chat", json=body) as resp:
            return resp.status, await resp.json()

    def kill(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)

    async def wait_until(self, check, timeout: float, what: str) -> float:
        """Poll `check` (sync or async, truthy = done); returns the seconds it took."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}) while waiting for {what}:\n{self.log()[-3000:]}")
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return time.monotonic() - start
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}:\n{self.log()[-3000:]}")

    async def _all_up(self) -> bool:
        return len(await self.workers_seen(4 * self.workers)) >= self.workers
