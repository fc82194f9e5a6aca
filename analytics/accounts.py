"""Officials' accounts, API tokens, sessions and the audit log, in the analytics database (issue 11).

Who can do what
- A Principal is whoever is acting: a personal account (logs in with a password, gets a session) or an
  API token (sent as `Authorization: Bearer <token>`; its own principal with its own role, independent of
  any account, so disabling a person does not break a script and revoking a token locks nobody out).
- Roles are ordered viewer < editor < admin: `viewer` reads; `editor` also edits content and answers
  tickets; `admin` also manages accounts and reloads (Principal.can maps actions to the role they need).
  Wards are orthogonal: an empty tuple means every ward, otherwise the principal sees only those
  (Principal.sees_ward; something with no ward at all is outside every ward binding).
- An account whose password must be changed (a one-time password, after `add` or `reset`) can do
  nothing yet: `can()` is False for every action until change_password succeeds, so a page that forgets
  to send them to the change form still refuses the data.

Secrets
- Passwords: argon2id through argon2-cffi's PasswordHasher with its defaults (64 MiB, 3 passes, about
  0.1 s of one core: call verify_password/change_password off the event loop, e.g. in the executor; the
  C code releases the GIL). A hash made with older parameters is rehashed at the next successful login.
  verify_password runs one verification whether or not the name exists (against a dummy hash), so the
  time it takes does not tell which names exist.
- One-time passwords: 16 characters from an alphabet without look-alikes (no 0/o, 1/l/i), in four groups
  of four, about 79 bits; stored only hashed. Typed back, case, spaces and dashes do not matter.
- API tokens: 256 random bits; only their SHA-256 is stored (a token is not a password: it cannot be
  guessed, so a slow hash would only slow every API call), with a short prefix to recognise it in lists.
- Session cookies: 256 random bits; the table keeps the SHA-256 of the cookie value, so a copy of the
  database does not let anyone in. The CSRF token is kept as is (it is not a credential on its own).
- Nothing here logs, and nothing secret is written to the audit log (audit() refuses detail keys that
  name a secret).

Storage: the tables live with everything else DigiGuide keeps (bot.storage: the SQLite file DIGIGUIDE_DB,
or PostgreSQL with DIGIGUIDE_DATABASE_URL); their schema is in bot/storage/migrations (the baseline
revision). Every change and its audit row commit in one transaction: an audit entry exists exactly when
the change happened. Slow work (hashing) happens before the transaction starts. A change that depends on
what it read is atomic on both engines: a conditional UPDATE (disable only what is enabled, a new password
only over the one just verified), a unique key (a name is taken once), a row lock (`for update` on
PostgreSQL, where transactions are read committed; SQLite's `begin immediate` serialises all writers
anyway), and for the first admin, where there is no row to lock yet, an advisory transaction lock.

Sessions are rows, so they survive a restart and several workers share them. `get` enforces an idle
and an absolute expiry (the in-memory dashboard's 8 h and 24 h) and resolves the account on every call,
so disabling an account or changing its role takes effect on its open sessions at once. last_seen is
written at most every TOUCH_EVERY seconds, not on every request (a write per page view would be the
busiest write in the file); the idle expiry is therefore exact to within that minute.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot import storage

log = logging.getLogger("digiguide.accounts")

ROLES = ("viewer", "editor", "admin")  # in order: each can do what the one before can
ACTIONS = {"read": "viewer", "edit": "editor", "answer": "editor", "admin": "admin", "reload": "admin"}
SESSION_IDLE = 8 * 3600  # seconds without a request before a session lapses
SESSION_LIFETIME = 24 * 3600  # seconds after login when it lapses anyway
TOUCH_EVERY = 60.0  # seconds between writes of a session's last_seen or a token's last_used
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # longer input is refused before hashing (no work for a megabyte "password")
MAX_COOKIE = 128
MAX_TOKEN = 256
OTP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
OTP_GROUPS, OTP_GROUP = 4, 4
TOKEN_PREFIX = "dg_"
TOKEN_SHOWN = 10  # characters of a token kept in clear for lists ("dg_" and 7 random ones)
NAME_RE = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
WARD_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# actors in the audit log that are not accounts (admin-token: the operator's token login), and "citizen":
# how a ticket's conversation names the citizen (bot.handover.store), so no official can pass for one
RESERVED_NAMES = frozenset({"cli", "system", "bootstrap", "admin-token", "citizen"})
SECRET_KEYS = frozenset({"password", "one_time_password", "otp", "token", "secret", "cookie", "csrf"})

Kind = Literal["account", "token"]


# -- errors ----------------------------------------------------------------------------------------------------

class AccountError(ValueError):
    """A request the accounts cannot carry out; `code` is stable (for translated messages), str() is English."""

    code = "invalid"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code


class NotFound(AccountError):
    code = "not_found"


class Conflict(AccountError):
    code = "conflict"


class PolicyError(AccountError):
    """The chosen password does not meet the policy: code is too_short, too_long, same_as_name or same_as_old."""


class WrongPassword(AccountError):
    code = "wrong_password"


# -- values ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Principal:
    """Whoever is acting: an account (kind "account") or an API token (kind "token")."""

    name: str
    role: str
    wards: tuple[str, ...] = ()  # empty: every ward
    kind: Kind = "account"
    must_change: bool = False  # an account still on a one-time password

    @property
    def actor(self) -> str:
        """How the audit log names it: the account name, or "token:<name>" (":" is never in a name)."""
        return self.name if self.kind == "account" else f"token:{self.name}"

    def can(self, action: str) -> bool:
        """May it do `action` (read, edit, answer, admin, reload)? Never while the password must change."""
        try:
            needed = ACTIONS[action]
        except KeyError:
            raise ValueError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})") from None
        return not self.must_change and ROLES.index(self.role) >= ROLES.index(needed)

    def sees_ward(self, ward: str | None) -> bool:
        """Unbound principals see every ward (and what has none); bound ones only their own wards."""
        return not self.wards or ward in self.wards


@dataclass(frozen=True)
class Account:
    """An account as lists show it (never its hash)."""

    name: str
    role: str
    wards: tuple[str, ...]
    must_change: bool
    disabled_at: float | None
    created_at: float
    password_changed_at: float | None  # when its owner last chose a password (None: never yet)

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

    @property
    def state(self) -> str:
        return "disabled" if self.disabled else "must change password" if self.must_change else "active"


@dataclass(frozen=True)
class TokenInfo:
    """An API token as lists show it: the prefix, never the token or its hash."""

    name: str
    role: str
    wards: tuple[str, ...]
    prefix: str
    created_at: float
    last_used_at: float | None
    revoked_at: float | None

    @property
    def state(self) -> str:
        return "revoked" if self.revoked_at is not None else "active"


@dataclass(frozen=True)
class Session:
    """A logged-in browser: the account as it is now, its CSRF token, and when it started and was last seen."""

    principal: Principal
    csrf: str
    created: float
    seen: float


@dataclass(frozen=True)
class AuditEntry:
    id: int
    ts: float
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any]


# -- the database ----------------------------------------------------------------------------------------------

# the PostgreSQL advisory lock create_first_admin takes ("dgad"; bot.storage.migrate's is "digi")
FIRST_ADMIN_LOCK = 0x6467_6164


def connect(where: storage.Target | Path | str) -> storage.Database:
    """The database (bot.storage.connect: opened and migrated); the caller closes it."""
    return storage.connect(where)


# -- audit log -------------------------------------------------------------------------------------------------

def _insert_audit(db: storage.Database, ts: float, actor: str, action: str, target: str | None, detail: dict[str, Any] | None) -> None:
    detail = dict(detail or {})
    secret = SECRET_KEYS.intersection(k.lower() for k in detail)
    if secret:
        raise ValueError(f"audit detail must not carry secrets ({', '.join(sorted(secret))})")
    db.execute(
        "insert into audit_log (ts, actor, action, target, detail) values (?, ?, ?, ?, ?)",
        [ts, actor, action, target, json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)],
    )


def audit(db: storage.Database, actor: str, action: str, target: str | None = None, detail: dict[str, Any] | None = None, *, ts: float | None = None) -> None:
    """Record one change: who (Principal.actor, or "cli"), what (e.g. "content.save", "mark"), on what.

    Inside a transaction the caller already opened on this connection, the row joins it (so a change and
    its entry commit or roll back together); otherwise it commits on its own."""
    ts = time.time() if ts is None else ts
    if db.in_transaction:
        _insert_audit(db, ts, actor, action, target, detail)
        return
    with db.transaction():
        _insert_audit(db, ts, actor, action, target, detail)


def audit_log(db: storage.Database, since: float | None = None, limit: int = 100, *, actor: str | None = None, target: str | None = None) -> list[AuditEntry]:
    """The newest entries first (at most `limit`), optionally from `since` (a timestamp) on, by one actor or target."""
    where, params = ["1 = 1"], []
    for column, value in (("ts >=", since), ("actor =", actor), ("target =", target)):
        if value is not None:
            where.append(f"{column} ?")
            params.append(value)
    rows = db.execute(
        f"select id, ts, actor, action, target, detail from audit_log where {' and '.join(where)} order by ts desc, id desc limit ?",
        [*params, max(0, int(limit))],
    ).fetchall()
    return [AuditEntry(i, ts, a, act, t, json.loads(d)) for i, ts, a, act, t, d in rows]


# -- validation ------------------------------------------------------------------------------------------------

def normalise_name(name: str) -> str:
    """Names are case-insensitive login names: lower-cased, ASCII letters, digits and . _ @ - (up to 64)."""
    value = str(name).strip().lower()
    if not NAME_RE.fullmatch(value):
        raise AccountError(f"invalid name {name!r}: use 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", "bad_name")
    if value in RESERVED_NAMES:
        raise AccountError(f"{value!r} is reserved (the audit log uses it for the command line and the system)", "reserved_name")
    return value


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}: use one of {', '.join(ROLES)}", "bad_role")
    return role


def check_wards(wards: Iterable[str], known: Collection[str] | None = None) -> tuple[str, ...]:
    """Sorted, without repeats; each a ward id, and one of `known` when given (content/locality.yaml's wards)."""
    result = tuple(sorted({str(w).strip() for w in wards}))
    for ward in result:
        if not WARD_RE.fullmatch(ward):
            raise AccountError(f"invalid ward id {ward!r}", "bad_ward")
        if known is not None and ward not in known:
            choices = ", ".join(sorted(known)) or "none are configured"
            raise AccountError(f"unknown ward {ward!r} (wards in content/locality.yaml: {choices})", "bad_ward")
    return result


def check_policy(name: str, new: str, old: str | None = None) -> None:
    """The rules for a password someone chooses: long enough, not their name, not the one it replaces."""
    if not isinstance(new, str) or len(new.strip()) < MIN_PASSWORD:
        raise PolicyError(f"the password needs at least {MIN_PASSWORD} characters", "too_short")
    if len(new) > MAX_PASSWORD:
        raise PolicyError(f"the password may have at most {MAX_PASSWORD} characters", "too_long")
    if new.strip().casefold() == str(name).strip().casefold():
        raise PolicyError("the password must not be the account name", "same_as_name")
    if old is not None and (new == old or canonical_otp(new) == canonical_otp(old)):
        raise PolicyError("choose a new password, not the one you logged in with", "same_as_old")


def new_otp() -> str:
    """A one-time password: four groups of four from an alphabet without look-alikes, e.g. 'k7mq-3fxa-pw9d-htr2'."""
    chars = "".join(secrets.choice(OTP_ALPHABET) for _ in range(OTP_GROUPS * OTP_GROUP))
    return "-".join(chars[i : i + OTP_GROUP] for i in range(0, len(chars), OTP_GROUP))


def canonical_otp(text: str) -> str:
    """A typed one-time password as it was issued: lower case, grouped with dashes, other separators ignored."""
    chars = re.sub(r"[\s\-_.]", "", text).lower()
    if len(chars) != OTP_GROUPS * OTP_GROUP:
        return text
    return "-".join(chars[i : i + OTP_GROUP] for i in range(0, len(chars), OTP_GROUP))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _wards(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


_DUMMY_HASHES: dict[tuple, str] = {}


def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash of nothing anyone knows, made once per set of parameters, to verify against for unknown names."""
    key = (hasher.time_cost, hasher.memory_cost, hasher.parallelism, hasher.hash_len, hasher.salt_len, hasher.type)
    if key not in _DUMMY_HASHES:
        _DUMMY_HASHES[key] = hasher.hash(secrets.token_urlsafe(24))
    return _DUMMY_HASHES[key]


# -- accounts and tokens ---------------------------------------------------------------------------------------

_ACCOUNT_FIELDS = ("name", "role", "wards", "must_change", "disabled_at", "created_at", "password_changed_at")
_ACCOUNT_COLUMNS = ", ".join(_ACCOUNT_FIELDS)


class Accounts:
    """Accounts and API tokens in `db` (accounts.connect, or any bot.storage.connect of the database).

    Every method that changes something takes the actor (Principal.actor, "cli", ...) and writes the
    audit entry in the same transaction. `known_wards`, when given, is the set ward ids must belong to
    (content/locality.yaml); `clock` and `hasher` are there for tests and for tuning. Like its
    connection, an instance is for one thread at a time (the dashboard opens a connection per request
    on its pool; constructing Accounts or SessionStore on it costs nothing)."""

    def __init__(self, db: storage.Database, *, known_wards: Collection[str] | None = None, hasher: PasswordHasher | None = None, clock: Callable[[], float] = time.time):
        self.db, self.known_wards, self.clock = db, known_wards, clock
        self.hasher = hasher or PasswordHasher()

    # -- reading ---------------------------------------------------------------------------------------------
    def _account(self, name: str, lock: bool = False) -> Account | None:
        """The account; `lock`: inside a transaction, held until it ends (PostgreSQL's row lock)."""
        row = self.db.execute(f"select {_ACCOUNT_COLUMNS} from accounts where name = ?{self.db.lock_rows if lock else ''}", [name]).fetchone()
        return None if row is None else _account_of(row)

    def get_user(self, name: str) -> Account | None:
        try:
            return self._account(normalise_name(name))
        except AccountError:
            return None

    def list_users(self) -> list[Account]:
        return [_account_of(r) for r in self.db.execute(f"select {_ACCOUNT_COLUMNS} from accounts order by name")]

    def has_any_admin(self) -> bool:
        """Is there an admin who can log in? Without one, the server's one-time link creates the first."""
        return self.db.execute("select 1 from accounts where role = 'admin' and disabled_at is null limit 1").fetchone() is not None

    def _existing(self, name: str, lock: bool = False) -> tuple[str, Account]:
        name = normalise_name(name)
        account = self._account(name, lock)
        if account is None:
            raise NotFound(f"no account {name!r}")
        return name, account

    # -- changes by an admin ---------------------------------------------------------------------------------
    def add_user(self, name: str, role: str, wards: Iterable[str] = (), *, actor: str) -> str:
        """Create an account; returns its one-time password (to hand over once; it must be changed at first login)."""
        name, role, wards = normalise_name(name), check_role(role), check_wards(wards, self.known_wards)
        otp = new_otp()
        hashed = self.hasher.hash(otp)
        now = self.clock()
        with self.db.transaction():
            # one statement, atomic on both engines: of two admins adding the same name at once, one gets it
            added = self.db.execute(
                "insert into accounts (name, role, wards, password_hash, must_change, created_at) values (?, ?, ?, ?, 1, ?) "
                "on conflict (name) do nothing returning name",
                [name, role, json.dumps(list(wards)), hashed, now],
            ).fetchone()
            if added is None:
                raise Conflict(f"an account {name!r} already exists", "exists")
            _insert_audit(self.db, now, actor, "user.add", name, {"role": role, "wards": list(wards)})
        return otp

    def reset(self, name: str, *, actor: str) -> str:
        """A new one-time password (returned), to change at the next login; the account's sessions end."""
        name, account = self._existing(name)
        if account.disabled:
            raise Conflict(f"account {name!r} is disabled: enable it first", "disabled")
        otp = new_otp()
        hashed = self.hasher.hash(otp)
        now = self.clock()
        with self.db.transaction():
            # only while it is enabled: a disable between the check above and this write wins
            if not self.db.execute("update accounts set password_hash = ?, must_change = 1 where name = ? and disabled_at is null", [hashed, name]).rowcount:
                if self._account(name) is None:
                    raise NotFound(f"no account {name!r}")
                raise Conflict(f"account {name!r} is disabled: enable it first", "disabled")
            dropped = self.db.execute("delete from sessions where account = ?", [name]).rowcount
            _insert_audit(self.db, now, actor, "user.reset", name, {"sessions_ended": dropped})
        return otp

    def disable(self, name: str, *, actor: str) -> bool:
        """Block the account's logins and end its sessions. False if it was disabled already."""
        return self._set_disabled(name, True, actor)

    def enable(self, name: str, *, actor: str) -> bool:
        """Let a disabled account log in again (with the password it had). False if it was enabled."""
        return self._set_disabled(name, False, actor)

    def _set_disabled(self, name: str, disabled: bool, actor: str) -> bool:
        name, _ = self._existing(name)
        now = self.clock()
        with self.db.transaction():  # each update changes the row only if it is not so already: atomic as it is
            if disabled:
                changed = self.db.execute("update accounts set disabled_at = ? where name = ? and disabled_at is null", [now, name]).rowcount
                dropped = self.db.execute("delete from sessions where account = ?", [name]).rowcount
                detail = {"sessions_ended": dropped}
            else:
                changed = self.db.execute("update accounts set disabled_at = null where name = ? and disabled_at is not null", [name]).rowcount
                detail = {}
            if changed:
                _insert_audit(self.db, now, actor, "user.disable" if disabled else "user.enable", name, detail)
        return bool(changed)

    def set_role(self, name: str, role: str, wards: Iterable[str] = (), *, actor: str) -> Account:
        """Change an account's role and wards; its open sessions see the change at their next request."""
        name, _ = self._existing(name)
        role, wards = check_role(role), check_wards(wards, self.known_wards)
        now = self.clock()
        with self.db.transaction():
            _, before = self._existing(name, lock=True)  # what it was, as the audit entry says, until this commits
            self.db.execute("update accounts set role = ?, wards = ? where name = ?", [role, json.dumps(list(wards)), name])
            _insert_audit(self.db, now, actor, "user.role", name, {"role": role, "wards": list(wards), "was": {"role": before.role, "wards": list(before.wards)}})
        return self._account(name)  # type: ignore[return-value]

    def create_first_admin(self, name: str, password: str) -> Principal:
        """The first start: whoever holds the server's one-time login link creates the first admin, with a
        password they choose there (policy-checked, so no one-time password follows). Refused (Conflict,
        code "admin_exists") once an enabled admin exists, checked inside the transaction under a lock
        every writer respects (SQLite's write lock; on PostgreSQL the advisory lock FIRST_ADMIN_LOCK, as
        there is no row to lock before the first admin exists): two browsers, or two workers, using the
        link at once make one admin. Audited with actor "bootstrap"."""
        name = normalise_name(name)
        check_policy(name, password)
        hashed = self.hasher.hash(password)
        now = self.clock()
        with self.db.transaction():
            self.db.serialize(FIRST_ADMIN_LOCK)
            if self.db.execute("select 1 from accounts where role = 'admin' and disabled_at is null limit 1").fetchone():
                raise Conflict("an admin account exists already: log in with it", "admin_exists")
            if self.db.execute("select 1 from accounts where name = ?", [name]).fetchone():
                raise Conflict(f"an account {name!r} already exists", "exists")
            self.db.execute(
                "insert into accounts (name, role, wards, password_hash, must_change, created_at, password_changed_at) values (?, 'admin', '[]', ?, 0, ?, ?)",
                [name, hashed, now, now],
            )
            _insert_audit(self.db, now, "bootstrap", "user.first_admin", name, {"role": "admin", "wards": []})
        return Principal(name, "admin")

    # -- logging in ------------------------------------------------------------------------------------------
    def _check(self, hashed: str, password: str) -> bool:
        try:
            return self.hasher.verify(hashed, password)
        except VerificationError:
            return False
        except InvalidHashError:
            log.warning("an account's stored password hash is not a valid argon2 hash")
            return False

    def verify_password(self, name: str, password: str) -> Principal | None:
        """The principal if `password` is right and the account enabled, else None (whatever the reason:
        unknown name, wrong password, disabled). One argon2 verification either way. A must_change
        principal (one-time password) may only change its password."""
        verified = self._verify(name, password)
        return None if verified is None else verified[0]

    def _verify(self, name: str, password: str) -> tuple[Principal, str] | None:
        """verify_password, with the hash the account has now (after a rehash, the new one)."""
        row = None
        if isinstance(name, str) and isinstance(password, str) and len(password) <= MAX_PASSWORD:
            try:
                key = normalise_name(name)
            except AccountError:
                key = None
            if key is not None:
                row = self.db.execute(f"select {_ACCOUNT_COLUMNS}, password_hash from accounts where name = ?", [key]).fetchone()
        if row is None:
            self._check(_dummy_hash(self.hasher), password if isinstance(password, str) else "")
            return None
        account, hashed = _account_of(row[:-1]), row[-1]
        typed = canonical_otp(password) if account.must_change else password
        if not self._check(hashed, typed) or account.disabled:
            return None
        if self.hasher.check_needs_rehash(hashed):
            rehashed = self.hasher.hash(typed)
            if self.db.execute("update accounts set password_hash = ? where name = ? and password_hash = ?", [rehashed, account.name, hashed]).rowcount:
                hashed = rehashed
        return _principal_of(account), hashed

    def change_password(self, name: str, old: str, new: str) -> Principal:
        """The account's owner chooses a password (after a one-time one, or any time). Raises WrongPassword
        (old is not right, or the account cannot log in) or PolicyError (check_policy). Every session of
        the account ends, this one too: start a new one with the returned principal (a new session id
        after the change, so a stolen old cookie is worth nothing). The new password replaces only the
        one just verified: if a reset, another change or a disable came in between, WrongPassword."""
        verified = self._verify(name, old)
        if verified is None:
            raise WrongPassword("the current password is not right")
        principal, old_hash = verified
        check_policy(principal.name, new, old)
        hashed = self.hasher.hash(new)
        now = self.clock()
        with self.db.transaction():
            changed = self.db.execute(
                "update accounts set password_hash = ?, must_change = 0, password_changed_at = ? where name = ? and password_hash = ? and disabled_at is null",
                [hashed, now, principal.name, old_hash],
            ).rowcount
            if not changed:
                raise WrongPassword("the current password is not right")
            dropped = self.db.execute("delete from sessions where account = ?", [principal.name]).rowcount
            _insert_audit(self.db, now, principal.name, "user.password", principal.name, {"sessions_ended": dropped, "was_one_time": principal.must_change})
        return Principal(principal.name, principal.role, principal.wards)

    # -- API tokens ------------------------------------------------------------------------------------------
    def add_token(self, name: str, role: str, wards: Iterable[str] = (), *, actor: str) -> str:
        """A new API token (returned once; only its hash is kept). One live token per name (a unique index:
        of two adding the same name at once, one gets it)."""
        name, role, wards = normalise_name(name), check_role(role), check_wards(wards, self.known_wards)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.clock()
        with self.db.transaction():
            added = self.db.execute(
                "insert into api_tokens (name, role, wards, token_hash, prefix, created_at) values (?, ?, ?, ?, ?, ?) "
                "on conflict (name) where revoked_at is null do nothing returning id",
                [name, role, json.dumps(list(wards)), _sha256(token), token[:TOKEN_SHOWN], now],
            ).fetchone()
            if added is None:
                raise Conflict(f"a token {name!r} exists already: revoke it first, or choose another name", "exists")
            _insert_audit(self.db, now, actor, "token.add", name, {"role": role, "wards": list(wards), "prefix": token[:TOKEN_SHOWN]})
        return token

    def verify_token(self, token: str) -> Principal | None:
        """The token's principal, or None (unknown, revoked, malformed). Looked up by hash, not compared."""
        if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN:
            return None
        row = self.db.execute("select id, name, role, wards, last_used_at from api_tokens where token_hash = ? and revoked_at is null", [_sha256(token)]).fetchone()
        if row is None:
            return None
        token_id, name, role, wards, last_used = row
        now = self.clock()
        if last_used is None or now - last_used >= TOUCH_EVERY:
            self.db.execute("update api_tokens set last_used_at = ? where id = ?", [now, token_id])
        return Principal(name, role, _wards(wards), kind="token")

    def revoke_token(self, name: str, *, actor: str) -> None:
        """The live token of that name stops working at once (NotFound if there is none)."""
        name = normalise_name(name)
        now = self.clock()
        with self.db.transaction():
            if not self.db.execute("update api_tokens set revoked_at = ? where name = ? and revoked_at is null", [now, name]).rowcount:
                raise NotFound(f"no live token {name!r}")
            _insert_audit(self.db, now, actor, "token.revoke", name, {})

    def list_tokens(self, include_revoked: bool = True) -> list[TokenInfo]:
        where = "" if include_revoked else "where revoked_at is null"
        rows = self.db.execute(f"select name, role, wards, prefix, created_at, last_used_at, revoked_at from api_tokens {where} order by name, created_at")
        return [TokenInfo(n, r, _wards(w), p, c, u, x) for n, r, w, p, c, u, x in rows]


def _account_of(row: tuple) -> Account:
    name, role, wards, must_change, disabled_at, created_at, changed_at = row
    return Account(name, role, _wards(wards), bool(must_change), disabled_at, created_at, changed_at)


def _principal_of(account: Account) -> Principal:
    return Principal(account.name, account.role, account.wards, "account", account.must_change)


# -- sessions --------------------------------------------------------------------------------------------------

class SessionStore:
    """Browser sessions of accounts in the database; see the module docstring for expiry and last_seen."""

    def __init__(self, db: storage.Database, *, idle: float = SESSION_IDLE, lifetime: float = SESSION_LIFETIME, clock: Callable[[], float] = time.time):
        self.db, self.idle, self.lifetime, self.clock = db, idle, lifetime, clock

    def new(self, principal: Principal) -> tuple[str, Session]:
        """Start a session: returns the cookie value (give it to the browser, keep nothing else) and the session."""
        if principal.kind != "account":
            raise ValueError("API tokens do not get sessions: send the token with every request")
        now = self.clock()
        cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self.db.transaction():
            self._purge(now)  # logins are rare: the natural moment to drop lapsed rows
            self.db.execute("insert into sessions (id_hash, account, csrf, created_at, last_seen_at) values (?, ?, ?, ?, ?)", [_sha256(cookie), principal.name, csrf, now, now])
        return cookie, Session(principal, csrf, now, now)

    def get(self, cookie: str | None) -> Session | None:
        """The live session of this cookie value with its account as it is now, or None (unknown, lapsed,
        account disabled or gone). A lapsed session's row is deleted."""
        if not cookie or not isinstance(cookie, str) or len(cookie) > MAX_COOKIE:
            return None
        key = _sha256(cookie)
        row = self.db.execute(
            f"select s.csrf, s.created_at, s.last_seen_at, {', '.join('a.' + c for c in _ACCOUNT_FIELDS)} "
            "from sessions s join accounts a on a.name = s.account where s.id_hash = ?",
            [key],
        ).fetchone()
        if row is None:
            return None
        csrf, created, seen, *account_row = row
        account = _account_of(tuple(account_row))
        now = self.clock()
        if now - seen > self.idle or now - created > self.lifetime or account.disabled:
            self.db.execute("delete from sessions where id_hash = ?", [key])
            return None
        if now - seen >= TOUCH_EVERY:
            self.db.execute("update sessions set last_seen_at = ? where id_hash = ?", [now, key])
            seen = now
        return Session(_principal_of(account), csrf, created, seen)

    def drop(self, cookie: str | None) -> None:
        """Log this browser out."""
        if cookie and isinstance(cookie, str) and len(cookie) <= MAX_COOKIE:
            self.db.execute("delete from sessions where id_hash = ?", [_sha256(cookie)])

    def drop_for(self, name: str) -> int:
        """End every session of an account (returns how many)."""
        return self.db.execute("delete from sessions where account = ?", [str(name).strip().lower()]).rowcount

    def purge_expired(self) -> int:
        return self._purge(self.clock())

    def _purge(self, now: float) -> int:
        return self.db.execute("delete from sessions where last_seen_at < ? or created_at < ?", [now - self.idle, now - self.lifetime]).rowcount

    def count_for(self, name: str) -> int:
        """Sessions an account has open (lapsed ones not yet purged included)."""
        return self.db.execute("select count(*) from sessions where account = ?", [str(name).strip().lower()]).fetchone()[0]
