"""Copy everything from one database to another: `python -m bot db copy SOURCE TARGET`.

The way from the embedded SQLite file to PostgreSQL (and back, for a backup one can open anywhere). Both
ends are migrated to the newest schema first, so the tables match column for column; the target must be
empty (a copy into a database in use would mix two histories). All tables are copied in one transaction
on the target: a failure leaves it as empty as it was. Auto-numbered ids (tickets #0042 are what citizens
and officials quote) are kept, and PostgreSQL's sequences are moved past them. Each table's row count is
compared at the end, and PostgreSQL then vacuums and analyzes the new tables (Database.refresh_statistics),
so the dashboard's first queries are planned with statistics.

Rows stream in batches, so a database of ten million events is never held in memory; into PostgreSQL
they go with COPY, the fastest way in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import connect
from .database import Database, Target
from .migrate import VERSION_TABLE

BATCH = 5000
PARENTS_FIRST = ("tickets",)  # ticket_messages refers to tickets


class CopyError(RuntimeError):
    pass


@dataclass
class CopyReport:
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def copy_database(source: Target | Path | str, target: Target | Path | str, progress: Callable[[str, int], None] | None = None) -> CopyReport:
    """Copy every table of `source` into the empty `target`; raises CopyError with the reason otherwise."""
    if str(Target.parse(source)) == str(Target.parse(target)):
        raise CopyError("source and target are the same database")
    started = time.monotonic()
    with connect(source) as src, connect(target) as dst:
        tables = _tables(src)
        missing = sorted(set(tables) - set(dst.table_names()))
        if missing:
            raise CopyError(f"the target lacks tables {', '.join(missing)} (a newer source schema?)")
        busy = [t for t in tables if dst.scalar(f"select count(*) from {t}")]
        if busy:
            raise CopyError(f"the target is not empty ({', '.join(busy)} have rows): copy into a new, empty database")
        report = CopyReport()
        with dst.transaction():
            if dst.engine == "sqlite":
                dst.execute("pragma defer_foreign_keys = on")
            for table in tables:
                report.rows[table] = _copy_table(src, dst, table, progress)
            if dst.engine == "postgresql":
                _move_sequences(dst, tables)
        for table in tables:
            if (copied := dst.scalar(f"select count(*) from {table}")) != report.rows[table]:
                raise CopyError(f"{table}: {report.rows[table]} rows read but {copied} in the target")
        dst.refresh_statistics()
    report.seconds = time.monotonic() - started
    return report


def _tables(db: Database) -> list[str]:
    names = [t for t in db.table_names() if t != VERSION_TABLE]
    return sorted(names, key=lambda t: (t not in PARENTS_FIRST, t))


def _copy_table(src: Database, dst: Database, table: str, progress: Callable[[str, int], None] | None) -> int:
    cursor = src.execute(f"select * from {table}")
    columns = [d[0] for d in cursor.description]
    count = 0
    while rows := cursor.fetchmany(BATCH):
        count += dst.copy_in(table, columns, rows)
        if progress:
            progress(table, count)
    return count


def _move_sequences(dst: Database, tables: list[str]) -> None:
    """Kept ids would otherwise collide with the next ones PostgreSQL hands out."""
    for table in tables:
        sequence = dst.scalar("select pg_get_serial_sequence(?, 'id')", [table]) if _has_id(dst, table) else None
        if sequence:
            dst.execute(f"select setval(?, coalesce((select max(id) from {table}), 0) + 1, false)", [sequence])


def _has_id(dst: Database, table: str) -> bool:
    return bool(dst.scalar("select 1 from information_schema.columns where table_name = ? and column_name = 'id'", [table]))
