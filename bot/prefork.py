"""`serve --workers N`: N worker processes on one listening socket, as gunicorn and uvicorn do it.

Why pre-fork rather than a process manager in front: the master binds the port, loads and checks the
content and migrates the database once, then forks; each worker inherits the bound socket and the
kernel hands each new connection to one of the workers that wait in accept(). Any worker takes any
request (web chat, webhook, dashboard): everything a request needs is in the shared database, and the
work that must run once is held by one worker through the database (bot.singleton).

The master only supervises: it forwards SIGTERM/SIGINT (stop, each worker drains) and SIGHUP (reload
content) to the workers, and starts a new worker when one dies (kill -9, out of memory), after a pause
that grows if workers keep dying at start. The master itself starts no thread and no event loop before
forking, so each worker begins with a clean process.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable

from . import storage
from .config import Settings

log = logging.getLogger("digiguide.prefork")

RESPAWN_PAUSE, RESPAWN_MAX = 0.5, 30.0  # seconds before starting a worker again; doubles while they die young
YOUNG = 10.0  # a worker that dies within this many seconds of its start counts as "dying young"


def prepare(settings: Settings) -> None:
    """What every worker would otherwise race to do: create or migrate the schema."""
    storage.connect(settings.database).close()


def run(workers: int, start_worker: Callable[[int], int]) -> int:
    """Fork `workers` processes running `start_worker(index)`; supervise them until told to stop."""
    children: dict[int, tuple[int, float]] = {}  # pid -> (index, started at)
    stopping = False
    pause = RESPAWN_PAUSE

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, signal.SIG_DFL)
            code = 1
            try:
                code = start_worker(index)
            except BaseException:  # noqa: BLE001 - logged, then the worker exits and the master respawns it
                log.exception("worker %d failed", index)
            finally:
                logging.shutdown()
                os._exit(code)
        children[pid] = (index, time.monotonic())

    def forward(sig: int, _frame: object) -> None:
        nonlocal stopping
        if sig in (signal.SIGTERM, signal.SIGINT):
            stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM if sig == signal.SIGINT else sig)
            except ProcessLookupError:
                pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    for index in range(workers):
        spawn(index)
    log.info("%d workers started (pids %s)", workers, ", ".join(map(str, children)))
    failures = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        index, started = children.pop(pid, (None, 0.0))
        if index is None:
            continue
        code = os.waitstatus_to_exitcode(status)
        if stopping:
            failures += code not in (0, -signal.SIGTERM)
            continue
        log.error("worker %d (pid %d) ended (%s); starting another", index, pid, f"signal {-code}" if code < 0 else f"exit {code}")
        pause = min(pause * 2, RESPAWN_MAX) if time.monotonic() - started < YOUNG else RESPAWN_PAUSE
        deadline = time.monotonic() + pause
        while not stopping and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.1))
        if not stopping:
            spawn(index)
    log.info("all workers stopped")
    return 1 if failures else 0
