"""`python -m analytics demo` and `make demo`: what a newcomer sees after one command. The real command fills
a real SQLite file; the figures are read back through the report, the working-group report and the real
dashboard server: the default views show data, every example reads as a citizen typed it and is what the
engine would store for it, every entry, ward and group named exists, and a database with real events is
never touched without --force. It fills a PostgreSQL database the same way (one test: the report code it
exercises runs on both engines in its own tests)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from analytics import outreach_report as orr
from analytics import report as rpt
from analytics.store import VIETNAM, connect
from bot.engine import Incoming
from bot.text import has_vietnamese_marks
from webutil import app_settings, make_app

ROOT = Path(__file__).resolve().parent.parent


def demo(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analytics", "demo", *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=120)


def today() -> dt.date:
    return dt.datetime.now(VIETNAM).date()


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    return path, demo("--db", path)


@pytest.fixture
def db(made):
    db = connect(made[0])
    yield db
    db.close()


def count(path: Path, sql: str) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchone()[0]


def test_it_says_what_it_made_and_how_to_open_the_dashboard(made):
    path, out = made
    assert out.returncode == 0, out.stderr
    events = count(path, "select count(*) from events")
    assert f"{events:,} generated events" in out.stdout and events > 5000
    assert f"DIGIGUIDE_DB={path} make run" in out.stdout  # not the default database: say how to point the server at it
    assert "/dashboard/login" in out.stdout and "/dashboard/groups" in out.stdout and "Nothing in it is real" in out.stdout


def test_the_default_views_have_data_up_to_today(db):
    day = today()
    last28 = rpt.totals(db, rpt.Filters(since=day - dt.timedelta(days=27), until=day))
    assert last28.questions > 1000 and last28.unique_users > 300
    assert last28.answered and last28.suggest and last28.fallback and last28.suggestions_tapped and last28.feedback
    assert last28.last_day >= (day - dt.timedelta(days=1)).isoformat()
    assert db.execute("select max(ts) from events").fetchone()[0] <= time.time()  # nothing dated in the future
    monday = day - dt.timedelta(days=day.weekday() + 7)  # the weekly summary's default: the last complete week
    assert rpt.totals(db, rpt.Filters(since=monday, until=monday + dt.timedelta(days=6))).questions > 100
    assert rpt.funnels(db, rpt.Filters(since=day - dt.timedelta(days=27)))  # guides walked page by page
    assert rpt.helpfulness(db, rpt.Filters(since=day - dt.timedelta(days=27)), min_votes=3)


def test_every_working_group_has_results_on_the_groups_page(db, kb):
    data = orr.for_kb(db, kb, rpt.Filters(since=today() - dt.timedelta(weeks=12)))
    new = {r["id"]: r["new_citizens"] for r in data["groups"] if r["level"] == "group"}
    assert set(kb.working_groups) <= set(new) and all(new[g] > 10 for g in kb.working_groups), new


def test_everything_it_names_exists_in_the_content(db, kb):
    entries = {e for (e,) in db.execute("select distinct entry_id from events where entry_id is not null")}
    assert entries and entries <= set(kb.faqs) | set(kb.guides)
    wards = {w for (w,) in db.execute("select distinct ward from events where ward is not null")}
    assert wards <= {w["id"] for w in kb.locality["wards"]}
    sources = {s for (s,) in db.execute("select distinct source from events where source is not null")}
    assert {s.partition("__")[2] for s in sources if "__" in s} == set(kb.working_groups)


def test_examples_read_as_typed_and_are_what_the_engine_stores(db, engine):
    """Each top question's example is a stored wording of its key as the engine makes it: typing the
    example into the demo server lands in the same row. Most read with their diacritics."""
    top = rpt.top_questions(db, rpt.Filters(since=today() - dt.timedelta(days=27)))
    assert len(top) >= 40
    for n, q in enumerate(top):
        assert q.example != q.key
        event = engine.handle(Incoming("web", f"demo-check-{n}", text=q.example)).event
        assert (event.question, event.question_key) == (q.example, q.key), q
    assert sum(has_vietnamese_marks(q.example) for q in top) > len(top) / 2
    clusters = rpt.unanswered_clusters(db, rpt.Filters(since=today() - dt.timedelta(days=27)))
    assert clusters and all(c.example == c.examples[0] and c.example != c.key for c in clusters)


def test_a_database_with_events_is_refused_and_force_replaces_only_the_analytics(made, tmp_path):
    copy = tmp_path / "copy.db"
    with sqlite3.connect(made[0]) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    with sqlite3.connect(copy) as conn:
        conn.execute("create table kept (note text)")  # conversation state, accounts: not the demo's to delete
        conn.execute("insert into kept values ('still here')")
        key = conn.execute("select question_key from daily_questions where kind = 'fallback' limit 1").fetchone()[0]
        conn.execute("insert into cluster_marks values (?, 'ignored', null, 0)", [key])
    before = count(copy, "select count(*) from events")

    refused = demo("--db", copy)
    assert refused.returncode == 2 and "already has" in refused.stderr and "--force" in refused.stderr
    assert count(copy, "select count(*) from events") == before and count(copy, "select count(*) from cluster_marks") == 1

    forced = demo("--db", copy, "--force")
    assert forced.returncode == 0, forced.stderr
    events = count(copy, "select count(*) from events")
    assert f"{events:,} generated events" in forced.stdout  # replaced, not added to
    assert count(copy, "select count(*) from cluster_marks") == 0 and count(copy, "select note from kept") == "still here"


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    bad = tmp_path / "notes.db"
    bad.write_text("my notes\n" * 200)
    out = demo("--db", bad)
    assert out.returncode == 2 and "not an analytics database" in out.stderr
    assert bad.read_text() == "my notes\n" * 200


def test_the_demo_fills_a_postgresql_database_and_refuses_one_with_events(pg_url):
    out = demo("--db", pg_url)
    assert out.returncode == 0, out.stderr
    assert f"DIGIGUIDE_DATABASE_URL={pg_url} make run" in out.stdout  # how to point the server at it
    db = connect(pg_url)
    try:
        events = db.scalar("select count(*) from events")
        assert f"{events:,} generated events" in out.stdout and events > 5000
        day = today()
        last28 = rpt.totals(db, rpt.Filters(since=day - dt.timedelta(days=27), until=day))
        assert last28.questions > 1000 and last28.unique_users > 300 and last28.last_day >= (day - dt.timedelta(days=1)).isoformat()
        assert db.scalar("select count(*) from tickets") > 50 and db.scalar("select count(*) from watchers where notified_at is not null") > 0
    finally:
        db.close()
    refused = demo("--db", pg_url)  # (--force is the SQLite test's: the same deletes)
    assert refused.returncode == 2 and "already has" in refused.stderr and "--force" in refused.stderr
    db = connect(pg_url)
    try:
        assert db.scalar("select count(*) from events") == events
    finally:
        db.close()


def test_make_demo_fills_the_demo_database_then_starts_the_server():
    out = subprocess.run(["make", "-n", "demo"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    fill = next(i for i, line in enumerate(lines) if "-m analytics demo" in line)
    serve = next(i for i, line in enumerate(lines) if "-m bot serve" in line)
    assert fill < serve and "--force" in lines[fill] and "data/demo.db" in lines[fill] and "DIGIGUIDE_DB=data/demo.db" in lines[serve]


async def test_the_dashboard_opens_on_the_demo_data(made, tmp_path, kb, matcher):
    copy = tmp_path / "x.db"  # app_settings' analytics database
    with sqlite3.connect(made[0]) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    client = TestClient(TestServer(make_app(tmp_path, kb, matcher, app_settings(tmp_path))))
    await client.start_server()
    try:
        origin = str(client.make_url("/")).rstrip("/")
        r = await client.post("/dashboard/login", data={"token": "tok", "next": "/dashboard/"}, headers={"Origin": origin}, allow_redirects=False)
        assert r.status == 303
        r = await client.get("/dashboard/", allow_redirects=False)  # the default view: the last 28 days with data
        assert r.status == 302 and "since=" in r.headers["Location"]
        query = r.headers["Location"].partition("?")[2]
        totals = (await (await client.get(f"/dashboard/api/section/totals?{query}")).json())["data"]
        assert totals["questions"] > 1000
        top = (await (await client.get(f"/dashboard/api/section/top_questions?{query}")).json())["data"]
        assert top and all(t["example"] != t["key"] for t in top)
        body = (await (await client.get("/dashboard/groups/export/groups.csv")).read()).decode("utf-8-sig")
        rows = [r for r in csv.DictReader(io.StringIO(body)) if r["level"] == "group"]
        assert {r["id"] for r in rows if int(r["new_citizens"]) > 0} == set(kb.working_groups)
    finally:
        await client.close()


def test_the_simulated_week_of_tickets_is_written_through_the_ticket_store(tmp_path, kb):
    from analytics.demo_tickets import simulate
    from bot.handover.hours import VIETNAM

    end = dt.datetime(2026, 12, 5, 12, 0, tzinfo=VIETNAM).timestamp()  # a Saturday noon
    week = simulate(tmp_path / "t.db", "salt", kb, end)
    with sqlite3.connect(tmp_path / "t.db") as conn:
        status = dict(conn.execute("select status, count(*) from tickets group by status").fetchall())
        first = conn.execute("select min(created_at), max(created_at), max(first_answer_at) from tickets").fetchone()
        outbox = dict(conn.execute("select status, count(*) from outbox group by status").fetchall())
        notified = conn.execute("select count(*) from watchers where notified_at is not null and address is null").fetchone()[0]
    assert week.tickets == sum(status.values()) and 50 <= week.tickets <= 110
    assert status.get("closed", 0) == week.closed and status.get("open", 0) == week.open
    assert week.answered == week.closed + status.get("answered", 0)
    assert outbox.get("queued", 0) == 0 and outbox.get("failed", 0) == week.failed  # demo deliveries are all settled
    assert notified == week.notified > 0
    assert end - 7 * 86400 <= first[0] and first[1] < end and first[2] < end  # nothing after the end of the week
