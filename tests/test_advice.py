"""Outreach advice (issue 14): on generated data where one ward, Xuân Hòa, struggles in four known ways
(tests/advice_data.py), the suggestions name exactly those guides and topics with the right reasons, the
before/after of its posters matches counts taken straight from the events, and the command line and the
dashboard pages say the same, scoped to an official's wards. Both engines (db_target).
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from accountsutil import make_account, session_cookie
from advice_data import CAMPAIGN_DAY, DAYS, FEW, STRUGGLING, TICKETS, WARDS, day, generate_events, guide_counts, ts
from analytics import advice, campaigns
from analytics.advice_output import outreach_data
from analytics.store import connect, write_batch
from bot.server import CTX
from webutil import Official, app_settings, make_app

ROOT = Path(__file__).resolve().parent.parent
GROUP = "tdp-xuan-hoa-2"  # a working group of Xuân Hòa in the content


def seed(where) -> list:
    """The generated events and tickets, written to `where`; returns the events."""
    events = generate_events()
    db = connect(where)
    try:
        for i in range(0, len(events), 500):
            write_batch(db, events[i : i + 500])
        with db.transaction():
            for n, (ward, topic, index) in enumerate(TICKETS):
                db.execute(
                    "insert into tickets (user, channel, lang, ward, topic, question, created_at) values (?, 'telegram', 'vi', ?, ?, ?, ?)",
                    [f"ticket-user-{n}", ward, topic, "Tôi cần hỏi cán bộ", ts(index, 500 + n)],
                )
    finally:
        db.close()
    return events


@pytest.fixture
def seeded(db_target):
    events = seed(db_target)
    db = connect(db_target)
    yield db, events
    db.close()


def found(suggestions) -> set[tuple]:
    return {(s.kind, s.entry_id or s.topic, s.step) for s in suggestions}


def test_the_struggling_ward_gets_exactly_its_four_problems(seeded, kb):
    db, _ = seeded
    got = advice.advise(db, kb, STRUGGLING)
    assert (got.since, got.until) == (day(0).isoformat(), day(DAYS - 1).isoformat())
    assert found(got.suggestions) == {
        ("dropoff", "eid-activate", 3),  # 24 of 64 who reached step 3 stopped there; the province 40 of 192
        ("unanswered", "fees", None),  # 25 of 50 fees questions; the province 45 of 250
        ("thumbs_down", "eid-no-otp", None),  # 14 of 20 votes; the province 30 of 100
        ("tickets", "portal", None),  # 9 tickets for 40 portal questions; the province 13 of 200
    }
    by_kind = {s.kind: s for s in got.suggestions}
    drop = by_kind["dropoff"]
    assert (drop.count, drop.base, drop.province_count, drop.province_base) == (24, 64, 40, 192)
    assert drop.guide_id == "eid-activate" and drop.ratio == pytest.approx((24 / 64) / (40 / 192))
    assert (by_kind["unanswered"].count, by_kind["unanswered"].base, by_kind["unanswered"].province_count) == (25, 50, 45)
    assert by_kind["unanswered"].guide_id == "fees-pay-portal"  # the fees guide citizens were using
    assert by_kind["unanswered"].example == "nộp phí trước bạ xe máy ở đâu"
    assert by_kind["thumbs_down"].guide_id == "eid-activate"  # the eid guide most started
    assert (by_kind["tickets"].count, by_kind["tickets"].base, by_kind["tickets"].province_count) == (9, 40, 13)
    assert kb.guides[by_kind["tickets"].guide_id].topic == "portal"
    # ranked by how many more than the province's rate predicts: the tickets (9 - 2.6) come last
    assert [s.kind for s in got.suggestions][-1] == "tickets"


def test_wards_like_the_province_get_nothing_and_a_handful_proves_nothing(seeded, kb):
    db, _ = seeded
    for ward in WARDS:
        if ward != STRUGGLING:
            assert advice.advise(db, kb, ward).suggestions == [], ward
    few_ward, few_guide, _, n = FEW
    assert few_guide not in {s.entry_id for s in advice.advise(db, kb, few_ward).suggestions}  # 3 of 6 stopped: under MIN_COUNT
    province = advice.advise(db, kb, None)
    assert [s.ward for s in province.wards] == [STRUGGLING]  # each ward's first suggestion: only Xuân Hòa has one
    assert province.suggestions and all(s.ward is None and s.ratio is None for s in province.suggestions)


def test_the_reasons_say_who_where_how_many_and_against_what(seeded, kb):
    db, _ = seeded
    vi = {row["kind"]: row["reason"] for row in outreach_data(db, kb, STRUGGLING, lang="vi")["suggestions"]}
    en = {row["kind"]: row["reason"] for row in outreach_data(db, kb, STRUGGLING, lang="en")["suggestions"]}
    title_vi, title_en = kb.guides["eid-activate"].title.get("vi"), kb.guides["eid-activate"].title.get("en")
    assert vi["dropoff"] == (f"24 người ở phường Xuân Hòa dừng ở bước 3 của “{title_vi}” trong 4 tuần qua "
                             "(38 % số người đến bước đó; tỉnh: 21 %), gấp 1,8 lần tỉ lệ của tỉnh.")
    assert en["dropoff"] == (f"24 people in Xuân Hòa ward stopped at step 3 of “{title_en}” in the last 4 weeks "
                             "(38 % of those who reached it; province: 21 %), 1.8 times the province's rate.")
    assert vi["unanswered"].startswith("25 câu hỏi về ") and "50 %" in vi["unanswered"] and "tỉnh: 18 %" in vi["unanswered"]
    assert en["thumbs_down"].startswith("14 👎 on “") and "70 % of the votes; province: 30 %" in en["thumbs_down"]
    assert en["tickets"].startswith("9 questions about ") and "handed over to officials" in en["tickets"]


def periods_of_the_campaign() -> tuple[tuple[str, str], tuple[str, str]]:
    """Posters printed on CAMPAIGN_DAY with data to DAYS - 1: 14 days after, the 14 before."""
    length = DAYS - CAMPAIGN_DAY
    before = (day(CAMPAIGN_DAY - length).isoformat(), day(CAMPAIGN_DAY - 1).isoformat())
    return before, (day(CAMPAIGN_DAY).isoformat(), day(DAYS - 1).isoformat())


def test_before_and_after_the_posters_match_counts_from_the_events(seeded, kb):
    db, events = seeded
    assert campaigns.record(db, STRUGGLING, "eid-activate", [GROUP], "posters", step=3, actor="lan", ts=ts(CAMPAIGN_DAY)) == 1
    assert campaigns.record(db, STRUGGLING, "eid-activate", [GROUP], "posters", step=3, actor="lan", ts=ts(CAMPAIGN_DAY, 60)) == 0  # same day
    [effect] = campaigns.effects(db, kb, STRUGGLING)
    before, after = periods_of_the_campaign()
    assert (effect.before, effect.after, effect.days, effect.step) == (before, after, DAYS - CAMPAIGN_DAY, 3)
    steps = len(kb.guides["eid-activate"].steps)
    want = guide_counts(events, "eid-activate", steps, STRUGGLING, step=3, before=before, after=after)
    for key, figures in want.items():
        got = getattr(effect, key)
        assert {k: getattr(got, k) for k in figures} == figures, key
    # 20 of 32 stopped at step 3 before, 4 of 32 after: better, and the province moved much less
    assert (effect.ward_before.stopped_step, effect.ward_before.reached_step) == (20, 32)
    assert (effect.ward_after.stopped_step, effect.ward_after.reached_step) == (4, 32)
    assert (effect.ward_before.tickets, effect.ward_after.tickets) == (2, 1)  # the eid tickets on days 2, 5 and 16
    assert effect.verdict == "better" and effect.measure == "dropoff" and effect.z < -1.96


def test_too_small_and_too_early_are_said_plainly(seeded, kb):
    db, _ = seeded
    few_ward, few_guide, _, _ = FEW
    campaigns.record(db, few_ward, few_guide, [""], "sheet", actor="lan", ts=ts(CAMPAIGN_DAY))
    campaigns.record(db, STRUGGLING, "fees-pay-portal", [""], "sheet", actor="lan", ts=ts(DAYS - 3))
    effects = {e.guide_id: e for e in campaigns.effects(db, kb)}
    assert effects[few_guide].verdict == "too_small" and effects[few_guide].measure == "completion"
    assert effects["fees-pay-portal"].verdict == "too_early" and effects["fees-pay-portal"].days == 3
    worded = {row["guide_id"]: row["verdict_text"] for row in outreach_data(db, kb, None, lang="en")["effects"]}
    assert worded[few_guide].startswith("Too few to tell: ")
    assert worded["fees-pay-portal"].startswith("Too early to tell: only 3 days since ")


# -- the command line ---------------------------------------------------------------------------------------------

def cli(*args: str, db: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analytics", "outreach", *args, "--db", str(db)], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_the_command_prints_the_same_as_table_csv_and_json(tmp_path, kb):
    where = tmp_path / "advice.db"
    seed(where)
    out = cli("--ward", STRUGGLING, "--format", "json", db=where)
    assert out.returncode == 0, out.stderr
    with connect(where) as db:
        assert json.loads(out.stdout) == json.loads(json.dumps(outreach_data(db, kb, STRUGGLING), ensure_ascii=False))
    rows = list(csv.reader(io.StringIO(cli("--ward", STRUGGLING, "--format", "csv", "--lang", "en", db=where).stdout)))
    assert rows[0][:3] == ["rank", "ward", "kind"]
    assert {r[2] for r in rows[1:5]} == {"dropoff", "unanswered", "thumbs_down", "tickets"} and rows[5] == []
    table = cli("--ward", STRUGGLING, db=where).stdout
    assert "24 người ở phường Xuân Hòa dừng ở bước 3" in table and "(no posters or sheets recorded yet)" in table
    bad = cli("--ward", "ha-noi", db=where)
    assert bad.returncode == 2 and "unknown ward 'ha-noi'" in bad.stderr and bad.stdout == ""


# -- the dashboard pages ------------------------------------------------------------------------------------------

@pytest.fixture
async def site(tmp_path, db_target, kb, matcher) -> AsyncIterator[TestClient]:
    seed(db_target)
    app = make_app(tmp_path, kb, matcher, app_settings(tmp_path, db=db_target))
    async with TestClient(TestServer(app)) as client:
        yield client
    app[CTX].service.engine.store.close()


def official(client: TestClient, name: str, wards: tuple[str, ...] = ()) -> Official:
    where = client.server.app[CTX].settings.database
    make_account(where, name, "viewer", wards)
    return Official(client, session_cookie(where, name))


async def test_producing_posters_records_the_campaign_and_opens_them(site, kb):
    lan = official(site, "lan")
    status, html = await lan.page("/dashboard/outreach", ward=STRUGGLING)
    assert status == 200 and "24 người ở phường Xuân Hòa dừng ở bước 3" in html
    r = await lan.form("/dashboard/outreach/produce", {"ward": STRUGGLING, "guide": "eid-activate", "step": "3", "what": "posters", "group": GROUP})
    assert r.status == 303 and r.headers["Location"].startswith(f"/dashboard/groups/{GROUP}/poster/eid-activate")
    r = await lan.form("/dashboard/outreach/produce", {"ward": STRUGGLING, "guide": "eid-activate", "step": "3", "what": "sheet"})
    assert r.status == 303 and r.headers["Location"].startswith("/dashboard/outreach/sheet?ward=xuan-hoa&guide=eid-activate&step=3")
    with connect(site.server.app[CTX].settings.database) as db:
        assert [(a.ward, a.group_id, a.guide_id, a.step, a.what, a.actor) for a in campaigns.actions(db)] == [
            (STRUGGLING, GROUP, "eid-activate", 3, "posters", "lan"), (STRUGGLING, "", "eid-activate", 3, "sheet", "lan"),
        ]
    status, html = await lan.page("/dashboard/outreach", ward=STRUGGLING)  # the cached page was dropped: the campaign shows
    # printed today, after the data's last day: the row is there, and says it is too early to tell
    assert status == 200 and '<tr data-guide="eid-activate" data-ward="xuan-hoa" data-verdict="too_early">' in html
    r = await site.get("/dashboard/outreach/export.csv", params={"ward": STRUGGLING}, headers=lan.headers())
    assert r.status == 200 and "dropoff" in (await r.text())


async def test_bad_requests_get_clear_4xx(site):
    lan = official(site, "lan")
    assert (await lan.page("/dashboard/outreach", ward="ha-noi"))[0] == 404
    assert (await lan.page("/dashboard/outreach/sheet", ward=STRUGGLING, guide="no-such-guide"))[0] == 404
    assert (await lan.form("/dashboard/outreach/produce", {"ward": STRUGGLING, "guide": "eid-activate", "what": "posters", "group": "tdp-phuc-yen-5"})).status == 400
    assert (await lan.form("/dashboard/outreach/produce", {"ward": STRUGGLING, "guide": "eid-activate", "what": "leaflets"})).status == 400
    await lan.page("/dashboard/outreach")
    r = await site.post("/dashboard/outreach/produce", data={"csrf": "forged", "ward": STRUGGLING, "guide": "eid-activate", "what": "sheet"},
                        headers=lan.headers(), allow_redirects=False)
    assert r.status == 403
    with connect(site.server.app[CTX].settings.database) as db:
        assert campaigns.actions(db) == []  # nothing refused was recorded


async def test_a_ward_official_sees_and_produces_for_their_own_ward_only(site):
    minh = official(site, "minh", ("phuc-yen",))
    status, html = await minh.page("/dashboard/outreach")  # no province page for a ward official: their ward's
    assert status == 200 and '<option value="phuc-yen" selected>' in html
    assert '<option value="">' not in html and 'value="xuan-hoa"' not in html  # nor a choice of other wards
    assert (await minh.page("/dashboard/outreach", ward=STRUGGLING))[0] == 403
    r = await site.get("/dashboard/outreach/export.csv", params={"ward": STRUGGLING}, headers=minh.headers())
    assert r.status == 403
    status, _ = await minh.page("/dashboard/outreach", ward="phuc-yen")
    assert status == 200
    r = await minh.form("/dashboard/outreach/produce", {"ward": STRUGGLING, "guide": "eid-activate", "what": "sheet"})
    assert r.status == 403
    with connect(site.server.app[CTX].settings.database) as db:
        assert campaigns.actions(db) == []
