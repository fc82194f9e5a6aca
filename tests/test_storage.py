"""The storage layer itself: one set of queries, two engines, one schema history."""

import sqlite3
import threading

import pytest

from bot import storage
from bot.storage import migrate
from bot.storage.dialect import for_postgresql


def test_placeholders_percent_and_the_user_column_are_translated_outside_literals():
    sql = "select user, 'user %' from t where user = ? and note like '%x' -- who is user?"
    assert for_postgresql(sql) == "select \"user\", 'user %%' from t where \"user\" = %s and note like '%%x' -- who is user?"
    assert for_postgresql("insert or ignore into t values (?, ?)") == "insert into t values (%s, %s) on conflict do nothing"
    assert for_postgresql('select "user" from users') == 'select "user" from users'


def test_a_new_database_is_migrated_to_the_newest_revision_with_every_table(db_target):
    with storage.connect(db_target) as db:
        assert migrate.current(db) == migrate.head()
        tables = set(db.table_names())
    assert {"user_state", "events", "daily", "daily_users", "daily_guide", "daily_feedback", "daily_questions",
            "cluster_marks", "accounts", "api_tokens", "sessions", "audit_log", "tickets", "ticket_messages",
            "outbox", "watchers", "content_revisions"} <= tables


def test_the_same_queries_give_the_same_answers_on_both_engines(db_target):
    with storage.connect(db_target) as db:
        db.executemany("insert into user_state (user, state, updated, created) values (?, ?, ?, ?)",
                       [(f"u{i}", '{"n": "50%"}', 1700000000.25 + i, 1.0) for i in range(3)])
        upsert = ("insert into daily values (?, ?, ?, ?, ?, ?, ?, ?) on conflict (day, channel, topic, kind, lang, source, ward) "
                  "do update set n = daily.n + excluded.n")
        db.execute(upsert, ["2026-12-01", "web", "vneid", "faq", "vi", "", "", 2])
        db.execute(upsert, ["2026-12-01", "web", "vneid", "faq", "vi", "", "", 3])
        assert db.scalar("select n from daily") == 5
        # sums and averages come back as Python numbers, not Decimal, and epoch seconds keep their fraction
        total, mean = db.execute("select sum(n), avg(n) from daily").fetchone()
        assert (total, mean) == (5, 5.0) and type(total) is int
        assert db.scalar("select updated from user_state where user = ?", ["u0"]) == 1700000000.25
        assert db.query("select user, state from user_state where state like '%50\\%%' escape '\\' order by user") [0] == {"user": "u0", "state": '{"n": "50%"}'}
        new_id = db.execute("insert into audit_log (ts, actor, action) values (?, ?, ?) returning id", [1.0, "cli", "test"]).fetchone()[0]
        assert db.scalar("select action from audit_log where id = ?", [new_id]) == "test"


def test_a_failed_transaction_leaves_nothing_behind(db_target):
    with storage.connect(db_target) as db:
        with pytest.raises(storage.IntegrityError):
            with db.transaction():
                db.execute("insert into user_state (user, state) values (?, ?)", ["a", "{}"])
                db.execute("insert into user_state (user, state) values (?, ?)", ["a", "{}"])
        assert db.scalar("select count(*) from user_state") == 0


def test_two_connections_opening_a_new_database_at_once_migrate_it_once(tmp_path):
    path = tmp_path / "race.db"
    errors = []

    def open_it():
        try:
            storage.connect(path).close()
        except Exception as exc:  # noqa: BLE001 - the test reports whatever went wrong
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with storage.connect(path) as db:
        assert db.scalar("select count(*) from digiguide_schema_version") == 1


def test_a_file_from_the_hand_written_migrations_is_adopted_with_its_data(tmp_path):
    """A ward centre's existing file (before Alembic): its rows stay, its old version tables go."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript("""
        create table schema_version (version integer not null); insert into schema_version values (2);
        create table user_state (user TEXT PRIMARY KEY, state TEXT, updated FLOAT, created FLOAT);
        insert into user_state values ('h1', '{"lang": "vi"}', 1.0, 1.0);
        create table cluster_marks (question_key text primary key, status text not null check (status in ('resolved', 'ignored')),
            entry_id text, marked_at real not null);
        insert into cluster_marks values ('kich hoat', 'resolved', 'vneid-activate', 5.0);
    """)
    conn.commit()
    conn.close()
    with storage.connect(path) as db:
        assert db.scalar("select state from user_state where user = 'h1'") == '{"lang": "vi"}'
        assert db.scalar("select entry_id from cluster_marks") == "vneid-activate"
        assert "schema_version" not in db.table_names()
        assert "tickets" in db.table_names()


def test_the_url_is_shown_without_its_password():
    target = storage.Target.parse("postgresql://digiguide:s3cret@db.example:5432/digiguide")
    assert target.engine == "postgresql" and "s3cret" not in str(target)
    assert str(target) == "postgresql://digiguide:***@db.example:5432/digiguide"
    with pytest.raises(ValueError):
        storage.Target.parse("mysql://x@y/z")


def test_the_quick_head_is_alembics_head():
    """migrate.head() reads the revision files itself (no Alembic import on every start): it must agree."""
    from alembic.script import ScriptDirectory

    assert migrate.head() == ScriptDirectory.from_config(migrate._config()).get_current_head()
