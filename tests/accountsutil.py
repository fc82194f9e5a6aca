"""Officials' accounts for the HTTP and browser tests, made the way `python -m analytics users add` makes
them (analytics.accounts on the server's own database file).

    PASSWORD                                    the password every helper account ends up with
    make_account(db_path, name, role, wards)    an account that has chosen PASSWORD (no one-time password left)
    add_account(db_path, name, role, wards)     an account still on its one-time password: returns it
    session_cookie(db_path, name)               a session of an existing account, as the login would start it
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from analytics.accounts import Accounts, SessionStore, connect

PASSWORD = "correct horse battery"


def add_account(db_path: Path, name: str, role: str, wards: Iterable[str] = ()) -> str:
    db = connect(db_path)
    try:
        return Accounts(db).add_user(name, role, wards, actor="cli")
    finally:
        db.conn.close()


def make_account(db_path: Path, name: str, role: str, wards: Iterable[str] = ()) -> None:
    otp = add_account(db_path, name, role, wards)
    db = connect(db_path)
    try:
        Accounts(db).change_password(name, otp, PASSWORD)
    finally:
        db.conn.close()


def session_cookie(db_path: Path, name: str) -> str:
    """The cookie value of a new session of `name` (accounts.SessionStore, as the login starts one)."""
    db = connect(db_path)
    try:
        principal = Accounts(db).verify_password(name, PASSWORD)
        assert principal is not None, name
        return SessionStore(db).new(principal)[0]
    finally:
        db.conn.close()
