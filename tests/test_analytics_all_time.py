"""The all-time rollups (user_firsts, guide_furthest; migration 0003) give the same figures as the daily
tables whatever order the events arrive in, lose a citizen on /forget, follow a purge, and are backfilled
when an existing database is migrated. Both engines (db_target).

The expected figures are counted here from the Event lists, not through the store."""

from __future__ import annotations

import datetime as dt

import pytest

from analytics import report as rpt
from analytics.report import Filters
from analytics.store import connect, forget_user, local_day, purge_older_than, write_batch
from bot.engine import Event
from bot.storage import migrate
from bot.storage.database import open_database

DAY = 86400
START = dt.datetime(2026, 3, 2, 10, tzinfo=dt.timezone(dt.timedelta(hours=7))).timestamp()  # 10:00 in Vietnam


def visit(user: str, day: int, channel: str = "web", ward: str = "Phúc Yên", source: str = "", steps: tuple[int, ...] = ()) -> list[Event]:
    """A citizen's question on day `day` (counted from START), and the guide pages they opened that day."""
    ts = START + day * DAY
    out = [Event(ts=ts, channel=channel, user=user, lang="vi", kind="faq", topic="eid", entry_id="eid-levels", question="muc 2 la gi", question_key="muc", source=source or None, ward=ward)]
    out += [Event(ts=ts + i + 1, channel=channel, user=user, lang="vi", kind="guide_step", topic="eid", entry_id="eid-activate", guide_step=s, ward=ward) for i, s in enumerate(steps)]
    return out


def expected_users(events: list[Event], until: int | None = None) -> dict[str, object]:
    """Distinct users overall and per channel and ward among the days up to `until` (all when None)."""
    kept = [e for e in events if until is None or local_day(e.ts) <= local_day(START + until * DAY)]
    return {
        "all": len({e.user for e in kept}),
        "channel": {c: len({e.user for e in kept if e.channel == c}) for c in {e.channel for e in kept}},
        "ward": {w: len({e.user for e in kept if e.ward == w}) for w in {e.ward for e in kept}},
    }


def report_users(db, f: Filters) -> dict[str, object]:
    return {
        "all": rpt.totals(db, f).unique_users,
        "channel": {r.value: r.users for r in rpt.breakdown(db, "channel", f)},
        "ward": {r.value: r.users for r in rpt.breakdown(db, "ward", f)},
    }


def funnel(db, f: Filters = Filters()) -> dict[int, int]:
    return {s.step: s.users for fn in rpt.funnels(db, f) for s in fn.steps}


@pytest.fixture
def db(db_target):
    db = connect(db_target)
    yield db
    db.close()


LATER_FIRST = [  # batches as they are written: the later days first, as a replay or a late writer would
    visit("an", 5, steps=(0, 1)) + visit("binh", 6, channel="telegram", ward="Xuân Hòa", steps=(0, 1, 2, 3)),
    visit("an", 1, channel="zalo", steps=(0, 1, 2)) + visit("chi", 2, ward="Xuân Hòa"),
    visit("binh", 3, channel="telegram", ward="Xuân Hòa", steps=(0,)) + visit("an", 5),
]


def test_all_time_figures_do_not_depend_on_the_order_batches_arrive_in(db):
    for batch in LATER_FIRST:
        write_batch(db, batch)
    events = [e for batch in LATER_FIRST for e in batch]
    assert report_users(db, Filters()) == expected_users(events) == {
        "all": 3, "channel": {"web": 2, "zalo": 1, "telegram": 1}, "ward": {"Phúc Yên": 1, "Xuân Hòa": 2},
    }
    # to day 2 only: an (zalo, day 1) and chi (day 2); binh came on day 3
    assert report_users(db, Filters(until=local_day(START + 2 * DAY))) == expected_users(events, until=2) == {
        "all": 2, "channel": {"zalo": 1, "web": 1}, "ward": {"Phúc Yên": 1, "Xuân Hòa": 1},
    }
    # furthest pages: an reached page 2 (day 1, written late), binh page 3: users per page 2, 2, 2, 1
    assert funnel(db) == {0: 2, 1: 2, 2: 2, 3: 1}
    # the same range spelled with its first and last days goes through the same rows: same answer
    first, last = local_day(START + DAY), local_day(START + 6 * DAY)
    assert report_users(db, Filters(since=first, until=last)) == report_users(db, Filters())
    assert funnel(db, Filters(since=first, until=last)) == funnel(db)


def test_a_range_that_starts_later_is_counted_from_the_daily_tables(db):
    for batch in LATER_FIRST:
        write_batch(db, batch)
    since = local_day(START + 3 * DAY)  # days 3..6: binh (day 3, 6) and an (day 5)
    assert report_users(db, Filters(since=since)) == {"all": 2, "channel": {"telegram": 1, "web": 1}, "ward": {"Phúc Yên": 1, "Xuân Hòa": 1}}
    assert funnel(db, Filters(since=since)) == {0: 2, 1: 2, 2: 1, 3: 1}


def test_forget_takes_a_citizen_out_of_the_all_time_figures(db):
    for batch in LATER_FIRST:
        write_batch(db, batch)
    forget_user(db, "an")
    assert db.scalar("select count(*) from user_firsts where user = ?", ["an"]) == 0
    assert db.scalar("select count(*) from guide_furthest where user = ?", ["an"]) == 0
    assert report_users(db, Filters()) == {"all": 2, "channel": {"web": 1, "telegram": 1, "zalo": 0}, "ward": {"Phúc Yên": 0, "Xuân Hòa": 2}}
    assert funnel(db) == {0: 1, 1: 1, 2: 1, 3: 1}  # binh alone


def test_forget_finds_a_channel_only_a_later_batch_of_the_day_saw(db):
    write_batch(db, visit("dung", 4, channel="web", steps=(0,)))
    write_batch(db, visit("dung", 4, channel="zalo", ward="Xuân Hòa", steps=(0, 1)))  # daily_users keeps the day's first: web
    assert db.scalar("select channel from daily_users where user = ?", ["dung"]) == "web"
    assert db.scalar("select count(*) from user_firsts where user = ?", ["dung"]) == 6  # all, web, zalo, source "", two wards
    forget_user(db, "dung")
    assert db.scalar("select count(*) from user_firsts where user = ?", ["dung"]) == 0
    assert db.scalar("select count(*) from guide_furthest where user = ?", ["dung"]) == 0


def test_a_purge_moves_first_days_and_furthest_pages_to_what_is_left(db):
    for batch in LATER_FIRST:
        write_batch(db, batch)
    today = dt.date.fromisoformat(local_day(START + 10 * DAY))
    purge_older_than(db, 7, today)  # keeps day 3 on: an's zalo day 1 and chi's day 2 go
    assert report_users(db, Filters()) == {"all": 2, "channel": {"web": 1, "telegram": 1}, "ward": {"Phúc Yên": 1, "Xuân Hòa": 1}}
    assert db.scalar("select day from user_firsts where dimension = 'all' and user = ?", ["an"]) == local_day(START + 5 * DAY)
    assert funnel(db) == {0: 2, 1: 2, 2: 1, 3: 1}  # an's page 2 was on day 1


@pytest.fixture(params=["sqlite", "postgresql"])
def unmigrated(request, tmp_path):
    """An empty database nobody has migrated: an SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "old.db")
    return request.getfixturevalue("pg_url")


def test_an_existing_database_is_backfilled_by_the_migration(unmigrated):
    migrate.upgrade(unmigrated, "0002")  # as a database stood before the all-time rollups
    events = [e for batch in LATER_FIRST for e in batch]
    old = open_database(unmigrated)
    try:
        with old.transaction():
            for day, user, channel, ward, guide, step in sorted(
                {(local_day(e.ts), e.user, e.channel, e.ward, e.entry_id if e.guide_step is not None else None, e.guide_step) for e in events},
                key=lambda r: (r[0], r[1], r[5] is not None),
            ):
                old.execute("insert or ignore into daily_users (day, user, channel, source, ward) values (?, ?, ?, '', ?)", [day, user, channel, ward])
                if step is not None:
                    old.execute("insert or ignore into daily_guide (day, guide_id, step, user) values (?, ?, ?, ?)", [day, guide, step, user])
    finally:
        old.close()
    db = connect(unmigrated)  # migrates to head
    try:
        assert migrate.current(db) == migrate.head()
        assert rpt.totals(db, Filters()).unique_users == 3
        assert db.scalar("select count(*) from user_firsts where dimension = 'channel'") == 4  # an on web and zalo
        assert dict(db.execute("select user, day from user_firsts where dimension = 'all'").fetchall()) == {
            "an": local_day(START + DAY), "binh": local_day(START + 3 * DAY), "chi": local_day(START + 2 * DAY),
        }
        assert dict(db.execute("select user, furthest from guide_furthest").fetchall()) == {"an": 2, "binh": 3}
    finally:
        db.close()
