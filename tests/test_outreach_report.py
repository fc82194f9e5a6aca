"""Results per working group and ward (analytics/outreach_report.py) on a generated data set with known counts
(tests/outreach_data.py), a small hand-made case that pins the definitions, `python -m analytics groups`
(its speed at a million events is measured by bench/bench_outreach.py in `make bench`). The report's tests run
on SQLite and PostgreSQL (the data set is written once per engine)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from analytics import outreach_report as orr
from analytics.report import Filters
from analytics.store import connect, write_batch
from analytics_data import ENGINES, module_target, write
from bot.engine import Event
from outreach_data import GROUP_WARDS, GUIDES, OLD_GROUP, START, VIETNAM, generate_events, iso_week, summarise

ROOT = Path(__file__).resolve().parent.parent
METRICS = ("new_citizens", "questions", "answered", "guides_started", "guides_finished")


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return generate_events(n_users=300, days=35, seed=11)


@pytest.fixture(scope="module", params=ENGINES)
def db_path(request, tmp_path_factory, events) -> str:
    """The data set's database, once per engine (a file path or a PostgreSQL URL)."""
    where = module_target(request, tmp_path_factory.mktemp("outreach"), request.param, "outreach")
    db = connect(where)
    write(db, events)
    db.close()
    return where


@pytest.fixture
def db(db_path):
    database = connect(db_path)
    yield database
    database.close()


def report(db, kb, since=None, until=None, **kw) -> dict:
    return orr.outreach_plain(db, kb.working_groups, {g.id: len(g.steps) for g in kb.guides.values()}, Filters(since=since, until=until), **kw)


def test_generator_matches_the_content(kb):
    assert {g: w.ward for g, w in kb.working_groups.items()} == GROUP_WARDS
    assert OLD_GROUP not in kb.working_groups
    for guide, (topic, steps) in GUIDES.items():
        assert (kb.guides[guide].topic, len(kb.guides[guide].steps)) == (topic, steps), guide


def check_against(data: dict, expected: dict) -> None:
    rows = data["groups"] + data["wards"]
    assert {(r["level"], r["id"]) for r in rows} >= set(expected["levels"])
    for r in rows:
        want = expected["levels"].get((r["level"], r["id"]), {})
        assert {k: r[k] for k in METRICS} == {k: want.get(k, 0) for k in METRICS}, (r["level"], r["id"])
        assert r["answer_rate"] == (r["answered"] / r["questions"] if r["questions"] else None)
    for r in data["weekly"]:
        want = expected["weekly"].get((r["level"], r["id"], r["period"]), {})
        assert {k: r[k] for k in METRICS} == {k: want.get(k, 0) for k in METRICS}, (r["level"], r["id"], r["period"])
    assert {(r["level"], r["id"], r["topic"]): r["questions"] for r in data["topics"]} == expected["topics"]
    assert {(r["level"], r["id"], r["guide_id"]): (r["started"], r["finished"]) for r in data["guides"]} == expected["guides"]
    assert {(r["level"], r["id"], r["target"]): r["new_citizens"] for r in data["posters"]} == expected["posters"]


def test_every_figure_all_time(db, kb, events):
    data = report(db, kb)
    expected = summarise(events)
    check_against(data, expected)
    # the data set is not trivial: every group brought people, asked, started and finished guides
    for group in GROUP_WARDS:
        row = next(r for r in data["groups"] if r["id"] == group)
        assert row["new_citizens"] > 10 and row["questions"] > 50 and row["guides_started"] > 10 and row["guides_finished"] > 0, row
    total = next(r for r in data["wards"] if r["level"] == "all")
    assert total["new_citizens"] == sum(r["new_citizens"] for r in data["groups"])


def test_every_figure_in_a_range_cut_mid_week(db, kb, events):
    since, until = "2025-03-12", "2025-03-29"  # a Wednesday to a Saturday
    data = report(db, kb, since, until)
    check_against(data, summarise(events, since, until))
    weeks = [r["period"] for r in data["weekly"] if r["level"] == "all"]
    assert weeks == ["2025-W11", "2025-W12", "2025-W13"]
    first = next(r for r in data["weekly"] if r["level"] == "all")
    assert first["start"] == "2025-03-10"  # the week's Monday, though only days from the 12th count


def test_weekly_rows_add_up_and_are_dense(db, kb):
    data = report(db, kb)
    ids = [("group", g) for g in GROUP_WARDS] + [("group", OLD_GROUP)]
    weeks = sorted({r["period"] for r in data["weekly"]})
    assert weeks == sorted({iso_week((START + dt.timedelta(days=d)).isoformat()) for d in range(35)})
    for level, ident in ids:
        rows = [r for r in data["weekly"] if (r["level"], r["id"]) == (level, ident)]
        assert [r["period"] for r in rows] == weeks  # zero-filled
        summary = next(r for r in data["groups"] if r["id"] == ident)
        for key in METRICS:
            assert sum(r[key] for r in rows) == summary[key]


def test_wards_sum_their_groups_and_unknown_groups_have_no_ward(db, kb):
    data = report(db, kb)
    by_ward = {r["id"]: r for r in data["wards"] if r["level"] == "ward"}
    phuc_yen = [r for r in data["groups"] if r["ward"] == "phuc-yen"]
    assert {r["id"] for r in phuc_yen} == {"tdp-phuc-yen-5", "mot-cua-phuc-yen"}
    for key in METRICS:
        assert by_ward["phuc-yen"][key] == sum(r[key] for r in phuc_yen)
    old = next(r for r in data["groups"] if r["id"] == OLD_GROUP)
    assert old["ward"] == "" and old["new_citizens"] > 0 and by_ward[""]["new_citizens"] == old["new_citizens"]
    # groups come in content order, the removed one last
    assert [r["id"] for r in data["groups"]] == [*kb.working_groups, OLD_GROUP]



def test_a_ward_filter_keeps_only_that_wards_groups_and_sums_them_as_all(db, kb):
    every = report(db, kb)
    mine = orr.outreach_plain(db, kb.working_groups, {g.id: len(g.steps) for g in kb.guides.values()}, Filters(ward="phuc-yen"))
    assert {r["id"] for r in mine["groups"]} == {"tdp-phuc-yen-5", "mot-cua-phuc-yen"}
    assert {(r["level"], r["id"]) for r in mine["wards"]} == {("ward", "phuc-yen"), ("all", "")}
    ward_row = next(r for r in every["wards"] if r["level"] == "ward" and r["id"] == "phuc-yen")
    for key in METRICS:  # the ward's figures are those of the unfiltered report, and "all" is the ward
        assert all(r[key] == ward_row[key] for r in mine["wards"]), key
    assert {r["id"] for r in mine["weekly"] + mine["guides"] + mine["posters"] if r["level"] == "group"} <= {"tdp-phuc-yen-5", "mot-cua-phuc-yen"}
    assert mine["notes"] == []  # the ward filter applies, so it is not reported as ignored
    unset = orr.outreach_plain(db, kb.working_groups, {}, Filters(ward=""))
    assert [r["id"] for r in unset["groups"]] == [OLD_GROUP]  # "" is the groups with no ward

def ev(user: str, day: int, second: int, kind: str, source: str | None = None, **kw) -> Event:
    ts = dt.datetime.combine(START + dt.timedelta(days=day), dt.time(), VIETNAM).timestamp() + second
    return Event(ts=ts, channel="zalo", user=user, lang="vi", kind=kind, source=source, **kw)


def test_definitions_on_a_hand_made_case(db_target, kb):
    """A: arrives through PY5's eid poster, walks the whole guide. B: used the bot before, scans XH2's menu
    poster a day later: not new, but their questions and later guides count for XH2. C: writes first, then
    scans on the same (first) day and never comes back: not new, the question after the scan counts. D: a
    plain link, no group. E: a poster of a group removed from the content."""
    py5, xh2 = "g-eid-activate__tdp-phuc-yen-5", "menu__tdp-xuan-hoa-2"
    events = [
        ev("A", 0, 3600, "start", py5, topic="eid", entry_id="eid-activate", guide_step=0),
        *(ev("A", 0, 3600 + 10 * p, "guide_step", py5, topic="eid", entry_id="eid-activate", guide_step=p) for p in range(1, 10)),
        ev("A", 0, 4000, "faq", py5, topic="eid", entry_id="eid-no-otp"),
        ev("B", 0, 5000, "fallback"),
        ev("B", 1, 5000, "start", xh2),
        ev("B", 1, 5100, "faq", xh2, topic="qr", entry_id="qr-receive"),
        ev("B", 8, 5000, "guide_step", xh2, topic="qr", entry_id="qr-pay-shop", guide_step=0),
        ev("C", 2, 3000, "fallback"),
        ev("C", 2, 4000, "start", "menu__tdp-phuc-yen-5"),
        ev("C", 2, 4100, "suggest", "menu__tdp-phuc-yen-5", topic="eid", entry_id="eid-levels"),
        ev("C", 2, 4200, "guide_step", "menu__tdp-phuc-yen-5", topic="eid", entry_id="eid-activate", guide_step=1),
        ev("D", 3, 3000, "start", "g-eid-activate", topic="eid", entry_id="eid-activate", guide_step=0),
        ev("E", 9, 3000, "start", f"menu__{OLD_GROUP}"),
    ]
    db = connect(db_target)
    write_batch(db, sorted(events, key=lambda e: e.ts))
    data = report(db, kb)
    groups = {r["id"]: r for r in data["groups"]}
    assert set(groups) == {*kb.working_groups, OLD_GROUP}
    a = groups["tdp-phuc-yen-5"]
    assert (a["new_citizens"], a["questions"], a["answered"], a["guides_started"], a["guides_finished"]) == (1, 2, 1, 1, 1)
    assert a["top_topic"] == "eid" and a["answer_rate"] == 0.5 and a["completion_rate"] == 1.0
    b = groups["tdp-xuan-hoa-2"]
    assert (b["new_citizens"], b["questions"], b["guides_started"], b["guides_finished"]) == (0, 1, 1, 0)
    assert groups["mot-cua-phuc-yen"]["new_citizens"] == 0 and groups["thon-tam-son-1"]["questions"] == 0
    assert groups[OLD_GROUP]["new_citizens"] == 1 and groups[OLD_GROUP]["ward"] == ""
    weekly = {(r["id"], r["period"]): r for r in data["weekly"] if r["level"] == "group"}
    assert weekly[("tdp-xuan-hoa-2", "2025-W11")]["guides_started"] == 1  # day 8 is in the second week
    assert {(r["id"], r["target"]): r["new_citizens"] for r in data["posters"] if r["level"] == "group"} == {
        ("tdp-phuc-yen-5", "g-eid-activate"): 1, (OLD_GROUP, "menu"): 1}
    wards = {(r["level"], r["id"]): r["new_citizens"] for r in data["wards"]}
    assert wards == {("ward", "phuc-yen"): 1, ("ward", "tam-son"): 0, ("ward", "xuan-hoa"): 0, ("ward", ""): 1, ("all", ""): 2}
    assert data == report(db, kb, parallel=False)
    db.close()


def test_empty_database_lists_every_group_with_zeros(db_target, kb):
    db = connect(db_target)
    data = report(db, kb)
    assert [r["id"] for r in data["groups"]] == list(kb.working_groups)
    assert all(r["new_citizens"] == r["questions"] == 0 and r["answer_rate"] is None for r in data["groups"])
    assert data["weekly"] == [] and data["topics"] == [] and data["notes"] == []
    db.close()


def test_other_filters_are_named_in_the_notes(db, kb):
    plain = orr.outreach_plain(db, kb.working_groups, {}, Filters())
    channel = orr.outreach_plain(db, kb.working_groups, {}, Filters(channel="zalo", topic="eid"))
    assert channel["groups"] == plain["groups"]
    assert channel["notes"] == ["Working-group results apply only the date range and the ward; the channel, topic filter is ignored."]


def test_parallel_and_sequential_passes_agree(db, kb):
    assert report(db, kb, "2025-03-05", "2025-04-01") == report(db, kb, "2025-03-05", "2025-04-01", parallel=False)


def test_csv_rows_for_every_section(db, kb):
    data = report(db, kb)
    for name in orr.SECTIONS:
        header, rows = orr.section_rows(name, data[name])
        assert header[:2] == ["level", "id"] and len(rows) == len(data[name])
    text = orr.as_csv(data)
    assert [line for line in text.splitlines() if line.startswith("# ")] == [f"# {s}" for s in orr.SECTIONS]


# -- the command line ------------------------------------------------------------------------------------------

def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analytics", "groups", *args], capture_output=True, text=True, cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", "DIGIGUIDE_SALT": "t"})


@pytest.mark.parametrize("db_path", ["sqlite"], indirect=True)  # the same SQL as the report's tests on both
def test_cli_json_csv_and_table(db_path, events):
    since, until = "2025-03-10", "2025-03-23"
    expected = summarise(events, since, until)
    run = run_cli("--db", str(db_path), "--since", since, "--until", until, "--format", "json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    check_against(data, expected)

    run = run_cli("--db", str(db_path), "--since", since, "--until", until, "--format", "csv")
    assert run.returncode == 0, run.stderr
    block = run.stdout.split("# groups\n", 1)[1].split("# wards\n", 1)[0]
    rows = list(csv.DictReader(io.StringIO(block)))
    py5 = next(r for r in rows if r["id"] == "tdp-phuc-yen-5")
    assert int(py5["new_citizens"]) == expected["levels"][("group", "tdp-phuc-yen-5")]["new_citizens"]

    run = run_cli("--db", str(db_path), "--since", since, "--until", until)
    assert run.returncode == 0, run.stderr
    line = next(x for x in run.stdout.splitlines() if x.startswith("tdp-phuc-yen-5 "))
    assert line.split()[2] == str(expected["levels"][("group", "tdp-phuc-yen-5")]["new_citizens"])
    assert "== New citizens per ISO week ==" in run.stdout and " PY5 " in run.stdout

    run = run_cli("--db", str(db_path), "--ward", "xuan-hoa", "--format", "json")
    assert run.returncode == 0, run.stderr
    assert {r["ward"] for r in json.loads(run.stdout)["groups"]} == {"xuan-hoa"}


def test_cli_errors(tmp_path):
    missing = run_cli("--db", str(tmp_path / "nope.db"))
    assert missing.returncode == 2 and "no analytics database" in missing.stderr
    bad = run_cli("--db", str(tmp_path / "nope.db"), "--since", "2025-02-30")
    assert bad.returncode == 2 and "not a date" in bad.stderr
    reversed_range = run_cli("--db", str(tmp_path / "nope.db"), "--since", "2025-03-10", "--until", "2025-03-01")
    assert reversed_range.returncode == 2 and "is after" in reversed_range.stderr
    unknown = run_cli("--db", str(tmp_path / "nope.db"), "--ward", "hai-chau")
    assert unknown.returncode == 2 and "unknown ward 'hai-chau'" in unknown.stderr
