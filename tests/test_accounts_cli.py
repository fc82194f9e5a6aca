"""`python -m analytics users ...` and `tokens ...` as an operator runs them: real processes, a database in tmp_path
(an SQLite file) or, for the tests of `add` and of tokens, also a PostgreSQL database given as `--db URL` (each
process costs about a second, and the SQL below the commands is analytics.accounts', tested on both engines in
tests/test_accounts.py)."""

import subprocess
import sys
from pathlib import Path

import pytest

from accountsutil import stored_bytes
from analytics.accounts import Accounts, Principal, audit_log, connect

ROOT = Path(__file__).resolve().parent.parent
NEW_PASSWORD = "mùa xuân 2026 ở Phúc Yên"


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "digiguide.db"


def run(*args):
    return subprocess.run([sys.executable, "-m", "analytics", *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=120)


def trail(db_path) -> list[tuple[str, str, str]]:
    """The audit log, oldest first: who did what to whom."""
    with connect(db_path) as db:
        return [(e.actor, e.action, e.target) for e in reversed(audit_log(db))]


def secret_of(proc) -> str:
    """The command's stdout is the secret alone, on one line."""
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout
    return lines[0]


def test_users_add_prints_the_one_time_password_once_and_lists_the_account(db_target, tmp_path):
    db_path = db_target
    added = run("users", "add", "Lan", "--role", "editor", "--ward", "phuc-yen", "--ward", "xuan-hoa", "--db", db_path)
    otp = secret_of(added)
    assert "one-time password" in added.stderr and "'lan'" in added.stderr and otp not in added.stderr
    admin = run("users", "add", "boss", "--role", "admin", "--db", db_path)
    listed = run("users", "list", "--db", db_path)
    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["name", "role", "wards", "state", "created"]
    assert lines[1].split()[:4] == ["boss", "admin", "all", "must"] and lines[2].split()[:3] == ["lan", "editor", "phuc-yen,xuan-hoa"]
    assert "must change password" in lines[2]
    for secret in (otp, secret_of(admin)):
        assert secret not in listed.stdout + listed.stderr
        assert secret.encode() not in b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file()) + stored_bytes(db_path)
    with connect(db_path) as db:
        accounts = Accounts(db)
        principal = accounts.verify_password("lan", otp)  # what the login page will do with it
        assert principal == Principal("lan", "editor", ("phuc-yen", "xuan-hoa"), must_change=True)
        accounts.change_password("lan", otp, NEW_PASSWORD)
    assert "active" in run("users", "list", "--db", db_path).stdout.splitlines()[2]


def test_unknown_ward_role_or_name_is_a_clear_error(db_path):
    ward = run("users", "add", "lan", "--role", "viewer", "--ward", "nowhere", "--db", db_path)
    assert ward.returncode == 2 and "unknown ward 'nowhere'" in ward.stderr and "phuc-yen" in ward.stderr and ward.stdout == ""
    role = run("users", "add", "lan", "--role", "boss", "--db", db_path)
    assert role.returncode == 2 and "invalid choice: 'boss'" in role.stderr
    name = run("users", "add", "no spaces", "--role", "viewer", "--db", db_path)
    assert name.returncode == 2 and "invalid name" in name.stderr
    token_ward = run("tokens", "add", "ci", "--role", "viewer", "--ward", "nowhere", "--db", db_path)
    assert token_ward.returncode == 2 and "unknown ward" in token_ward.stderr
    assert "no accounts" in run("users", "list", "--db", db_path).stdout
    missing = run("users", "disable", "nobody", "--db", db_path)
    assert missing.returncode == 2 and "no account 'nobody'" in missing.stderr
    again = run("users", "add", "lan", "--role", "viewer", "--db", db_path)
    assert again.returncode == 0
    twice = run("users", "add", "LAN", "--role", "admin", "--db", db_path)
    assert twice.returncode == 2 and "already exists" in twice.stderr and twice.stdout == ""


def test_commands_other_than_add_need_an_existing_database(tmp_path):
    for args in (["users", "list"], ["users", "reset", "lan"], ["tokens", "list"], ["tokens", "revoke", "ci"]):
        proc = run(*args, "--db", tmp_path / "typo.db")
        assert proc.returncode == 2 and "no database at" in proc.stderr, args
    assert not (tmp_path / "typo.db").exists()


def test_disable_reset_and_enable(db_path):
    otp = secret_of(run("users", "add", "lan", "--role", "viewer", "--db", db_path))
    accounts = Accounts(connect(db_path))
    accounts.change_password("lan", otp, NEW_PASSWORD)
    reset = run("users", "reset", "lan", "--db", db_path)
    fresh = secret_of(reset)
    assert fresh != otp and fresh not in reset.stderr
    assert accounts.verify_password("lan", NEW_PASSWORD) is None and accounts.verify_password("lan", fresh).must_change
    disabled = run("users", "disable", "lan", "--db", db_path)
    assert disabled.returncode == 0 and "disabled 'lan'" in disabled.stdout
    assert accounts.verify_password("lan", fresh) is None
    assert "disabled" in run("users", "list", "--db", db_path).stdout
    refused = run("users", "reset", "lan", "--db", db_path)
    assert refused.returncode == 2 and "disabled" in refused.stderr and refused.stdout == ""
    assert run("users", "enable", "lan", "--db", db_path).returncode == 0
    assert accounts.verify_password("lan", fresh) is not None
    assert trail(db_path) == [  # every change by the command line, as "cli" (the refused reset changed nothing)
        ("cli", "user.add", "lan"), ("lan", "user.password", "lan"), ("cli", "user.reset", "lan"),
        ("cli", "user.disable", "lan"), ("cli", "user.enable", "lan"),
    ]



def test_role_changes_the_role_and_wards_of_an_account_and_its_open_sessions(db_path):
    otp = secret_of(run("users", "add", "lan", "--role", "viewer", "--ward", "phuc-yen", "--db", db_path))
    accounts = Accounts(connect(db_path))
    accounts.change_password("lan", otp, NEW_PASSWORD)
    changed = run("users", "role", "lan", "--role", "editor", "--ward", "phuc-yen", "--ward", "xuan-hoa", "--db", db_path)
    assert changed.returncode == 0 and "'lan' is now editor (wards: phuc-yen,xuan-hoa)" in changed.stdout, changed.stderr
    who = accounts.verify_password("lan", NEW_PASSWORD)
    assert (who.role, who.wards) == ("editor", ("phuc-yen", "xuan-hoa")) and who.can("edit")
    assert run("users", "role", "lan", "--role", "viewer", "--db", db_path).returncode == 0  # no ward: every ward
    assert accounts.verify_password("lan", NEW_PASSWORD).wards == ()
    for args, message in ((("--role", "boss"), "invalid choice"), (("--role", "viewer", "--ward", "hai-chau"), "hai-chau")):
        refused = run("users", "role", "lan", *args, "--db", db_path)
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
    unknown = run("users", "role", "nobody", "--role", "viewer", "--db", db_path)
    assert unknown.returncode == 2 and "nobody" in unknown.stderr
    assert [t for t in trail(db_path) if t[1] == "user.role"] == [("cli", "user.role", "lan")] * 2

def test_tokens_add_prints_the_token_once_list_shows_only_its_prefix_revoke_ends_it(db_target):
    db_path = db_target
    added = run("tokens", "add", "ward-report", "--role", "viewer", "--ward", "vinh-yen", "--db", db_path)
    token = secret_of(added)
    assert token.startswith("dg_") and token not in added.stderr and "Bearer" in added.stderr
    db = connect(db_path)
    accounts = Accounts(db)
    assert accounts.verify_token(token) == Principal("ward-report", "viewer", ("vinh-yen",), "token")
    listed = run("tokens", "list", "--db", db_path)
    assert token not in listed.stdout and token[:10] + "…" in listed.stdout and "active" in listed.stdout
    revoked = run("tokens", "revoke", "ward-report", "--db", db_path)
    assert revoked.returncode == 0 and accounts.verify_token(token) is None
    assert "revoked" in run("tokens", "list", "--db", db_path).stdout
    db.close()
    assert trail(db_path) == [("cli", "token.add", "ward-report"), ("cli", "token.revoke", "ward-report")]
