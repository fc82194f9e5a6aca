"""Accounts, API tokens, database sessions and the audit log (analytics/accounts.py), on both engines: a real
SQLite file and a real PostgreSQL database (conftest's db_target).

Most tests hash with a cheap argon2id (one pass over 1 MiB) so the file stays fast on two shared cores;
the tests of the stored format and of rehashing use PasswordHasher's real defaults."""

import hashlib
import re
import sqlite3
import threading

import pytest
from argon2 import PasswordHasher

from accountsutil import stored_bytes
from analytics.accounts import (
    SESSION_IDLE,
    SESSION_LIFETIME,
    TOUCH_EVERY,
    AccountError,
    Accounts,
    Conflict,
    NotFound,
    PolicyError,
    Principal,
    SessionStore,
    WrongPassword,
    audit,
    audit_log,
    connect,
)

WARDS = {"phuc-yen", "xuan-hoa", "vinh-yen"}
OTP_RE = re.compile(r"[a-hj-km-np-z2-9]{4}(-[a-hj-km-np-z2-9]{4}){3}")
NEW_PASSWORD = "mùa xuân 2026 ở Phúc Yên"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingHasher(PasswordHasher):
    """argon2-cffi's own hasher, counting its verifications (to see that unknown names cost one too)."""

    verified = 0

    def verify(self, hash, password):
        self.verified += 1
        return super().verify(hash, password)


def cheap() -> PasswordHasher:
    return CountingHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def path(db_target):
    """Where the tables are: an SQLite file, or a PostgreSQL database's URL."""
    return db_target


@pytest.fixture
def db(path):
    db = connect(path)
    yield db
    db.close()


@pytest.fixture
def accounts(db, clock):
    return Accounts(db, known_wards=WARDS, hasher=cheap(), clock=clock)


@pytest.fixture
def sessions(db, clock):
    return SessionStore(db, clock=clock)


file_bytes = stored_bytes  # everything the database keeps on disk (accountsutil)


def actions(db) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.target) for e in reversed(audit_log(db, limit=1000))]


# -- passwords -------------------------------------------------------------------------------------------------

def test_passwords_are_stored_as_argon2id_and_never_in_clear(db, path):
    accounts = Accounts(db)  # the real defaults
    otp = accounts.add_user("lan", "editor", ["phuc-yen"], actor="cli")
    assert OTP_RE.fullmatch(otp)
    stored = db.execute("select password_hash from accounts where name = 'lan'").fetchone()[0]
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert otp.encode() not in file_bytes(path)
    accounts.change_password("lan", otp, NEW_PASSWORD)
    stored_after = db.execute("select password_hash from accounts where name = 'lan'").fetchone()[0]
    assert stored_after.startswith("$argon2id$") and stored_after != stored
    everything = file_bytes(path)
    assert otp.encode() not in everything and NEW_PASSWORD.encode() not in everything
    assert accounts.verify_password("lan", NEW_PASSWORD) == Principal("lan", "editor", ("phuc-yen",))


def test_a_hash_with_old_parameters_is_upgraded_at_the_next_login(db):
    weak = Accounts(db, hasher=cheap())
    otp = weak.add_user("lan", "viewer", actor="cli")
    weak.change_password("lan", otp, NEW_PASSWORD)
    assert "m=1024,t=1,p=1" in db.execute("select password_hash from accounts").fetchone()[0]
    assert Accounts(db).verify_password("lan", NEW_PASSWORD) is not None  # today's defaults
    upgraded = db.execute("select password_hash from accounts").fetchone()[0]
    assert upgraded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert weak.verify_password("lan", NEW_PASSWORD) is not None  # still the same password
    assert [a for _, a, _ in actions(db)] == ["user.add", "user.password"]  # a rehash is no change anyone made


def test_the_one_time_password_only_lets_its_owner_choose_a_password(accounts, sessions):
    otp = accounts.add_user("Lan", "editor", actor="cli")
    first = accounts.verify_password("lan", otp)
    assert first == Principal("lan", "editor", (), "account", must_change=True)
    assert not any(first.can(a) for a in ("read", "edit", "answer", "admin"))
    assert accounts.get_user("lan").state == "must change password"
    # typed back carelessly it still works: upper case, spaces instead of dashes, the name in capitals
    assert accounts.verify_password(" LAN", otp.upper().replace("-", " ")) is not None
    chosen = accounts.change_password("lan", otp, NEW_PASSWORD)
    assert chosen == Principal("lan", "editor") and chosen.can("edit")
    assert accounts.verify_password("lan", otp) is None
    assert accounts.verify_password("lan", NEW_PASSWORD) == chosen
    assert accounts.get_user("lan").state == "active" and accounts.get_user("lan").password_changed_at is not None


def test_the_policy_for_a_chosen_password(accounts):
    otp = accounts.add_user("nguyen.lan", "viewer", actor="cli")
    for new, code in [("short pw", "too_short"), ("          x", "too_short"), ("Nguyen.Lan", "same_as_name"),
                      (otp, "same_as_old"), (otp.upper().replace("-", ""), "same_as_old"), ("x" * 2000, "too_long")]:
        with pytest.raises(PolicyError) as caught:
            accounts.change_password("nguyen.lan", otp, new)
        assert caught.value.code == code, new
    assert accounts.get_user("nguyen.lan").must_change  # nothing changed
    with pytest.raises(WrongPassword):
        accounts.change_password("nguyen.lan", "not the password", NEW_PASSWORD)
    assert accounts.verify_password("nguyen.lan", otp) is not None
    assert accounts.change_password("nguyen.lan", otp, "ten chars!").can("read")
    with pytest.raises(PolicyError):
        accounts.change_password("nguyen.lan", "ten chars!", "ten chars!")


def test_wrong_names_and_passwords_get_nothing_and_cost_the_same(accounts):
    otp = accounts.add_user("lan", "viewer", actor="cli")
    accounts.change_password("lan", otp, NEW_PASSWORD)
    for name, password in [("lan", "wrong password"), ("nobody", NEW_PASSWORD), ("Robert'); drop table accounts;--", "x"),
                           ("lan", ""), ("lan", "x" * 100_000), (None, None), ("cli", NEW_PASSWORD)]:
        before = accounts.hasher.verified
        assert accounts.verify_password(name, password) is None
        assert accounts.hasher.verified == before + 1, (name, password)  # one argon2 verification, known name or not
    assert accounts.verify_password("lan", NEW_PASSWORD) is not None


# -- admin changes ---------------------------------------------------------------------------------------------

def test_names_roles_and_wards_are_checked(accounts):
    for name in ("", "a b", "-lan", "x" * 65, "lan:x", "cli", "system"):
        with pytest.raises(AccountError):
            accounts.add_user(name, "viewer", actor="cli")
    with pytest.raises(AccountError) as caught:
        accounts.add_user("lan", "boss", actor="cli")
    assert caught.value.code == "bad_role"
    with pytest.raises(AccountError) as caught:
        accounts.add_user("lan", "viewer", ["nowhere"], actor="cli")
    assert caught.value.code == "bad_ward" and "phuc-yen" in str(caught.value)
    assert accounts.list_users() == []
    accounts.add_user("lan", "viewer", ["xuan-hoa", "phuc-yen", "phuc-yen"], actor="cli")
    assert accounts.get_user("LAN").wards == ("phuc-yen", "xuan-hoa")
    with pytest.raises(Conflict):
        accounts.add_user("Lan", "admin", actor="cli")
    assert [a.role for a in accounts.list_users()] == ["viewer"]


def test_disable_blocks_login_ends_sessions_and_enable_lets_back_in(accounts, sessions):
    otp = accounts.add_user("lan", "editor", actor="cli")
    principal = accounts.change_password("lan", otp, NEW_PASSWORD)
    cookie, _ = sessions.new(principal)
    other, _ = sessions.new(principal)
    assert sessions.get(cookie) is not None
    assert accounts.disable("lan", actor="admin1") is True
    assert sessions.get(cookie) is None and sessions.get(other) is None and sessions.count_for("lan") == 0
    assert accounts.verify_password("lan", NEW_PASSWORD) is None
    assert accounts.get_user("lan").state == "disabled"
    with pytest.raises(WrongPassword):
        accounts.change_password("lan", NEW_PASSWORD, "another good one")
    assert accounts.disable("lan", actor="admin1") is False
    assert accounts.enable("lan", actor="admin1") is True
    assert accounts.verify_password("lan", NEW_PASSWORD) == principal
    with pytest.raises(NotFound):
        accounts.disable("nobody", actor="admin1")


def test_a_reset_during_a_password_change_wins(path, clock):
    """An admin resets lan (say, her laptop was stolen) while someone with her old password is changing it,
    between the check of the old password and the write of the new one: the change is refused, the reset
    stands (on another connection, as another worker would do it)."""
    with connect(path) as first, connect(path) as second:
        admin = Accounts(second, hasher=cheap(), clock=clock)
        principal = admin.change_password("lan", admin.add_user("lan", "editor", actor="cli"), NEW_PASSWORD)
        issued = []

        class ResettingHasher(CountingHasher):
            def hash(self, password, **kw):
                if password == "the thief's choice" and not issued:
                    issued.append(admin.reset("lan", actor="boss"))
                return super().hash(password, **kw)

        thief = Accounts(first, hasher=ResettingHasher(time_cost=1, memory_cost=1024, parallelism=1), clock=clock)
        with pytest.raises(WrongPassword):
            thief.change_password("lan", NEW_PASSWORD, "the thief's choice")
        assert issued and admin.verify_password("lan", "the thief's choice") is None and admin.verify_password("lan", NEW_PASSWORD) is None
        assert admin.verify_password("lan", issued[0]) == Principal(principal.name, principal.role, must_change=True)
        assert [a for _, a, _ in actions(second)] == ["user.add", "user.password", "user.reset"]


def test_reset_issues_a_new_one_time_password_and_ends_sessions(accounts, sessions):
    otp = accounts.add_user("lan", "editor", ["vinh-yen"], actor="cli")
    principal = accounts.change_password("lan", otp, NEW_PASSWORD)
    cookie, _ = sessions.new(principal)
    again = accounts.reset("lan", actor="cli")
    assert OTP_RE.fullmatch(again) and again != otp
    assert sessions.get(cookie) is None
    assert accounts.verify_password("lan", NEW_PASSWORD) is None and accounts.verify_password("lan", otp) is None
    assert accounts.verify_password("lan", again).must_change
    accounts.disable("lan", actor="cli")
    with pytest.raises(Conflict):
        accounts.reset("lan", actor="cli")
    with pytest.raises(NotFound):
        accounts.reset("nobody", actor="cli")


def test_a_role_change_reaches_open_sessions(accounts, sessions):
    otp = accounts.add_user("lan", "viewer", ["phuc-yen"], actor="cli")
    cookie, _ = sessions.new(accounts.change_password("lan", otp, NEW_PASSWORD))
    assert not sessions.get(cookie).principal.can("edit")
    accounts.set_role("lan", "editor", [], actor="boss")
    now = sessions.get(cookie).principal
    assert now.can("edit") and now.sees_ward("tam-son")


def test_first_start_creates_one_admin_only(accounts, sessions):
    assert not accounts.has_any_admin()
    with pytest.raises(PolicyError):
        accounts.create_first_admin("boss", "short")
    admin = accounts.create_first_admin("Boss", NEW_PASSWORD)
    assert admin == Principal("boss", "admin") and admin.can("admin") and accounts.has_any_admin()
    assert accounts.verify_password("boss", NEW_PASSWORD) == admin
    with pytest.raises(Conflict) as caught:
        accounts.create_first_admin("second", NEW_PASSWORD)
    assert caught.value.code == "admin_exists" and accounts.get_user("second") is None
    accounts.disable("boss", actor="cli")  # no admin can log in any more: the link may create one again
    assert not accounts.has_any_admin()
    accounts.create_first_admin("rescue", NEW_PASSWORD)
    assert accounts.has_any_admin()


def test_two_browsers_using_the_first_start_link_at_once_make_one_admin(path):
    connect(path).close()
    barrier, results = threading.Barrier(4), []

    def attempt(name):
        with connect(path) as db:  # a connection each, as two workers have
            accounts = Accounts(db, hasher=cheap())
            barrier.wait()
            try:
                results.append(accounts.create_first_admin(name, NEW_PASSWORD).name)
            except Conflict:
                results.append(None)

    threads = [threading.Thread(target=attempt, args=(f"admin{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([r for r in results if r]) == 1
    with connect(path) as db:
        assert [a.name for a in Accounts(db).list_users()] == [r for r in results if r]
        assert [e.action for e in audit_log(db)] == ["user.first_admin"]


def test_two_admins_adding_the_same_name_at_once_make_one_account(path):
    connect(path).close()
    barrier, results = threading.Barrier(4), []

    def attempt(role):
        with connect(path) as db:
            accounts = Accounts(db, hasher=cheap())
            barrier.wait()
            try:
                accounts.add_user("lan", role, actor="cli")
                results.append(role)
            except Conflict as exc:
                results.append(exc.code)

    threads = [threading.Thread(target=attempt, args=(role,)) for role in ("viewer", "editor", "admin", "viewer")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    made = [r for r in results if r != "exists"]
    assert len(made) == 1 and results.count("exists") == 3
    with connect(path) as db:
        assert [(a.name, a.role) for a in Accounts(db).list_users()] == [("lan", made[0])]
        assert [e.action for e in audit_log(db)] == ["user.add"]  # one change, one entry


# -- principals ------------------------------------------------------------------------------------------------

def test_roles_and_ward_binding():
    viewer, editor, admin = Principal("v", "viewer"), Principal("e", "editor", ("phuc-yen",)), Principal("a", "admin")
    assert [viewer.can(a) for a in ("read", "edit", "answer", "admin", "reload")] == [True, False, False, False, False]
    assert [editor.can(a) for a in ("read", "edit", "answer", "admin", "reload")] == [True, True, True, False, False]
    assert all(admin.can(a) for a in ("read", "edit", "answer", "admin", "reload"))
    assert editor.sees_ward("phuc-yen") and not editor.sees_ward("xuan-hoa") and not editor.sees_ward(None)
    assert admin.sees_ward("xuan-hoa") and admin.sees_ward(None)
    assert Principal("ci", "viewer", kind="token").actor == "token:ci" and admin.actor == "a"
    with pytest.raises(ValueError):
        admin.can("delete everything")


# -- API tokens ------------------------------------------------------------------------------------------------

def test_tokens_are_their_own_principals_stored_hashed(accounts, path, db, clock):
    token = accounts.add_token("ward-report", "viewer", ["xuan-hoa"], actor="cli")
    assert token.startswith("dg_") and len(token) > 40
    assert token.encode() not in file_bytes(path)
    stored = db.execute("select token_hash, prefix from api_tokens").fetchone()
    assert stored == (hashlib.sha256(token.encode()).hexdigest(), token[:10])
    principal = accounts.verify_token(token)
    assert principal == Principal("ward-report", "viewer", ("xuan-hoa",), "token")
    assert principal.can("read") and not principal.can("edit") and not principal.sees_ward("phuc-yen")
    assert accounts.get_user("ward-report") is None  # not an account: it cannot log in
    assert accounts.verify_token(token[:-1]) is None and accounts.verify_token("") is None and accounts.verify_token(None) is None
    listed = accounts.list_tokens()
    assert [(t.name, t.prefix, t.state) for t in listed] == [("ward-report", token[:10], "active")]
    assert listed[0].last_used_at == clock.now
    clock.now += TOUCH_EVERY / 2
    accounts.verify_token(token)
    assert accounts.list_tokens()[0].last_used_at == clock.now - TOUCH_EVERY / 2  # not a write per API call
    clock.now += TOUCH_EVERY
    accounts.verify_token(token)
    assert accounts.list_tokens()[0].last_used_at == clock.now
    with pytest.raises(Conflict):
        accounts.add_token("ward-report", "admin", actor="cli")


def test_a_revoked_token_stops_working_at_once(accounts):
    token = accounts.add_token("ci", "editor", actor="cli")
    accounts.revoke_token("ci", actor="cli")
    assert accounts.verify_token(token) is None
    with pytest.raises(NotFound):
        accounts.revoke_token("ci", actor="cli")
    fresh = accounts.add_token("ci", "viewer", actor="cli")  # the name can be issued again
    assert accounts.verify_token(fresh).role == "viewer" and accounts.verify_token(token) is None
    assert [t.state for t in accounts.list_tokens()] == ["revoked", "active"]
    assert [t.state for t in accounts.list_tokens(include_revoked=False)] == ["active"]


def test_disabling_an_account_leaves_tokens_alone(accounts):
    accounts.add_user("lan", "admin", actor="cli")
    token = accounts.add_token("lan", "viewer", actor="cli")  # a token named like an account is still apart
    accounts.disable("lan", actor="cli")
    assert accounts.verify_token(token).kind == "token"


# -- sessions --------------------------------------------------------------------------------------------------

def test_sessions_survive_a_restart(accounts, sessions, path, clock):
    otp = accounts.add_user("lan", "editor", ["phuc-yen"], actor="cli")
    cookie, session = sessions.new(accounts.change_password("lan", otp, NEW_PASSWORD))
    assert cookie.encode() not in file_bytes(path)
    assert db_hash(path) == hashlib.sha256(cookie.encode()).hexdigest()
    with connect(path) as other:  # a new process on the same database
        restarted = SessionStore(other, clock=clock)
        again = restarted.get(cookie)
        assert again == session and again.principal == Principal("lan", "editor", ("phuc-yen",))
        restarted.drop(cookie)
    assert sessions.get(cookie) is None


def db_hash(path) -> str:
    with connect(path) as db:
        return db.scalar("select id_hash from sessions")


def test_idle_and_absolute_expiry(accounts, sessions, clock):
    principal = accounts.change_password("lan", accounts.add_user("lan", "viewer", actor="cli"), NEW_PASSWORD)
    idle, _ = sessions.new(principal)
    clock.now += SESSION_IDLE + 1
    assert sessions.get(idle) is None
    assert sessions.count_for("lan") == 0  # the lapsed row is gone too
    busy, _ = sessions.new(principal)
    started = clock.now
    while clock.now + SESSION_IDLE / 2 < started + SESSION_LIFETIME:  # used every half idle period all day
        clock.now += SESSION_IDLE / 2
        assert sessions.get(busy) is not None
    clock.now = started + SESSION_LIFETIME + 1
    assert sessions.get(busy) is None


def test_last_seen_is_written_at_most_once_a_minute(accounts, sessions, clock):
    principal = accounts.change_password("lan", accounts.add_user("lan", "viewer", actor="cli"), NEW_PASSWORD)
    cookie, _ = sessions.new(principal)
    start = clock.now
    clock.now += TOUCH_EVERY / 2
    assert sessions.get(cookie).seen == start
    clock.now += TOUCH_EVERY
    assert sessions.get(cookie).seen == clock.now


def test_bad_cookies_and_token_principals(accounts, sessions):
    for cookie in (None, "", "x" * 10_000, "not-a-session"):
        assert sessions.get(cookie) is None
        sessions.drop(cookie)
    with pytest.raises(ValueError):
        sessions.new(Principal("ci", "admin", kind="token"))


def test_drop_for_ends_every_session_of_one_account(accounts, sessions):
    lan = accounts.change_password("lan", accounts.add_user("lan", "viewer", actor="cli"), NEW_PASSWORD)
    mai = accounts.change_password("mai", accounts.add_user("mai", "viewer", actor="cli"), NEW_PASSWORD)
    cookies = [sessions.new(lan)[0] for _ in range(3)]
    theirs, _ = sessions.new(mai)
    assert sessions.drop_for("lan") == 3
    assert all(sessions.get(c) is None for c in cookies) and sessions.get(theirs).principal == mai


def test_changing_the_password_ends_the_sessions_of_the_account(accounts, sessions):
    otp = accounts.add_user("lan", "viewer", actor="cli")
    cookie, _ = sessions.new(accounts.verify_password("lan", otp))
    assert sessions.get(cookie).principal.must_change
    accounts.change_password("lan", otp, NEW_PASSWORD)
    assert sessions.get(cookie) is None


# -- audit log -------------------------------------------------------------------------------------------------

def test_every_change_is_in_the_audit_log_without_secrets(accounts, db, path, clock):
    otp = accounts.add_user("lan", "editor", ["phuc-yen"], actor="cli")
    accounts.change_password("lan", otp, NEW_PASSWORD)
    again = accounts.reset("lan", actor="boss")
    accounts.disable("lan", actor="boss")
    accounts.enable("lan", actor="boss")
    accounts.set_role("lan", "viewer", ["xuan-hoa"], actor="boss")
    token = accounts.add_token("ci", "viewer", actor="cli")
    accounts.revoke_token("ci", actor="token:ops")
    accounts.create_first_admin("boss", NEW_PASSWORD)
    accounts.verify_password("lan", again)  # logging in is not a change
    assert actions(db) == [
        ("cli", "user.add", "lan"), ("lan", "user.password", "lan"), ("boss", "user.reset", "lan"),
        ("boss", "user.disable", "lan"), ("boss", "user.enable", "lan"), ("boss", "user.role", "lan"),
        ("cli", "token.add", "ci"), ("token:ops", "token.revoke", "ci"), ("bootstrap", "user.first_admin", "boss"),
    ]
    entries = {e.action: e for e in audit_log(db)}
    assert entries["user.add"].detail == {"role": "editor", "wards": ["phuc-yen"]} and entries["user.add"].ts == clock.now
    assert entries["user.role"].detail["was"] == {"role": "editor", "wards": ["phuc-yen"]}
    log_text = " ".join(row[0] for row in db.execute("select detail from audit_log order by id"))
    for secret in (otp, again, NEW_PASSWORD, token):
        assert secret not in log_text
    assert token[:10] in log_text  # the prefix, to tell tokens apart


def test_audit_for_other_changes_joins_the_callers_transaction(db):
    audit(db, "lan", "mark", "kich hoat vneid", {"status": "resolved"}, ts=100.0)
    with pytest.raises(RuntimeError):
        with db.transaction():
            db.execute("insert into cluster_marks values ('x', 'ignored', null, 1)")
            audit(db, "lan", "mark", "x", {"status": "ignored"}, ts=200.0)
            raise RuntimeError("the change failed")  # its entry goes with it
    assert db.scalar("select count(*) from cluster_marks") == 0
    assert [(e.target, e.detail) for e in audit_log(db)] == [("kich hoat vneid", {"status": "resolved"})]
    with db.transaction():  # and one that commits takes its entry along
        db.execute("insert into cluster_marks values ('y', 'ignored', null, 1)")
        audit(db, "lan", "mark", "y", {"status": "ignored"}, ts=250.0)
    assert [e.target for e in audit_log(db, since=200.0)] == ["y"]
    db.execute("delete from audit_log where target = 'y'")
    audit(db, "mai", "content.save", "faq/eid-activate", ts=300.0)
    assert [e.ts for e in audit_log(db)] == [300.0, 100.0]
    assert [e.ts for e in audit_log(db, since=150.0)] == [300.0]
    assert [e.actor for e in audit_log(db, limit=1)] == ["mai"]
    assert [e.actor for e in audit_log(db, actor="lan")] == ["lan"]
    with pytest.raises(ValueError):
        audit(db, "lan", "user.add", "x", {"password": "hunter2"})


# -- a database from before bot.storage ------------------------------------------------------------------------

LEGACY_ACCOUNTS = """
    create table accounts_schema_version (version integer not null); insert into accounts_schema_version values (1);
    create table accounts (
        name text primary key, role text not null check (role in ('viewer', 'editor', 'admin')),
        wards text not null default '[]', password_hash text not null, must_change integer not null,
        disabled_at real, created_at real not null, password_changed_at real);
    create table api_tokens (
        id integer primary key, name text not null, role text not null check (role in ('viewer', 'editor', 'admin')),
        wards text not null default '[]', token_hash text not null unique, prefix text not null,
        created_at real not null, last_used_at real, revoked_at real);
    create unique index idx_api_tokens_live_name on api_tokens(name) where revoked_at is null;
    create table sessions (
        id_hash text primary key, account text not null, csrf text not null, created_at real not null, last_seen_at real not null);
    create index idx_sessions_account on sessions(account);
    create table audit_log (
        id integer primary key, ts real not null, actor text not null, action text not null, target text, detail text not null default '{}');
    create index idx_audit_log_ts on audit_log(ts);
"""


def test_a_file_from_the_hand_written_migrations_keeps_its_accounts(tmp_path, clock):
    """A ward centre's SQLite file made by the accounts' own migrations (before Alembic): its officials
    still log in with their passwords, their tokens still work, and the audit log goes on."""
    hasher = cheap()
    token = "dg_" + "x" * 43
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(LEGACY_ACCOUNTS)
    conn.execute("insert into accounts values ('lan', 'editor', '[\"phuc-yen\"]', ?, 0, null, 1.0, 1.0)", [hasher.hash(NEW_PASSWORD)])
    conn.execute("insert into api_tokens (name, role, wards, token_hash, prefix, created_at) values ('ci', 'viewer', '[]', ?, ?, 1.0)",
                 [hashlib.sha256(token.encode()).hexdigest(), token[:10]])
    conn.execute("insert into audit_log (ts, actor, action, target) values (1.0, 'cli', 'user.add', 'lan')")
    conn.commit()
    conn.close()
    with connect(path) as db:
        accounts = Accounts(db, hasher=hasher, clock=clock)
        assert accounts.verify_password("lan", NEW_PASSWORD) == Principal("lan", "editor", ("phuc-yen",))
        assert accounts.verify_token(token) == Principal("ci", "viewer", (), "token")
        accounts.add_user("mai", "viewer", actor="lan")
        assert [e.action for e in reversed(audit_log(db))] == ["user.add", "user.add"]
        assert "accounts_schema_version" not in db.table_names()
