"""Working-group report (analytics.outreach_report) at a million events: each view, best of 3.

Run by bench/bench_analytics.py on the database it generates (moved here from the test suite: speed is
measured in `make bench`, not asserted by timed unit tests). Two databases: the benchmark's own (its links
carry no group), and a copy where most linked citizens and a fifth of the others came through a working
group (about 60,000 of 200,000), the heavy case for this report.

    .venv/bin/python bench/bench_outreach.py PATH   (a database kept by bench_analytics.py --keep PATH)
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analytics import outreach_report as orr  # noqa: E402
from analytics.report import Filters  # noqa: E402
from analytics.store import connect  # noqa: E402
from bot import storage  # noqa: E402
from bot.knowledge import KnowledgeBase, load_knowledge  # noqa: E402


def timed(fn, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def default_view(db: storage.Database) -> Filters:
    """What /dashboard/groups shows first: the last 12 weeks that have data."""
    last = dt.date.fromisoformat(db.execute("select max(day) from daily").fetchone()[0])
    return Filters(since=last - dt.timedelta(days=last.weekday(), weeks=11), until=last)


def with_groups(source: sqlite3.Connection, copy: Path, kb: KnowledgeBase) -> None:
    """Copy the database and give most linked citizens (and some others) a working group."""
    with sqlite3.connect(copy) as target:
        source.backup(target)
    conn = sqlite3.connect(copy)
    groups = sorted(kb.working_groups)
    conn.create_function("grp", 1, lambda u: groups[int(u[:4], 16) % len(groups)], deterministic=True)
    with conn:
        conn.execute("update daily_users set source = source || '__' || grp(user) where source != '' and unicode(substr(user, 5, 1)) % 5 != 0")
        conn.execute("update daily_users set source = 'menu__' || grp(user) where source = '' and unicode(substr(user, 6, 1)) % 5 = 0")
        # the daily rollup has no user: give its linked questions a group, and some unlinked ones a group menu
        conn.execute("update daily set source = source || '__' || ? where source != ''", [groups[0]])
        conn.execute("update daily set source = 'menu__' || ? where source = '' and ward = 'tam-son'", [groups[1]])
    conn.close()


def bench_outreach(path: Path, kb: KnowledgeBase | None = None) -> list[tuple[str, float]]:
    kb = kb or load_knowledge()
    pages = {g.id: len(g.steps) for g in kb.guides.values()}
    timings: list[tuple[str, float]] = []
    source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)  # the benchmark's file stays as it is
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "groups.db"
        try:
            db = storage.Database(storage.Target.parse(path), source)
            for name, f in (("default view", default_view(db)), ("all time", Filters())):
                timings.append((f"groups report, {name}", timed(lambda: orr.outreach(db, kb.working_groups, pages, f))))
            with_groups(source, copy, kb)
        finally:
            source.close()
        db = connect(copy)
        try:
            for name, f in (("default view", default_view(db)), ("all time", Filters())):
                timings.append((f"groups report, group-heavy copy, {name}", timed(lambda: orr.outreach(db, kb.working_groups, pages, f))))
        finally:
            db.close()
    return timings


if __name__ == "__main__":
    for name, seconds in bench_outreach(Path(sys.argv[1])):
        print(f"  {name:<48} {seconds * 1000:7.0f} ms {'OK' if seconds < 1 else 'OVER 1 s'}")
