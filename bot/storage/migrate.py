"""Bring a database to the newest schema with Alembic, once, however many processes open it at once.

Why Alembic: it is the standard migration tool for SQLAlchemy's DDL, which renders one description of
a table in each engine's own types (double precision and bigserial on PostgreSQL, REAL and rowid keys
on SQLite), keeps one version table (`digiguide_schema_version`), and gives operators the usual
`alembic` vocabulary. The revisions live in bot/storage/migrations/versions.

Opening a database is frequent (each dashboard query opens its own connection), so the check is one
cheap read of the version table; Alembic only runs when that differs from the newest revision, and
then under a lock that every process respects: PostgreSQL's advisory lock, or an exclusive lock on a
file next to the SQLite database (released by the kernel if the process dies).
"""

from __future__ import annotations

import fcntl
import logging
import re
from functools import lru_cache
from pathlib import Path

from .database import Database, Error, Target

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "digiguide_schema_version"
LOCK_KEY = 0x6469_6769  # "digi": the advisory lock id migrations take on PostgreSQL

log = logging.getLogger("digiguide.storage")
logging.getLogger("alembic").setLevel(logging.WARNING)  # one line of ours per upgrade, not Alembic's dozen

@lru_cache(maxsize=1)
def _config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


_REVISION = re.compile(r'^(revision|down_revision)\s*=\s*(None|"[^"]*")', re.MULTILINE)


@lru_cache(maxsize=1)
def head() -> str:
    """The newest revision id, read from the revision files' `revision` / `down_revision` lines.

    Why not Alembic's ScriptDirectory: loading it imports Alembic and SQLAlchemy (half a second), and every
    command-line run and dashboard connection asks this first, almost always to hear that nothing is to be
    done. tests/test_storage.py checks that both agree."""
    revised, revisions = set(), set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = dict(_REVISION.findall(path.read_text(encoding="utf-8")))
        if "revision" in found:
            revisions.add(found["revision"].strip('"'))
            if found.get("down_revision", "None") != "None":
                revised.add(found["down_revision"].strip('"'))
    heads = revisions - revised
    if len(heads) != 1:
        raise RuntimeError(f"the migrations must have one head, found {sorted(heads)}")
    return heads.pop()


def current(db: Database) -> str | None:
    """The revision the database stands at (None: never migrated by Alembic)."""
    try:
        return db.scalar(f"select version_num from {VERSION_TABLE}")
    except Error:
        return None


def ensure(db: Database) -> None:
    """Migrate `db`'s database to head if it is not there yet."""
    if current(db) == head():
        return
    upgrade(db.target)


def upgrade(where: Target | Path | str, revision: str = "head") -> None:
    """Run the pending revisions (under the cross-process migration lock)."""
    import sqlalchemy as sa
    from alembic import command

    target = Target.parse(where)
    engine = sa.create_engine(target.sqlalchemy_url, poolclass=sa.pool.NullPool)
    try:
        with _lock(target, engine) as conn:
            config = _config()
            config.attributes["connection"] = conn
            before = _revision_of(conn)
            conn.commit()  # end the read's implicit transaction, or Alembic would take it for the caller's and never commit
            try:
                command.upgrade(config, revision)
                conn.commit()
            finally:
                config.attributes.pop("connection", None)
            after = _revision_of(conn)
            conn.rollback()
            if after != before:
                log.info("database %s: schema %s -> %s", target, before or "new", after)
    finally:
        engine.dispose()


def _revision_of(conn) -> str | None:
    from alembic.migration import MigrationContext

    return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


class _lock:
    """Holds the migration lock for the duration; yields a SQLAlchemy connection for Alembic."""

    def __init__(self, target: Target, engine) -> None:
        self.target, self.engine = target, engine
        self.conn = None
        self.file = None

    def __enter__(self):
        import sqlalchemy as sa

        if self.target.engine == "sqlite":
            assert self.target.path is not None
            self.target.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = open(f"{self.target.path}.migrate-lock", "a+")
            fcntl.flock(self.file, fcntl.LOCK_EX)
        self.conn = self.engine.connect()
        if self.target.engine == "postgresql":
            self.conn.execute(sa.text("select pg_advisory_lock(:key)"), {"key": LOCK_KEY})
            self.conn.commit()
        return self.conn

    def __exit__(self, *exc: object) -> None:
        import sqlalchemy as sa

        try:
            if self.target.engine == "postgresql":
                self.conn.rollback()
                self.conn.execute(sa.text("select pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
                self.conn.commit()
            self.conn.close()
        finally:
            if self.file is not None:
                fcntl.flock(self.file, fcntl.LOCK_UN)
                self.file.close()
