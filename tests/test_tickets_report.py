"""The officials' figures (analytics/tickets_report.py) on a simulated week of questions handed over to
officials, made through the real TicketStore on a clock the test moves, compared with what the test
itself knows of each ticket: its ward, topic, channel, and how long the answer took in office hours by
construction (minutes inside one office span; the same time one or two office days later: 7.5 h and 15 h,
as an office day is 7:30-11:30 and 13:30-17:00). The command line prints the same figures. On SQLite and
PostgreSQL (db_target).
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import statistics
from collections import defaultdict
from dataclasses import dataclass

import pytest

from analytics import tickets_report as tr
from analytics.__main__ import main
from analytics.store import connect
from bot.handover.hours import OfficeHours
from bot.handover.store import TicketStore
from ticketsutil import Clock, confirm, vn

HOURS = OfficeHours()  # Monday to Friday, 7:30-11:30 and 13:30-17:00, answer expected within 8 office hours
WARDS = ["phuc-yen", "xuan-hoa", "tam-son", ""]
TOPICS = ["eid", "fees", "portal", None]
CHANNELS = ["telegram", "zalo", "web"]
SPANS = [(7 * 60 + 30, 11 * 60 + 30), (13 * 60 + 30, 17 * 60)]
NOW = vn(2026, 12, 16, 12, 0)  # the Wednesday after: every ticket of the week is past its delay


@dataclass
class Known:
    """What the test knows of a ticket it made."""

    id: int
    ward: str
    topic: str
    channel: str
    office_hours: float | None  # to the first answer; None: never answered
    judged: bool  # answered, or past its delay unanswered
    content: bool = False
    status: str = "open"


def nearest_rank_90(values: list[float]) -> float | None:
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1] if ordered else None


def simulate(store: TicketStore, clock: Clock, seed: int = 12) -> list[Known]:
    """A week (Monday 7 to Friday 11 December 2026) of tickets, answered quickly, the next office day,
    two office days later, or never; some withdrawn at once, some closed unanswered, some turned into
    content, some reopened by the citizen's addition after the answer."""
    rng = random.Random(seed)
    known: list[Known] = []
    plans = []
    for n in range(80):
        day = rng.randrange(5)  # Monday..Friday
        start, end = SPANS[rng.randrange(2)]
        kind = rng.choice(["quick", "quick", "next_day", "two_days", "never", "withdrawn", "closed"])
        if kind == "two_days" and day > 2 or kind == "next_day" and day > 3:
            kind = "quick"  # stay inside the week
        minute = rng.randrange(start, end - 130)
        plans.append((vn(2026, 12, 7 + day, minute // 60, minute % 60), kind, day, n))
    plans.sort()
    events = []  # (when, action, index): every later change, done in time order on the clock
    for created, kind, day, n in plans:
        clock.at(created)
        ward, topic, channel = rng.choice(WARDS), rng.choice(TOPICS), rng.choice(CHANNELS)
        ticket = confirm(store, "t", ward=ward or None, channel=channel, chat=f"c{n}", topic=topic, question=f"câu hỏi {n}")
        k = Known(ticket.id, ward, topic or "", channel, None, kind in ("never", "closed"))
        if kind == "quick":
            minutes = rng.randrange(5, 121)
            k.office_hours, k.judged = minutes / 60, True
            events.append((created + minutes * 60, "reply", len(known)))
        elif kind in ("next_day", "two_days"):
            days = 1 if kind == "next_day" else 2
            k.office_hours, k.judged = 7.5 * days, True
            events.append((created + days * 86400, "reply", len(known)))
        elif kind == "withdrawn":  # ten minutes later: before its delay, so nobody was late
            events.append((created + 600, "withdraw", len(known)))
        elif kind == "closed":  # the Tuesday after, unanswered: late (every delay of the week ended by then)
            events.append((vn(2026, 12, 15, 12, 0), "close", len(known)))
        known.append(k)
    for when, action, i in sorted(events):
        clock.at(when)
        k = known[i]
        if action == "reply":
            store.reply(k.id, "lan", f"trả lời {k.id}")
            k.status = "answered"
            if k.id % 3 == 0:
                store.link_content(k.id, "eid-levels")
                k.content = True
            if k.id % 7 == 0:  # the citizen adds something: open again, the first answer stays
                store.add(k.id, "thêm")
                k.status = "open"
        elif action == "withdraw":
            store.withdraw(k.id)
            k.status = "withdrawn"
        else:
            store.close(k.id, "lan")
            k.status = "closed"
    return known


def expected(rows: list[Known]) -> dict:
    waits = [k.office_hours for k in rows if k.office_hours is not None]
    judged = sum(k.judged for k in rows)
    in_time = sum(1 for k in rows if k.office_hours is not None and k.office_hours <= 8)
    return {
        "tickets": len(rows), "answered": len(waits), "judged": judged, "in_time": in_time,
        "in_time_share": in_time / judged if judged else None,
        "median_hours": round(statistics.median(waits), 2) if waits else None,
        "p90_hours": round(nearest_rank_90(waits), 2) if waits else None,
        "to_content": sum(k.content for k in rows),
    }


def as_dict(row: tr.Row) -> dict:
    return {c: getattr(row, c) for c in tr.ROW_COLUMNS}


@pytest.fixture
def week(db_target):
    clock = Clock(vn(2026, 12, 7))
    store = TicketStore(db_target, "t", clock)
    known = simulate(store, clock)
    # outside the range: the week before, and the Wednesday after (still open, not yet due)
    clock.at(vn(2026, 11, 30, 9, 0))
    confirm(store, "t", ward="phuc-yen", chat="before", question="tuần trước")
    clock.at(vn(2026, 12, 16, 11, 0))
    late_comer = confirm(store, "t", ward="phuc-yen", chat="after", question="hôm nay")
    # citizens who asked to be told: four of them told during the week (u0 for two questions: counted
    # once), u5 told after it, u6 whose 30 days ran out, u7 still waiting
    for n, key in enumerate(["k1", "k1b", "k2", "k3", "k4", "k5", "k6", "k7"]):
        clock.at(vn(2026, 11, 10 if key == "k6" else 30, 9, n))
        store.watch(user=f"u{n}" if n != 1 else "u0", channel="telegram", address=f"a{n}", lang="vi", question_key=key, topic="eid")
    clock.at(vn(2026, 12, 9, 10, 0))
    assert store.notify_resolved(["k1", "k1b", "k2", "k3"], "eid-levels").queued == 3  # u0 (k1 and k1b), u2, u3
    clock.at(vn(2026, 12, 10, 10, 0))
    assert store.notify_resolved(["k4"], "eid-levels").queued == 1
    clock.at(vn(2026, 12, 15, 10, 0))
    store.notify_resolved(["k5"], "eid-levels")  # after the range
    clock.at(NOW)
    yield store, known, late_comer
    store.close_db()


def figures(store: TicketStore, **kw) -> tr.TicketFigures:
    db = connect(store.where)  # a connection of the report's own, as the dashboard and the command line have
    try:
        return tr.figures(db, HOURS, since="2026-12-07", until="2026-12-13", now=NOW, **kw)
    finally:
        db.close()


def test_the_weeks_figures_match_what_happened(week):
    store, known, late_comer = week
    fig = figures(store)
    assert len(known) == 80 and fig.total.tickets == 80
    assert as_dict(fig.total) == expected(known)
    assert 0 < fig.total.in_time < fig.total.answered < fig.total.judged < fig.total.tickets  # every kind occurred
    assert fig.total.median_hours is not None and fig.total.p90_hours == 15.0
    for name, attr in (("by_ward", "ward"), ("by_topic", "topic"), ("by_channel", "channel")):
        groups: dict[str, list[Known]] = defaultdict(list)
        for k in known:
            groups[getattr(k, attr)].append(k)
        rows = getattr(fig, name)
        assert {r.key: as_dict(r) for r in rows} == {key: expected(members) for key, members in groups.items()}, name
        assert [r.tickets for r in rows] == sorted((r.tickets for r in rows), reverse=True)  # most tickets first
    # waiting now, whatever the range: the week's open ones and the week before's (past their delay), and today's (not yet due)
    still_open = [k for k in known if k.status == "open"]
    assert fig.open_now == len(still_open) + 2 and fig.overdue_now == len(still_open) + 1
    assert store.get(late_comer.id).status == "open"
    assert fig.notified == 4 and fig.waiting == 1  # u0, u2, u3, u4 told in the week; u5 after it; u6's 30 days ran out; u7 waits
    assert fig.notes == []


def test_a_ward_filter_keeps_that_wards_tickets(week):
    store, known, _ = week
    fig = figures(store, wards=["phuc-yen"])
    mine = [k for k in known if k.ward == "phuc-yen"]
    assert as_dict(fig.total) == expected(mine) and [r.key for r in fig.by_ward] == ["phuc-yen"]
    assert fig.open_now == sum(k.status == "open" for k in mine) + 2  # the week before's and today's are Phúc Yên's
    assert fig.notified is None and fig.waiting is None and fig.notes == [tr.NO_WARD_NOTE]  # watchers have no ward
    none = figures(store, wards=[""])
    assert none.total.tickets == sum(k.ward == "" for k in known)


def test_office_hours_not_wall_hours():
    """A question sent on Friday at 16:30 and answered on Monday at 8:00 waited one office hour, in time."""
    assert HOURS.office_seconds(vn(2026, 12, 11, 16, 30), vn(2026, 12, 14, 8, 0)) == 3600
    assert tr.nearest_rank([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 0.9) == 9.0
    assert tr.nearest_rank([4.0], 0.9) == 4.0 and tr.nearest_rank([], 0.9) is None


def test_the_command_line_prints_the_same(week, capsys, tmp_path):
    store, known, _ = week
    db = ["--db", str(store.where), "--since", "2026-12-07", "--until", "2026-12-13"]
    assert main(["tickets", *db, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total"]["tickets"] == 80 and data["total"]["answered"] == expected(known)["answered"]
    assert {r["key"] for r in data["by_ward"]} == {k.ward for k in known}
    assert main(["tickets", *db, "--format", "csv", "--ward", "xuan-hoa"]) == 0
    text = capsys.readouterr().out
    summary = list(csv.reader(io.StringIO(text.split("# wards\n")[0].split("# summary\n")[1])))
    assert summary[0][:2] == ["tickets", "answered"] and int(summary[1][0]) == sum(k.ward == "xuan-hoa" for k in known)
    assert main(["tickets", *db]) == 0
    table = capsys.readouterr().out
    assert "== Tickets per ward ==" in table and "phuc-yen" in table and "(none)" in table
    assert main(["tickets", "--db", str(tmp_path / "missing.db")]) == 2
    assert main(["tickets", "--db", str(store.where), "--since", "2026-12-13", "--until", "2026-12-07"]) == 2
    assert "after" in capsys.readouterr().err


def test_a_database_without_tickets_has_none(db_target):
    db = connect(db_target)
    try:
        fig = tr.figures(db, HOURS)
        assert fig.total.tickets == 0 and fig.open_now == 0 and fig.notified == 0 and fig.waiting == 0 and fig.by_ward == []
        assert tr.figures(db, HOURS, wards=["phuc-yen"]).notified is None
    finally:
        db.close()


def test_replies_are_counted_by_their_delivery_per_channel(db_target):
    clock = Clock(vn(2026, 12, 7))
    store = TicketStore(db_target, "t", clock)
    outcomes = {"telegram": ["sent", "sent", "failed"], "zalo": ["sent", "queued"], "web": ["queued"]}
    for channel, deliveries in outcomes.items():
        for n, delivery in enumerate(deliveries):
            ticket = store.open_ticket(user=f"{channel}-{n}", channel=channel, address=f"a{n}", lang="vi", ward="phuc-yen", topic="eid", question="q")
            _message, outbox = store.reply(ticket.id, "lan", "trả lời")
            {"sent": store.delivered, "failed": lambda i: store.failed(i, "blocked"), "queued": lambda i: None}[delivery](outbox)
    db = connect(db_target)
    fig = tr.figures(db, OfficeHours(), now=clock() + 3600)
    by_channel = {r.key: (r.replies_sent, r.replies_queued, r.replies_failed) for r in fig.by_channel}
    assert by_channel == {c: tuple(d.count(s) for s in ("sent", "queued", "failed")) for c, d in outcomes.items()}
    header, rows = tr.section_rows("channels", fig)
    assert header[-3:] == tr.DELIVERY_COLUMNS and sorted(r[-3:] for r in rows) == sorted(list(v) for v in by_channel.values())
    db.close()
    store.close_db()
