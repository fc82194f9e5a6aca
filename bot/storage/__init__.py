"""Where everything DigiGuide keeps is stored: one SQLite file by default, or PostgreSQL.

`connect(where)` opens a `Database` and brings its schema up to date (bot.storage.migrate). `where`
is a file path (SQLite, the embedded default for `make run`), `sqlite:///path`, or a PostgreSQL URL
(`DIGIGUIDE_DATABASE_URL`); bot.config.Settings.database says which one a deployment uses.
"""

from __future__ import annotations

from pathlib import Path

from . import migrate
from .database import Database, Error, IntegrityError, OperationalError, Target, open_database

__all__ = ["Database", "Error", "IntegrityError", "OperationalError", "Target", "connect", "open_database"]


def connect(where: Target | Path | str, *, application: str = "digiguide") -> Database:
    """An open, migrated database. The caller closes it."""
    db = open_database(where, application=application)
    try:
        migrate.ensure(db)
    except BaseException:
        db.close()
        raise
    return db
