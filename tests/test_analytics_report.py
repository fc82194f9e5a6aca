"""analytics.report against a generated data set whose figures are known, and the `report`/`export` CLI, on
SQLite and PostgreSQL (the data set is written once per engine; ids end in [sqlite] / [postgresql])."""

import csv
import datetime as dt
import io
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from analytics import report as rpt
from analytics.report import Filters
from analytics.store import connect, write_batch
from bot.engine import Event

from analytics_data import (
    ENGINES, GUIDES, KEY_GROUP, VIETNAM, check_catalogue, cluster_of, copy_of, day_of, generate, module_target, question_key, summarise, write,
)

ROOT = Path(__file__).resolve().parent.parent
N_USERS, DAYS, SEED = 1200, 35, 7  # about 7,000 events over five weeks


@pytest.fixture(scope="module")
def generated():
    return generate(N_USERS, DAYS, SEED)


@pytest.fixture(scope="module", params=ENGINES)
def dataset(request, tmp_path_factory, generated):
    """(where, events, expected): the data set written once per engine."""
    events, expected = generated
    where = module_target(request, tmp_path_factory.mktemp("analytics"), request.param, "report")
    db = connect(where)
    write(db, events, batch=1000)
    db.close()
    return where, events, expected


SQLITE_ONLY = pytest.mark.parametrize("dataset", ["sqlite"], indirect=True)  # the same SQL as a test run on both


@pytest.fixture
def db(dataset):
    conn = connect(dataset[0])
    yield conn
    conn.close()


@pytest.fixture
def scratch_where(request, dataset, tmp_path):
    """A private copy of the data set, for tests that mark clusters or add events."""
    return copy_of(request, dataset[0], tmp_path)


@pytest.fixture
def scratch(scratch_where):
    conn = connect(scratch_where)
    yield conn
    conn.close()


# the filter sets every section is checked under: a channel, a topic, a ward, "no ward", a source, and dates
# that cut weeks in the middle (Wednesday to Tuesday)
FILTERS = [
    {},
    {"channel": "telegram"},
    {"topic": "bills"},
    {"ward": "phuc-yen"},
    {"ward": ""},
    {"source": "t-fees"},
    {"since": "2025-03-12", "until": "2025-03-25"},
    {"since": "2025-03-12", "until": "2025-03-25", "channel": "zalo", "topic": "eid"},
]


def approx_or_none(value):
    return None if value is None else pytest.approx(value)


# -- the generator itself -------------------------------------------------------------------------------------

def test_generated_data_is_deterministic_and_realistic(dataset):
    check_catalogue()  # typos of one question are near-identical; different questions are not
    _, events, expected = dataset
    again, _ = generate(N_USERS, DAYS, SEED)
    assert again == events
    kinds = Counter(e.kind for e in events)
    assert {"faq", "guide", "guide_step", "suggest", "suggestion", "fallback", "smalltalk", "feedback", "menu", "topic", "start"} <= set(kinds)
    assert "forget" not in kinds and 5000 < len(events) < 10000
    assert 0.6 < expected["totals"]["answer_rate"] < 0.9
    assert len({day_of(e) for e in events}) == DAYS
    # sessions run at every hour of the Vietnam day, so UTC days and Vietnam days really differ
    assert any(day_of(e) != dt.datetime.fromtimestamp(e.ts, dt.timezone.utc).date().isoformat() for e in events)


# -- totals, breakdowns, series -------------------------------------------------------------------------------

@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()) or "all")
def test_totals_and_breakdowns_match_the_expected_figures(db, dataset, filters):
    _, events, _ = dataset
    f, want = Filters(**filters), summarise(events, **filters)
    got = rpt.totals(db, f)
    for name in ("events", "questions", "answered", "suggest", "fallback", "suggestions_tapped", "unique_users"):
        assert getattr(got, name) == want["totals"][name], name
    for name in ("answer_rate", "fallback_rate", "suggestion_acceptance"):
        assert getattr(got, name) == approx_or_none(want["totals"][name]), name
    for dim in rpt.DIMENSIONS:
        rows = rpt.breakdown(db, dim, f)
        assert {r.value: r.questions for r in rows} == want[f"by_{dim}"], dim
        assert [r.questions for r in rows] == sorted((r.questions for r in rows), reverse=True)
        assert all(r.answered + r.suggest + r.fallback == r.questions for r in rows)


def test_users_per_channel_source_and_ward(db, dataset):
    _, events, _ = dataset
    for dim in ("channel", "source", "ward"):
        users: dict[str, set] = {}
        for e in events:
            users.setdefault(getattr(e, dim) or "", set()).add(e.user)
        got = {r.value: r.users for r in rpt.breakdown(db, dim, Filters())}
        assert got == {v: len(u) for v, u in users.items() if v in got}
    assert all(r.users is None for r in rpt.breakdown(db, "topic", Filters()))
    assert all(r.users is None for r in rpt.breakdown(db, "channel", Filters(topic="eid")))  # users have no topic
    with pytest.raises(ValueError):
        rpt.breakdown(db, "user", Filters())


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()) or "all")
def test_daily_and_weekly_series_per_topic(db, dataset, filters):
    _, events, _ = dataset
    f, want = Filters(**filters), summarise(events, **filters)
    daily = rpt.series(db, f, "day")
    assert {(p.start, p.topic): p.questions for p in daily if p.questions} == want["daily"]
    days = {p.period for p in daily}
    topics = {p.topic for p in daily}
    assert len(daily) == len(days) * len(topics)  # dense: zeros where nothing was asked
    first, last = min(days), max(days)
    assert first == filters.get("since", "2025-03-03") and last == filters.get("until", "2025-04-06")
    weekly = rpt.series(db, f, "week")
    assert {(p.start, p.topic): p.questions for p in weekly if p.questions} == want["weekly"]
    for p in weekly:
        start = dt.date.fromisoformat(p.start)
        assert start.weekday() == 0 and p.period == f"{start.isocalendar()[0]}-W{start.isocalendar()[1]:02d}"
    assert sum(p.questions for p in weekly) == sum(p.questions for p in daily) == want["totals"]["questions"]


def test_weeks_are_iso_weeks_starting_monday(db):
    weekly = rpt.series(db, Filters(since="2025-03-09", until="2025-03-10"), "week")  # a Sunday and a Monday
    assert sorted({(p.period, p.start) for p in weekly}) == [("2025-W10", "2025-03-03"), ("2025-W11", "2025-03-10")]


def test_vietnam_days_not_utc_days(db_target):
    db = connect(db_target)
    late = dt.datetime(2025, 3, 9, 23, 30, tzinfo=VIETNAM).timestamp()  # 16:30 UTC, same day
    early = dt.datetime(2025, 3, 10, 0, 30, tzinfo=VIETNAM).timestamp()  # 17:30 UTC on the 9th
    write_batch(db, [Event(ts=late, channel="web", user="a", lang="vi", kind="faq", topic="eid"), Event(ts=early, channel="web", user="b", lang="vi", kind="faq", topic="eid")])
    assert [(p.period, p.questions) for p in rpt.series(db, Filters(), "day")] == [("2025-03-09", 1), ("2025-03-10", 1)]
    assert rpt.totals(db, Filters(since="2025-03-10")).questions == 1
    assert [p.period for p in rpt.series(db, Filters(), "week") if p.questions] == ["2025-W10", "2025-W11"]
    db.close()


# -- top questions and unanswered clusters --------------------------------------------------------------------

def test_merge_keys_merges_typos_but_not_different_questions():
    keys = ["khau mat quen vneid", "khau mat quen vnied", "khau ma quen vneid", "vneid", "khau mat quen", "dien tien toan thanh"]
    groups = rpt.merge_keys(keys)
    assert groups == [[0, 1, 2], [3], [4], [5]]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()) or "all")
def test_top_questions_per_topic_merge_near_identical_keys(db, dataset, filters):
    _, events, _ = dataset
    want = summarise(events, **filters)["top_questions"]
    top = rpt.top_questions(db, Filters(**filters), per_topic=1000)
    got: dict[str, dict[str, int]] = {}
    for q in top:
        cluster = cluster_of(q.key)
        assert cluster not in got.get(q.topic, {}), f"{cluster} split in two"
        assert all(cluster_of(k) == cluster for k in q.keys), "different questions merged"
        got.setdefault(q.topic, {})[cluster] = q.count
        assert question_key(q.example) == q.key  # a real stored text of the leading key
    assert got == want
    # the typo variants really were merged, not merely absent
    assert any(len(q.keys) == 3 for q in top)


def test_top_questions_rank_and_limit(db, dataset):
    top = rpt.top_questions(db, Filters(), per_topic=3)
    by_topic: dict[str, list] = {}
    for q in top:
        by_topic.setdefault(q.topic, []).append(q)
    for topic, rows in by_topic.items():
        assert [q.rank for q in rows] == list(range(1, len(rows) + 1)) and len(rows) <= 3
        assert [q.count for q in rows] == sorted((q.count for q in rows), reverse=True)
    assert [KEY_GROUP[q.key] for q in by_topic["eid"]][:2] == ["eid-forgot", "eid-otp"]
    assert not any(KEY_GROUP.get(k) == "small-hello" for q in top for k in q.keys)  # small talk is not a question
    pooled = rpt.top_questions(db, Filters(topic="eid"), per_topic=100, pool=4)
    assert sum(len(q.keys) for q in pooled) == 4  # only the 4 most frequent keys are considered


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()) or "all")
def test_unanswered_clusters_match_the_expected_groups(db, dataset, filters):
    _, events, _ = dataset
    want = summarise(events, **filters)["unanswered"]
    clusters = rpt.unanswered_clusters(db, Filters(**filters), limit=None)
    got = {}
    for c in clusters:
        cluster = cluster_of(c.key)
        assert cluster not in got and all(cluster_of(k) == cluster for k in c.keys)
        got[cluster] = c
        w = want[cluster]
        assert (c.count, c.first_day, c.last_day) == (w["count"], w["first_day"], w["last_day"])
        assert c.fallback + c.suggest == c.count and c.status == "open" and c.after_mark == 0
        assert 1 <= len(c.examples) <= 3 and len(set(c.examples)) == len(c.examples)
        assert set(c.examples) <= w["texts"]
    assert set(got) == set(want)
    assert [c.count for c in clusters] == sorted((c.count for c in clusters), reverse=True)


def test_unanswered_cluster_details(db, dataset):
    clusters = {KEY_GROUP.get(c.key, "tail"): c for c in rpt.unanswered_clusters(db, Filters(), limit=None)}
    gold = clusters["fb-gold"]
    assert gold.fallback == gold.count and gold.topic == "" and len(gold.keys) == 3 and len(gold.examples) == 3
    assert clusters["sug-vneid"].suggest == clusters["sug-vneid"].count and clusters["sug-vneid"].topic == "eid"
    assert clusters["tail"].count == 1  # the long tail: one-off questions stay singletons
    assert len(rpt.unanswered_clusters(db, Filters(), limit=5)) == 5


def _cluster(db, group, **kw):
    return next((c for c in rpt.unanswered_clusters(db, Filters(), limit=None, **kw) if KEY_GROUP.get(c.key) == group), None)


def test_marks_are_remembered_ignored_hidden_resolved_shown(scratch, dataset):
    _, events, _ = dataset
    db = scratch
    gold, land = _cluster(db, "fb-gold"), _cluster(db, "fb-land")
    assert rpt.mark_cluster(db, gold.key, "ignored") == 1
    assert _cluster(db, "fb-gold") is None  # hidden by default
    shown = _cluster(db, "fb-gold", include_ignored=True)
    assert shown.status == "ignored" and shown.count == gold.count
    assert rpt.unanswered_clusters(db, Filters(), limit=None, include_ignored=True)[-1].status == "ignored"

    # resolved on 2025-03-20 (Vietnam): the cluster says so, with the entry, and counts what came after
    mark_ts = dt.datetime(2025, 3, 20, 9, 0, tzinfo=VIETNAM).timestamp()
    rpt.mark_cluster(db, land.keys, "resolved", entry_id="land-new-faq", marked_at=mark_ts)
    resolved = _cluster(db, "fb-land")
    after = sum(1 for e in events if e.kind in ("fallback", "suggest") and e.question_key and KEY_GROUP.get(e.question_key) == "fb-land" and day_of(e) > "2025-03-20")
    assert (resolved.status, resolved.entry_id, resolved.marked_on, resolved.after_mark) == ("resolved", "land-new-faq", "2025-03-20", after)
    assert after > 0
    statuses = [c.status for c in rpt.unanswered_clusters(db, Filters(), limit=None)]
    assert statuses == sorted(statuses, key=lambda s: s != "open")  # open ones first, resolved after

    # new questions later: the same key keeps the mark; a new near-identical spelling joins the cluster
    later = dt.datetime(2025, 4, 10, 10, 0, tzinfo=VIETNAM).timestamp()
    new_text = land.examples[0] + "a"  # one more letter: a key never seen before, near-identical
    assert question_key(new_text) not in land.keys
    fresh = [Event(ts=later + i, channel="zalo", user=f"n{i}", lang="vi", kind="fallback", question=t, question_key=question_key(t)) for i, t in enumerate([land.examples[0]] * 2 + [new_text] * 3)]
    write_batch(db, fresh)
    again = _cluster(db, "fb-land")
    assert again.status == "resolved" and again.count == land.count + 5 and again.after_mark == after + 5
    assert question_key(new_text) in again.keys and again.last_day == "2025-04-10"
    gold_again = [Event(ts=later, channel="web", user="g", lang="vi", kind="fallback", question=gold.examples[0], question_key=question_key(gold.examples[0]))]
    write_batch(db, gold_again)
    assert _cluster(db, "fb-gold") is None  # still ignored: "ignore" is remembered

    # marking only a minor spelling still marks the cluster; unmark opens it again
    pension = _cluster(db, "fb-pension")
    rpt.mark_cluster(db, pension.keys[-1], "resolved", entry_id="pension-faq")
    assert _cluster(db, "fb-pension").status == "resolved"
    assert rpt.unmark(db, pension.keys[-1]) == 1
    assert rpt.unmark(db, land.keys) == len(land.keys)
    assert _cluster(db, "fb-pension").status == "open" and _cluster(db, "fb-land").status == "open"

    # re-marking replaces the mark; bad input is refused
    rpt.mark_cluster(db, gold.key, "resolved", entry_id="gold-faq")
    assert _cluster(db, "fb-gold").status == "resolved"
    with pytest.raises(ValueError):
        rpt.mark_cluster(db, gold.key, "done")
    with pytest.raises(ValueError):
        rpt.mark_cluster(db, "  ", "ignored")


# -- helpfulness and funnels ----------------------------------------------------------------------------------

@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()) or "all")
def test_helpfulness_per_entry_least_helpful_first(db, dataset, filters):
    _, events, _ = dataset
    want = summarise(events, **filters)["helpfulness"]
    rows = rpt.helpfulness(db, Filters(**filters))
    assert {r.entry_id: (r.up, r.down) for r in rows} == want
    assert [r.helpful_share for r in rows] == sorted(r.helpful_share for r in rows)
    assert all(r.helpful_share == pytest.approx(r.up / r.votes) for r in rows)


def test_helpfulness_minimum_votes_and_the_worst_entry(db, dataset):
    _, _, expected = dataset
    rows = rpt.helpfulness(db, Filters(), min_votes=30)
    assert rows and all(r.votes >= 30 for r in rows)
    assert {r.entry_id for r in rows} == {e for e, (up, down) in expected["helpfulness"].items() if up + down >= 30}
    assert rows[0].entry_id == "eid-no-otp"  # generated with 30% thumbs up
    assert rpt.helpfulness(db, Filters(topic="eid"))[0].topic == "eid"


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()) or "all")
def test_guide_funnels_users_per_step_and_drop_off(db, dataset, filters):
    _, events, _ = dataset
    want = summarise(events, **filters)["funnels"]
    funnels = rpt.funnels(db, Filters(**filters))
    assert {fn.guide_id: {s.step: s.users for s in fn.steps} for fn in funnels} == want
    for fn in funnels:
        assert fn.topic == GUIDES[fn.guide_id][0]
        users = [s.users for s in fn.steps]
        assert users == sorted(users, reverse=True) and fn.users == users[0] and fn.finished == users[-1]
        for a, b in zip(fn.steps, fn.steps[1:]):
            assert a.dropped == a.users - b.users and a.drop_off_rate == pytest.approx(a.dropped / a.users)
        assert fn.steps[-1].dropped == 0 and fn.completion_rate == pytest.approx(fn.finished / fn.users)


def test_funnel_shape_of_the_whole_data_set(db):
    funnels = {fn.guide_id: fn for fn in rpt.funnels(db, Filters())}
    assert set(funnels) == set(GUIDES)
    for guide, (_, steps) in GUIDES.items():
        assert [s.step for s in funnels[guide].steps] == list(range(steps + 2))  # overview, steps, wrap-up
    # fees-pay-portal was generated with the weakest continuation: it loses the most people
    assert min(funnels.values(), key=lambda fn: fn.completion_rate).guide_id == "fees-pay-portal"


# -- the whole report -----------------------------------------------------------------------------------------

def test_full_report_is_plain_json_with_notes(db, dataset):
    _, _, expected = dataset
    report = rpt.full_report(db, Filters())
    assert list(report) == list(rpt.SECTIONS)
    assert json.loads(json.dumps(report)) == report
    assert report["totals"]["questions"] == expected["totals"]["questions"] and report["notes"] == []
    filtered = rpt.full_report(db, Filters(topic="eid", source="t-fees", since=dt.date(2025, 3, 10)))
    assert filtered["filters"] == {"since": "2025-03-10", "until": None, "channel": None, "topic": "eid", "ward": None, "source": "t-fees"}
    assert len(filtered["notes"]) == 2 and filtered["totals"]["unique_users"] is None
    header, rows = rpt.section_rows("funnels", report["funnels"])
    assert "drop_off_rate" in header and len(rows) == sum(len(fn["steps"]) for fn in report["funnels"])


@pytest.mark.parametrize("filters", [{}, {"channel": "web", "ward": ""}, {"source": "g-eid-activate", "since": "2025-03-15"}, {"topic": "qr"}])
def test_full_report_sections_equal_the_single_functions(db, filters):
    """full_report shares its scans between sections; the figures must not change."""
    f = Filters(**filters)
    report = rpt.full_report(db, f, per_topic=5, clusters=20, min_votes=2)
    assert report["totals"] == rpt.to_plain(rpt.totals(db, f))
    for dim in rpt.DIMENSIONS:
        assert report[f"by_{dim}"] == rpt.to_plain(rpt.breakdown(db, dim, f)), dim
    assert report["daily"] == rpt.to_plain(rpt.series(db, f, "day")) and report["weekly"] == rpt.to_plain(rpt.series(db, f, "week"))
    assert report["top_questions"] == rpt.to_plain(rpt.top_questions(db, f, per_topic=5))
    assert report["unanswered"] == rpt.to_plain(rpt.unanswered_clusters(db, f, limit=20))
    assert report["helpfulness"] == rpt.to_plain(rpt.helpfulness(db, f, min_votes=2))
    assert report["funnels"] == rpt.to_plain(rpt.funnels(db, f))


def test_empty_database_and_bad_filters(db_target):
    db = connect(db_target)
    report = rpt.full_report(db, Filters())
    assert report["totals"]["questions"] == 0 and report["totals"]["answer_rate"] is None
    assert all(report[s] == [] for s in rpt.SECTIONS if s not in ("filters", "notes", "totals"))
    db.close()
    with pytest.raises(ValueError, match="after"):
        Filters(since="2025-04-01", until="2025-03-01")
    with pytest.raises(ValueError, match="not a date"):
        Filters(since="2025-13-01")


# -- the command line -----------------------------------------------------------------------------------------

def cli(*args):
    return subprocess.run([sys.executable, "-m", "analytics", *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=120)


@SQLITE_ONLY
def test_cli_report_table(dataset):
    path, _, expected = dataset
    out = cli("report", "--db", path)
    assert out.returncode == 0, out.stderr
    for title in ("== Totals ==", "== Questions by topic ==", "== Questions per ISO week and topic ==", "== Top questions per topic ==", "== Unanswered question clusters ==", "== Helpfulness (least helpful first) ==", "== Guide funnels =="):
        assert title in out.stdout
    assert f"questions              {expected['totals']['questions']}" in out.stdout
    assert "eid-no-otp" in out.stdout and "2025-W10" in out.stdout


@SQLITE_ONLY
def test_cli_report_csv_sections(dataset):
    path, events, _ = dataset
    out = cli("report", "--db", path, "--format", "csv", "--channel", "web", "--since", "2025-03-10")
    assert out.returncode == 0, out.stderr
    sections: dict[str, list[str]] = {}
    for line in out.stdout.splitlines():
        if line.startswith("# "):
            current = sections.setdefault(line[2:], [])
        else:
            current.append(line)
    assert list(sections) == list(rpt.SECTIONS)
    totals = list(csv.DictReader(io.StringIO("\n".join(sections["totals"]))))
    want = summarise(events, channel="web", since="2025-03-10")["totals"]
    assert int(totals[0]["questions"]) == want["questions"] and int(totals[0]["unique_users"]) == want["unique_users"]
    funnels = list(csv.DictReader(io.StringIO("\n".join(sections["funnels"]))))
    assert {"guide_id", "step", "step_users", "dropped", "drop_off_rate"} <= set(funnels[0])


def test_cli_report_json_matches_the_library(dataset, db):
    path, _, _ = dataset
    out = cli("report", "--db", path, "--format", "json", "--topic", "eid", "--until", "2025-03-31")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == rpt.full_report(db, Filters(topic="eid", until="2025-03-31"))


def test_cli_export_writes_every_table_and_section(dataset, tmp_path):
    path, events, _ = dataset
    out = cli("export", "--db", path, "--out", tmp_path / "out")
    assert out.returncode == 0, out.stderr
    files = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"events.csv", "daily.csv", "daily_users.csv", "daily_guide.csv", "daily_feedback.csv", "daily_questions.csv", "cluster_marks.csv"} <= files
    assert {f"report_{s}.csv" for s in rpt.SECTIONS} <= files
    with (tmp_path / "out" / "events.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(events) and {"day", "user", "kind", "question_key"} <= set(rows[0])
    with (tmp_path / "out" / "report_totals.csv").open(encoding="utf-8") as fh:
        assert int(next(csv.DictReader(fh))["events"]) == len(events)


@SQLITE_ONLY
def test_cli_errors_exit_2_and_purge_still_works(dataset, tmp_path, request):
    path, _, _ = dataset
    bad = cli("report", "--db", path, "--since", "31/03/2025")
    assert bad.returncode == 2 and "not a date" in bad.stderr
    backwards = cli("report", "--db", path, "--since", "2025-04-01", "--until", "2025-03-01")
    assert backwards.returncode == 2 and "after" in backwards.stderr
    missing = cli("report", "--db", tmp_path / "nope.db")
    assert missing.returncode == 2 and "no analytics database" in missing.stderr and not (tmp_path / "nope.db").exists()
    unreachable = cli("report", "--db", "postgresql://postgres@127.0.0.1:1/nowhere")  # nothing listens on port 1
    assert unreachable.returncode == 2 and "cannot open the database postgresql://postgres@127.0.0.1:1/nowhere" in unreachable.stderr
    copy = copy_of(request, path, tmp_path)
    purged = cli("purge", "--db", copy, "--older-than", "1")
    assert purged.returncode == 0 and "deleted" in purged.stdout


def test_cli_mark_and_unmark(scratch_where, scratch):
    key = _cluster(scratch, "fb-passport").key
    marked = cli("mark", key, "ignored", "--db", scratch_where)
    assert marked.returncode == 0, marked.stderr
    assert _cluster(scratch, "fb-passport") is None
    assert cli("unmark", key, "--db", scratch_where).returncode == 0
    assert _cluster(scratch, "fb-passport").status == "open"
