"""The dashboard's side of the accounts (analytics.accounts): sessions, API tokens and audit entries in the
database (Settings.database), on one thread of the dashboard's own with one long-lived connection (AuthStore).

Why a thread of its own: every request looks its session up (a small read by primary key; at most once a
minute a write of last_seen), so that read must neither wait behind report queries on the dashboard's
query threads (a page's twelve sections can take all of them) nor block the event loop (a write may wait
for SQLite's lock while the event writer commits). One thread, one connection: nothing is opened per
request. Password checks (argon2, about 0.1 s of a core each) do NOT run here, or every request would
queue behind a login: they run on the dashboard's query threads (Dashboard.query).

The admin token's sessions. The access token (DIGIGUIDE_DASHBOARD_TOKEN, or the link `serve` prints) is
not an account: whoever logs in with it is OPERATOR, a built-in principal (name "admin-token", role admin,
no ward binding, kind "token", so the audit log names it "token:admin-token"). Its sessions are rows of
the same sessions table (so they, too, survive a restart, and several workers share them) with account
OPERATOR_ROW, which no account can have (":" is never in a name), keyed not by the SHA-256 of the cookie
but by an HMAC of the cookie under the token. So a new token (a restart with a generated one, or a changed
setting) ends every session the old one opened, and the table still holds nothing that lets anyone in or
tests a guess of the token (the cookie, 256 random bits, is not in it).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bot import storage

from .. import accounts
from ..accounts import MAX_COOKIE, TOUCH_EVERY, Accounts, Principal, Session, SessionStore

log = logging.getLogger("digiguide.dashboard")

OPERATOR = Principal("admin-token", "admin", (), kind="token")
OPERATOR_ROW = ":admin-token"  # sessions.account of the admin token's sessions
T = TypeVar("T")


class Sessions(SessionStore):
    """accounts.SessionStore, plus the admin token's sessions (see the module docstring). `token` is the
    server's access token ("" : no token, so no such sessions)."""

    def __init__(self, db: storage.Database, token: str, **kwargs: Any):
        super().__init__(db, **kwargs)
        self.token = token

    def _operator_key(self, cookie: str | None) -> str | None:
        if not self.token or not cookie or not isinstance(cookie, str) or len(cookie) > MAX_COOKIE:
            return None
        return hmac.new(self.token.encode("utf-8", "surrogatepass"), cookie.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()

    def new(self, principal: Principal) -> tuple[str, Session]:
        if principal != OPERATOR:
            return super().new(principal)
        if not self.token:
            raise ValueError("no access token is set: nobody can log in with it")
        cookie, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), self.clock()
        self.purge_expired()
        self.db.execute(
            "insert into sessions (id_hash, account, csrf, created_at, last_seen_at) values (?, ?, ?, ?, ?)",
            [self._operator_key(cookie), OPERATOR_ROW, csrf, now, now],
        )
        return cookie, Session(OPERATOR, csrf, now, now)

    def get(self, cookie: str | None) -> Session | None:
        session = super().get(cookie)
        key = None if session is not None else self._operator_key(cookie)
        if key is None:
            return session
        row = self.db.execute("select csrf, created_at, last_seen_at from sessions where id_hash = ? and account = ?", [key, OPERATOR_ROW]).fetchone()
        if row is None:
            return None
        csrf, created, seen = row
        now = self.clock()
        if now - seen > self.idle or now - created > self.lifetime:
            self.db.execute("delete from sessions where id_hash = ?", [key])
            return None
        if now - seen >= TOUCH_EVERY:
            self.db.execute("update sessions set last_seen_at = ? where id_hash = ?", [now, key])
            seen = now
        return Session(OPERATOR, csrf, created, seen)

    def drop(self, cookie: str | None) -> None:
        super().drop(cookie)
        key = self._operator_key(cookie)
        if key is not None:
            self.db.execute("delete from sessions where id_hash = ?", [key])


@dataclass(frozen=True)
class LoginState:
    """What the login form needs to know: are there accounts to log in to, and an admin among them?"""

    accounts: bool  # an enabled account exists: the name and password form is shown
    admin: bool  # an enabled admin exists: a token login goes where it was asked, not to the first admin


class AuthStore:
    """The dashboard's sessions, tokens and audit log, on one thread with one connection (the module's
    docstring says why). Opened at the application's start (open), closed with it (close)."""

    def __init__(self, where: storage.Target | Path | str, token: str):
        self.where, self.token = storage.Target.parse(where), token
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dashboard-auth")
        self._sessions: Sessions | None = None
        self._accounts: Accounts | None = None

    async def run(self, fn: Callable[[Sessions, Accounts], T]) -> T:
        """`fn(sessions, accounts)` on the thread; keep it small (no hashing: that goes to Dashboard.query)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, self._call, fn)

    def _call(self, fn: Callable[[Sessions, Accounts], T]) -> T:
        for attempt in (1, 2):
            if self._sessions is None or self._accounts is None:
                db = accounts.connect(self.where)
                self._sessions, self._accounts = Sessions(db, self.token), Accounts(db)
            try:
                return fn(self._sessions, self._accounts)
            except storage.OperationalError:
                if not self._lost() or attempt == 2:
                    raise
                # the PostgreSQL server restarted or dropped the connection: once more on a new one
                log.warning("dashboard sessions: the database connection was lost; reconnecting")
                self._sessions.db.close()
                self._sessions = self._accounts = None
        raise AssertionError("unreachable")

    def _lost(self) -> bool:
        """Is the connection gone for good (PostgreSQL's, closed or broken; an SQLite file's never is)?"""
        db = self._sessions.db if self._sessions is not None else None
        return db is not None and db.broken

    async def open(self) -> None:
        """Open the connection (and bring the database's schema up to date: bot.storage.connect) now, at
        the application's start, so that whatever writes an audit entry on another connection finds the tables."""
        await self.run(lambda s, a: None)

    async def session(self, cookie: str | None) -> Session | None:
        return await self.run(lambda s, a: s.get(cookie))

    async def start(self, principal: Principal, old_cookie: str | None) -> tuple[str, Session]:
        """A new session (the cookie value and the session), the browser's old one ended."""

        def start(s: Sessions, a: Accounts) -> tuple[str, Session]:
            s.drop(old_cookie)
            return s.new(principal)

        return await self.run(start)

    async def drop(self, cookie: str | None) -> None:
        await self.run(lambda s, a: s.drop(cookie))

    async def verify_token(self, token: str) -> Principal | None:
        """An API token's principal (accounts.verify_token: one lookup by its SHA-256), or None."""
        return await self.run(lambda s, a: a.verify_token(token))

    async def audit(self, actor: str, action: str, target: str | None = None, detail: dict[str, Any] | None = None) -> None:
        await self.run(lambda s, a: accounts.audit(s.db, actor, action, target, detail))

    async def login_state(self) -> LoginState:
        def state(s: Sessions, a: Accounts) -> LoginState:
            row = s.db.execute("select count(*), coalesce(sum(case when role = 'admin' then 1 else 0 end), 0) from accounts where disabled_at is null").fetchone()
            return LoginState(row[0] > 0, row[1] > 0)

        return await self.run(state)

    async def close(self) -> None:
        def close(s: Sessions, a: Accounts) -> None:
            s.db.close()

        if self._sessions is not None:
            await self.run(close)
        self.executor.shutdown(wait=False, cancel_futures=True)
