"""One connection to wherever DigiGuide keeps its tables: an SQLite file or a PostgreSQL database.

Every store (conversation state, events and rollups, accounts and sessions, tickets, content revisions)
talks to a `Database` and nothing else, so no feature can exist on one engine only. The interface is the
DB-API's plain core (execute, executemany, cursors of tuples) plus `transaction()`, because the stores'
queries are hand-written for their indexes (the dashboard's sub-second reports depend on it) and an ORM
would hide exactly that. Queries use SQLite's `?` placeholders; bot.storage.dialect translates them.

Both engines start in autocommit mode: a lone statement commits on its own, and several statements
that must stand or fall together go inside `with db.transaction():`. On SQLite that is
`begin immediate` (the write lock first, so two processes never deadlock upgrading a read lock); on
PostgreSQL a plain transaction, with row locks where a store needs them (`for update`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from .dialect import for_postgresql

Engine = Literal["sqlite", "postgresql"]
MMAP_SIZE = 256 * 1024 * 1024  # bytes of an SQLite file read through mmap
CACHE_KIB = 32 * 1024  # SQLite's page cache per connection
BUSY_MS = 5000  # how long an SQLite writer waits for another process's write lock


def _driver_errors() -> tuple[tuple[type[BaseException], ...], ...]:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency; SQLite works without it
        return (sqlite3.Error,), (sqlite3.IntegrityError,), (sqlite3.OperationalError,)
    return (
        (sqlite3.Error, psycopg.Error),
        (sqlite3.IntegrityError, psycopg.errors.IntegrityError),
        (sqlite3.OperationalError, psycopg.OperationalError),
    )


# what callers catch, whichever engine raised it
Error, IntegrityError, OperationalError = _driver_errors()


@dataclass(frozen=True)
class Target:
    """Where the tables are: an SQLite file, or a PostgreSQL URL (postgresql://user:password@host:port/db)."""

    engine: Engine
    path: Path | None = None
    url: str | None = None

    @classmethod
    def parse(cls, where: "Target | Path | str") -> "Target":
        if isinstance(where, Target):
            return where
        text = str(where)
        if text.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            return cls("postgresql", url="postgresql://" + text.split("://", 1)[1])
        if text.startswith("sqlite:///"):
            return cls("sqlite", path=Path(text[len("sqlite:///"):]))
        if "://" in text:
            raise ValueError(f"unsupported database URL scheme: {text.split('://', 1)[0]!r} (use postgresql:// or a file path)")
        return cls("sqlite", path=Path(text))

    def __str__(self) -> str:
        """For logs and /healthz: the password never appears."""
        if self.engine == "sqlite":
            return f"sqlite:///{self.path}"
        parts = urlsplit(self.url or "")
        host = parts.hostname or ""
        netloc = (f"{parts.username}:***@" if parts.password else f"{parts.username}@" if parts.username else "") + host
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))

    @property
    def sqlalchemy_url(self) -> str:
        """The same place as SQLAlchemy names it (Alembic runs the migrations through it)."""
        if self.engine == "sqlite":
            return f"sqlite:///{self.path}"
        return "postgresql+psycopg://" + (self.url or "").split("://", 1)[1]


class Database:
    """An open connection; see the module docstring. Not shared between threads without the owner's lock."""

    def __init__(self, target: Target, conn: Any):
        self.target = target
        self.engine: Engine = target.engine
        self._conn = conn
        self._pg = target.engine == "postgresql"

    # -- statements -------------------------------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] = (), *, plan_each: bool = False) -> Any:
        """Run one statement; returns a cursor (fetchone, fetchall, rowcount, iteration).

        `plan_each`: never as a prepared statement on PostgreSQL. psycopg prepares a statement run five
        times, and PostgreSQL may then plan it once for any parameter (a generic plan), which for a query
        whose best plan depends on the value (a question key asked twice or ten thousand times) can turn
        an index walk into a scan of the whole table. SQLite plans every statement alike."""
        if self._pg:
            return self._conn.execute(for_postgresql(sql), list(params), prepare=False if plan_each else None)
        return self._conn.execute(sql, params)

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open on this connection (so a statement joins it)."""
        if not self._pg:
            return self._conn.in_transaction
        from psycopg.pq import TransactionStatus

        return self._conn.info.transaction_status != TransactionStatus.IDLE

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        if self._pg:
            rows = list(rows)
            if rows:
                with self._conn.cursor() as cursor:
                    cursor.executemany(for_postgresql(sql), rows)
            return
        self._conn.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows as dicts keyed by column name (for exports and tests)."""
        cursor = self.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.execute(sql, params).fetchone()
        return None if row is None else row[0]

    @contextmanager
    def transaction(self) -> Iterator["Database"]:
        """All statements inside commit together or not at all."""
        if self._pg:
            with self._conn.transaction():
                yield self
            return
        self._conn.execute("begin immediate")
        try:
            yield self
        except BaseException:
            self._conn.rollback()
            raise
        self._conn.commit()

    # -- what differs between the engines, in one place -----------------------------------------------
    @property
    def lock_rows(self) -> str:
        """A suffix for a select whose rows a write in the same transaction depends on: PostgreSQL's
        ` for update` (read committed would let another transaction change them in between); nothing on
        SQLite, whose `begin immediate` already holds the only write lock (and which has no FOR UPDATE)."""
        return " for update" if self._pg else ""

    def serialize(self, key: int) -> None:
        """Inside a transaction: one such transaction per `key` at a time, across processes, where there is
        no row to lock (the first admin, a lockout record about to be created). PostgreSQL's transaction
        advisory lock; on SQLite `begin immediate` already serialises every writer."""
        if self._pg:
            self.execute("select pg_advisory_xact_lock(?)", [key])

    def copy_in(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Bulk-insert rows: COPY on PostgreSQL (the fastest way in), executemany on SQLite. Returns the count."""
        quoted = ", ".join(f'"{c}"' for c in columns)
        if not self._pg:
            rows = list(rows)
            self.executemany(f"insert into {table} ({quoted}) values ({', '.join('?' * len(columns))})", rows)
            return len(rows)
        count = 0
        with self._conn.cursor() as cursor, cursor.copy(f"copy {table} ({quoted}) from stdin") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count

    def reclaim(self, tables: Sequence[str], full: bool = False) -> bool:
        """After deleting a citizen's rows (outside any transaction): SQLite checkpoints and truncates its
        write-ahead log (the deleted bytes are already overwritten: secure_delete); PostgreSQL vacuums the
        tables (`full` rewrites them, for small tables, so no old page remains in their files). Returns
        False when SQLite could not truncate yet (a reader still holds an older snapshot)."""
        if self._pg:
            self._conn.execute(f"vacuum {'full ' if full else ''}{', '.join(tables)}")
            return True
        return not self._conn.execute("pragma wal_checkpoint(truncate)").fetchone()[0]

    def refresh_statistics(self) -> None:
        """After a bulk load (a copy, millions of events at once; outside any transaction): PostgreSQL
        vacuums and analyzes every table now, as its documentation advises after populating a database,
        instead of planning the dashboard's first queries without statistics and with an unset visibility
        map until autovacuum gets round to the new rows. SQLite is left alone: our queries carry their own
        planner hints, measured without sqlite_stat1 (analytics.report), and ANALYZE would change them."""
        if self._pg:
            self._conn.execute("vacuum analyze")

    @property
    def broken(self) -> bool:
        """Whether the driver has given the connection up (PostgreSQL's server closed it); an SQLite file's never."""
        return self._pg and bool(self._conn.closed or self._conn.broken)

    # -- what is there ----------------------------------------------------------------------------------
    def table_names(self) -> list[str]:
        if self._pg:
            sql = "select tablename from pg_tables where schemaname = current_schema() order by 1"
        else:
            sql = "select name from sqlite_master where type = 'table' order by 1"
        return [row[0] for row in self.execute(sql).fetchall()]

    def size_bytes(self) -> int:
        """What the tables take on disk (the file and its write-ahead log, or the PostgreSQL database)."""
        if self._pg:
            return int(self.scalar("select pg_database_size(current_database())"))
        path = self.target.path
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p and p.exists())

    @property
    def raw(self) -> Any:
        """The driver's connection (sqlite3 or psycopg), for engine-specific upkeep (pragmas, vacuum)."""
        return self._conn

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_database(where: Target | Path | str, *, application: str = "digiguide") -> Database:
    """Connect (without migrating: bot.storage.connect does both)."""
    target = Target.parse(where)
    if target.engine == "sqlite":
        assert target.path is not None
        target.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(target.path), check_same_thread=False, isolation_level=None, timeout=BUSY_MS / 1000)
        conn.execute("pragma journal_mode=wal")
        # a commit survives the process being killed; only a power cut can lose the last ones
        conn.execute("pragma synchronous=normal")
        conn.execute("pragma foreign_keys=on")
        # /forget and erased addresses leave no bytes behind, whatever SQLite's build default
        conn.execute("pragma secure_delete=on")
        # for reading: pages straight from the OS's file cache, and a larger page cache for a report's
        # several reads of one rollup (not temp_store=memory: GROUP BY through an in-memory b-tree is slower)
        conn.execute(f"pragma mmap_size={MMAP_SIZE}")
        conn.execute(f"pragma cache_size=-{CACHE_KIB}")
        return Database(target, conn)
    import psycopg

    conn = psycopg.connect(target.url, autocommit=True, application_name=application[:60])
    _load_numbers(conn)
    return Database(target, conn)


def _load_numbers(conn: Any) -> None:
    """PostgreSQL's sum() and avg() return numeric (Python's Decimal, which no caller expects and which
    breaks JSON): load numeric as int when whole, else float, as SQLite gives them."""
    from psycopg.adapt import Loader

    class NumberLoader(Loader):
        def load(self, data: Any) -> int | float:
            text = bytes(data)
            return float(text) if b"." in text or b"e" in text.lower() or b"N" in text else int(text)

    conn.adapters.register_loader("numeric", NumberLoader)
