"""Durable answers: what waiting for each answer's commit costs, and what it saves (issue 10, section 3).

Measures, in one run, with durable events on (the default) and off (the old one-second writer):
  1. kill -9 under load: `python -m bot serve` answers web chat questions at 20 per second and is killed
     mid-load, ten times per mode; how many answered questions have no event afterwards (target: 0 on);
  2. the latency an answer gains: ChatService.handle one question at a time, p50 and p99, on and off;
  3. throughput: 64 questions in flight at once, answers per second, on and off (the group commit lets
     concurrent answers share one transaction).

    .venv/bin/python bench/bench_durability.py [--runs 10] [--questions 1500]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from analytics.store import EventStore  # noqa: E402
from bot.engine import Engine, Incoming  # noqa: E402
from bot.evaluation import load_devset  # noqa: E402
from bot.knowledge import load_knowledge  # noqa: E402
from bot.matcher import Matcher  # noqa: E402
from bot.service import ChatService  # noqa: E402
from bot.state import SqliteStateStore  # noqa: E402
from killrun import kill_under_load  # noqa: E402


def kills(runs: int, durable: bool) -> tuple[int, int]:
    """(acknowledged, lost) summed over `runs` kill -9 runs."""
    acknowledged = lost = 0
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as folder:
            result = kill_under_load(Path(folder), rate=20, seconds=2.0, durable=durable)
        acknowledged += result.acknowledged
        lost += result.lost
    return acknowledged, lost


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def serve_questions(kb, matcher, questions: list[str], durable: bool, concurrency: int) -> tuple[list[float], float]:
    """Latencies of each handle() (seconds) and the wall time, with `concurrency` questions in flight."""
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "bench.db"
        events = EventStore(db).start()
        service = ChatService(Engine(kb, SqliteStateStore(db), "bench", matcher=matcher), events, durable=durable)
        latencies: list[float] = []
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int, text: str) -> None:
            async with gate:
                start = time.perf_counter()
                await service.handle(Incoming("web", f"bench-session-{i % 500}", text=text))
                latencies.append(time.perf_counter() - start)

        start = time.perf_counter()
        await asyncio.gather(*(one(i, q) for i, q in enumerate(questions)))
        wall = time.perf_counter() - start
        await service.drain()
        events.stop()
        service.engine.store.close()
    return latencies, wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--questions", type=int, default=1500)
    args = parser.parse_args()

    kb = load_knowledge()
    matcher = Matcher(kb)
    pool = [item.q for item in load_devset()]
    questions = [pool[i % len(pool)] for i in range(args.questions)]

    print(f"kill -9 under load ({args.runs} runs per mode, 20 questions/s for 2 s, killed with questions in flight)")
    for durable in (False, True):
        acknowledged, lost = kills(args.runs, durable)
        label = "durable (default)" if durable else "1 s writer (before)"
        share = lost / acknowledged if acknowledged else 0.0
        print(f"  {label:<20} acknowledged {acknowledged:>4}  lost {lost:>3}  ({share:.1%})")

    print(f"\nanswer latency, one question at a time ({len(questions)} questions, real SQLite file)")
    sequential = {}
    for durable in (False, True):
        latencies, _ = asyncio.run(serve_questions(kb, matcher, questions, durable, concurrency=1))
        sequential[durable] = latencies
        print(f"  {'durable' if durable else 'not durable':<12} p50 {percentile(latencies, .5) * 1000:6.2f} ms  p99 {percentile(latencies, .99) * 1000:6.2f} ms")
    added50 = (percentile(sequential[True], .5) - percentile(sequential[False], .5)) * 1000
    added99 = (percentile(sequential[True], .99) - percentile(sequential[False], .99)) * 1000
    print(f"  added by waiting for the commit: p50 {added50:+.2f} ms, p99 {added99:+.2f} ms")

    print("\nthroughput, 64 questions in flight")
    rates = {}
    for durable in (False, True):
        latencies, wall = asyncio.run(serve_questions(kb, matcher, questions, durable, concurrency=64))
        rates[durable] = len(questions) / wall
        print(f"  {'durable' if durable else 'not durable':<12} {rates[durable]:7.0f} answers/s  p99 {percentile(latencies, .99) * 1000:7.1f} ms")
    print(f"  durable / not durable: {rates[True] / rates[False]:.2f}x")
    print(f"  (median latency, sequential, not durable: {statistics.median(sequential[False]) * 1000:.2f} ms)")


if __name__ == "__main__":
    main()
