"""Analytics at scale: one million realistic events.

Measures, in one run:
  1. ingest rate through EventStore (record() on the caller's side, the writer thread committing batches
     with rollups), and the database size at one million events;
  2. the report command (`python -m analytics report --format json`) and every dashboard view, timed
     against that database through the real server;
  3. the engine's throughput with event logging off, batched, and durable (same questions, same process).

Targets (issue 4): every dashboard view under 1 s, logging costing under 10% of engine throughput, and
the database under 300 MB at one million events.

    .venv/bin/python bench/bench_analytics.py [--events 1000000] [--keep PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from analytics.store import EventStore, connect  # noqa: E402
from bot.engine import Engine, Incoming  # noqa: E402
from bot.evaluation import load_devset  # noqa: E402
from bot.knowledge import load_knowledge  # noqa: E402
from bot.service import ChatService  # noqa: E402
from bot.state import DatabaseStateStore  # noqa: E402


def generate(n: int) -> list:
    """About n events from the test generator (realistic sessions over many weeks)."""
    from analytics_data import generate_events

    events, users = [], 0
    seed = 1
    while len(events) < n:
        batch = generate_events(n_users=4000, days=180, seed=seed)
        events.extend(batch)
        seed += 1
    return events[:n]


def bench_ingest(path: Path, events: list) -> dict:
    store = EventStore(path, flush_interval=1.0).start()
    start = time.perf_counter()
    for e in events:
        store.record(e)
    queued = time.perf_counter() - start
    store.stop(timeout=600)
    total = time.perf_counter() - start
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    return {"events": store.committed, "record_us": queued / len(events) * 1e6, "seconds": total, "rate": store.committed / total, "mb": size / 1e6}


def bench_report(path: Path) -> float:
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "analytics", "report", "--format", "json", "--db", str(path)], capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - start
    assert run.returncode == 0, run.stderr[-1000:]
    return elapsed


async def bench_engine(logging_on: bool, questions: list[str], rounds: int, tmp: Path, durable: bool = True) -> float:
    """Questions per second through ChatService, one at a time, with or without the event store attached
    (durable: each answer waits for its event's commit, as the server does; see bench_durability.py)."""
    kb = load_knowledge()
    tmp.mkdir(parents=True, exist_ok=True)
    db = tmp / "engine.db"
    store = EventStore(db).start() if logging_on else None
    service = ChatService(Engine(kb, DatabaseStateStore(db), "bench"), store, durable=durable)
    for q in questions[:50]:  # warm caches
        await service.handle(Incoming("web", "warm", text=q))
    start = time.perf_counter()
    n = 0
    for r in range(rounds):
        for i, q in enumerate(questions):
            await service.handle(Incoming("web", f"user-{i % 200}", text=q))
            n += 1
    elapsed = time.perf_counter() - start
    if store is not None:
        store.stop()
    await service.drain()
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="keep the generated database here")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="digiguide-bench-"))
    try:
        path = tmp / "analytics.db"
        t = time.perf_counter()
        events = generate(args.events)
        print(f"generated {len(events):,} events in {time.perf_counter() - t:.1f} s")
        ingest = bench_ingest(path, events)
        del events
        print(
            f"ingest: {ingest['events']:,} events in {ingest['seconds']:.1f} s = {ingest['rate']:,.0f} events/s committed "
            f"(record() on the answer path: {ingest['record_us']:.1f} µs per event); database {ingest['mb']:.0f} MB"
        )
        report_s = bench_report(path)
        print(f"python -m analytics report --format json at {args.events:,} events: {report_s:.2f} s (including Python start-up)")
        try:
            from bench_dashboard import bench_dashboard  # noqa: E402

            for name, seconds in bench_dashboard(path):
                print(f"  dashboard {name:<40} {seconds * 1000:7.0f} ms {'OK' if seconds < 1 else 'OVER 1 s'}")
        except ImportError:
            print("  dashboard: not available")
        from bench_outreach import bench_outreach  # noqa: E402

        for name, seconds in bench_outreach(path):
            print(f"  {name:<48} {seconds * 1000:7.0f} ms {'OK' if seconds < 1 else 'OVER 1 s'}")

        questions = [i.q for i in load_devset()]
        time.sleep(5)  # let the dashboard server's last checkpoint finish: it would skew the first pair
        runs = [
            (asyncio.run(bench_engine(False, questions, 2, tmp / f"off{k}")),
             asyncio.run(bench_engine(True, questions, 2, tmp / f"batched{k}", durable=False)),
             asyncio.run(bench_engine(True, questions, 2, tmp / f"on{k}")))
            for k in range(3)
        ]
        off, batched, on = (statistics.median(r[i] for r in runs) for i in range(3))
        print(
            f"engine throughput, one question at a time (median of 3 alternating runs): logging off {off:,.0f} questions/s, "
            f"logging batched once a second {batched:,.0f} (cost {(1 - batched / off) * 100:+.1f}%), "
            f"logging durable (the default) {on:,.0f} (cost {(1 - on / off) * 100:+.1f}%)"
        )
        if args.keep:
            shutil.copy(path, args.keep)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
