"""`python -m bot db copy SQLITE POSTGRESQL`: a ward's existing SQLite file moves to PostgreSQL whole
(issue 13, section 4), and `db status` shows where a database stands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from analytics import report as rpt
from analytics.accounts import Accounts
from analytics.store import connect as connect_analytics, write_batch
from analytics_data import generate_events
from bot import storage
from bot.storage import migrate
from bot.handover.store import TicketStore
from bot.state import DatabaseStateStore, UserState
from handoverutil import open_ticket

ROOT = Path(__file__).resolve().parent.parent
SALT = "copy-test-salt"


def db_command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", "db", *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


def fill(path: str) -> dict:
    """A database as a ward runs it: events and rollups, conversation state, an account, tickets with replies."""
    events = generate_events(n_users=150, days=20, seed=11)
    with connect_analytics(path) as db:
        write_batch(db, events)
        rpt.mark_cluster(db, events[0].question_key or "kich hoat", "ignored")
        accounts = Accounts(db)
        accounts.create_first_admin("chi.lan", "mat-khau-rat-dai-2026")
        db.execute("insert into content_revisions (ts, actor, kind, entry_id, action, base_version, new_version, file, before, after, diff) "
                   "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [1.5, "chi.lan", "faq", "vneid-otp", "edit", "a1", "b2", "faq/vneid.yaml", "x", "y", "-x\n+y"])
    states = DatabaseStateStore(path)
    states.put("hash-1", UserState(lang="en", guide_id="eid-activate", guide_step=3))
    states.close()
    tickets = TicketStore(path, SALT)
    first = open_ticket(tickets, SALT, "web", "session-aaaaaaaa")
    second = open_ticket(tickets, SALT, "telegram", "1001", question="Nộp phạt nguội ở đâu?")
    tickets.reply(first.id, "chi.lan", "Chị vào mục Ví giấy tờ, chọn Kích hoạt lại.")
    tickets.close_db()
    return {"events": len(events), "tickets": [first.id, second.id]}


def test_copy_moves_every_table_and_row_to_postgresql(tmp_path, pg_database):
    source = str(tmp_path / "ward.db")
    made = fill(source)

    run = db_command("copy", source, pg_database)
    assert run.returncode == 0, run.stderr
    assert "copied" in run.stdout and "events" in run.stdout

    with storage.connect(source) as old, storage.connect(pg_database) as new:
        for table in old.table_names():
            if table != "digiguide_schema_version":
                assert new.scalar(f"select count(*) from {table}") == old.scalar(f"select count(*) from {table}"), table
        assert new.scalar("select count(*) from events") == made["events"]
        # vacuumed and analyzed at the end: the dashboard's first queries are planned with statistics
        assert new.scalar("select count(*) from pg_stats where tablename = 'events'") > 0
        assert new.scalar("select last_vacuum is not null from pg_stat_user_tables where relname = 'daily_questions'")
        # the reports read the same from both
        assert rpt.totals(new) == rpt.totals(old)
        assert rpt.breakdown(new, "topic") == rpt.breakdown(old, "topic")
        # the first admin logs in on PostgreSQL with the password set on SQLite
        assert Accounts(new).verify_password("chi.lan", "mat-khau-rat-dai-2026") is not None

    state = DatabaseStateStore(pg_database)
    assert state.get("hash-1") == UserState(lang="en", guide_id="eid-activate", guide_step=3)
    state.close()
    tickets = TicketStore(pg_database, SALT)
    try:
        kept = tickets.get(made["tickets"][0])
        assert kept is not None and kept.question == "Tôi chưa nhận được mã kích hoạt VNeID"
        assert [m.text for m in kept.messages if m.author == "chi.lan"] == ["Chị vào mục Ví giấy tờ, chọn Kích hoạt lại."]
        # ticket numbers citizens were told stay theirs: the next ticket gets the next number
        third = open_ticket(tickets, SALT, "web", "session-bbbbbbbb")
        assert third.id == max(made["tickets"]) + 1
    finally:
        tickets.close_db()


def test_copy_refuses_a_target_that_is_not_empty(tmp_path, pg_database):
    source = str(tmp_path / "ward.db")
    fill(source)
    assert db_command("copy", source, pg_database).returncode == 0
    again = db_command("copy", source, pg_database)
    assert again.returncode == 1
    assert "not empty" in again.stderr
    with storage.connect(pg_database) as db, storage.connect(source) as old:
        assert db.scalar("select count(*) from events") == old.scalar("select count(*) from events"), "nothing copied twice"


def test_status_names_the_engine_and_the_schema(tmp_path):
    path = tmp_path / "new.db"
    run = db_command("status", str(path))
    assert run.returncode == 0, run.stderr
    head = migrate.head()
    assert "engine    sqlite" in run.stdout and f"schema    {head} (newest {head})" in run.stdout
    assert "events" in run.stdout


@pytest.mark.parametrize("bad", ["mysql://x@y/z", "postgresql://nobody@127.0.0.1:1/none"])
def test_a_bad_database_is_one_clear_line(bad):
    run = db_command("status", bad)
    assert run.returncode == 1
    assert run.stderr.startswith("database error:") and "Traceback" not in run.stderr
