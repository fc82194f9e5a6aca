"""Officials' accounts for the HTTP and browser tests, made the way `python -m analytics users add` makes
them (analytics.accounts on the server's own database: an SQLite file or a PostgreSQL URL, as db_target gives).

    PASSWORD                                    the password every helper account ends up with
    make_account(where, name, role, wards)      an account that has chosen PASSWORD (no one-time password left)
    add_account(where, name, role, wards)       an account still on its one-time password: returns it
    session_cookie(where, name)                 a session of an existing account, as the login would start it
    stored_bytes(where)                         what the database holds on disk, to look for secrets in
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from analytics.accounts import Accounts, SessionStore, connect
from bot.storage import Target

PASSWORD = "correct horse battery"


def add_account(where: Path | str, name: str, role: str, wards: Iterable[str] = ()) -> str:
    with connect(where) as db:
        return Accounts(db).add_user(name, role, wards, actor="cli")


def make_account(where: Path | str, name: str, role: str, wards: Iterable[str] = ()) -> None:
    otp = add_account(where, name, role, wards)
    with connect(where) as db:
        Accounts(db).change_password(name, otp, PASSWORD)


def session_cookie(where: Path | str, name: str) -> str:
    """The cookie value of a new session of `name` (accounts.SessionStore, as the login starts one)."""
    with connect(where) as db:
        principal = Accounts(db).verify_password(name, PASSWORD)
        assert principal is not None, name
        return SessionStore(db).new(principal)[0]


def stored_bytes(where: Path | str) -> bytes:
    """Every byte the database keeps of its tables on disk. SQLite: the file and its write-ahead log (freed
    pages included). PostgreSQL: the files of this database in the server's data directory, after a
    checkpoint wrote every change there, and every row of every table as text (so a value the server
    compressed is looked at too)."""
    target = Target.parse(where)
    if target.engine == "sqlite":
        path = target.path
        return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    out: list[bytes] = []
    with connect(where) as db:
        for table in db.table_names():
            for row in db.execute(f'select * from "{table}"'):
                out.extend(v if isinstance(v, bytes) else str(v).encode("utf-8", "surrogatepass") for v in row)
        db.execute("checkpoint")  # the test server's superuser may
        folder = Path(db.scalar("select setting from pg_settings where name = 'data_directory'"), "base",
                      str(db.scalar("select oid from pg_database where datname = current_database()")))
    out.extend(p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file())
    return b"\n".join(out)
