"""Links, payloads and poster codes for working groups; first-touch attribution."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.engine import Incoming
from bot.knowledge import load_knowledge
from bot.outreach import MAX_PAYLOAD, PayloadError, Target, build_payload, group_of, link_rows, match_code, parse_payload

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "payload, kind, ident, group",
    [
        ("g-eid-activate", "guide", "eid-activate", None),
        ("g-eid-activate__tdp-phuc-yen-5", "guide", "eid-activate", "tdp-phuc-yen-5"),
        ("t-qr", "topic", "qr", None),
        ("t-fees__tdp-xuan-hoa-2", "topic", "fees", "tdp-xuan-hoa-2"),
        ("f-eid-no-otp", "faq", "eid-no-otp", None),
        ("menu", "menu", None, None),
        ("menu__thon-tam-son-1", "menu", None, "thon-tam-son-1"),
    ],
)
def test_valid_payloads(kb, payload, kind, ident, group):
    link = parse_payload(payload, kb)
    assert (link.target.kind, link.target.id, link.group.id if link.group else None) == (kind, ident, group)
    assert link.payload == payload  # round trip


@pytest.mark.parametrize(
    "payload, reason",
    [
        ("g-no-such-guide", "unknown guide"),
        ("t-banking", "unknown topic"),
        ("x-eid-activate", "unknown target"),
        ("g-eid-activate__no-such-group", "unknown working group"),
        ("g-" + "a" * 70, "longer than 64"),
        ("g-eid-activate<script>", "only contain"),
        ("g-eid activate", "only contain"),
        ("", "empty"),
    ],
)
def test_invalid_payloads_say_why(kb, payload, reason):
    with pytest.raises(PayloadError, match=reason):
        parse_payload(payload, kb)


def test_every_guide_and_group_link_fits_telegram(kb):
    for group in [None, *kb.working_groups.values()]:
        for guide in kb.guides:
            payload = build_payload(Target("guide", guide), group)
            assert len(payload) <= MAX_PAYLOAD and parse_payload(payload, kb).target.id == guide


@pytest.mark.parametrize("typed", ["ID1 PY5", "id1 py5", "Id1-Py5", "  id 1  py 5 ", "ID1PY5", "id1.py5"])
def test_poster_codes_typed_in_many_forms(kb, typed):
    link = match_code(typed, kb)
    assert link is not None and link.target.id == "eid-activate" and link.group.id == "tdp-phuc-yen-5"


def test_codes_without_diacritics_or_group(kb):
    assert match_code("ĐN1", kb).target.id == "bills-electric-water"
    assert match_code("dn1", kb).group is None
    assert match_code("XH2", kb).target.kind == "menu" and match_code("XH2", kb).group.id == "tdp-xuan-hoa-2"
    for not_a_code in ["kich hoat vneid", "2", "ID9", "PY5 ID1 hello", "muc 2", "ID1 ZZ9"]:
        assert match_code(not_a_code, kb) is None, not_a_code


def test_first_touch_attribution_is_kept_on_later_events(engine):
    out = engine.handle(Incoming("zalo", "z-1", text="id1 py5"))
    assert out.event.source == "g-eid-activate__tdp-phuc-yen-5" and out.event.ward == "phuc-yen"
    assert any("Kích hoạt tài khoản VNeID" in r.text for r in out.replies)
    later = engine.handle(Incoming("zalo", "z-1", text="quen mat khau vneid"))
    assert later.event.source == "g-eid-activate__tdp-phuc-yen-5" and later.event.ward == "phuc-yen"
    # a second poster later does not overwrite the first touch
    again = engine.handle(Incoming("zalo", "z-1", text="QR1 TS1"))
    assert again.event.source == "g-eid-activate__tdp-phuc-yen-5"
    assert group_of(again.event.source) == "tdp-phuc-yen-5"


def test_deep_link_with_group_on_telegram_and_web(engine):
    out = engine.handle(Incoming("telegram", "t-1", start_payload="g-qr-pay-shop__tdp-xuan-hoa-2"))
    assert (out.event.source, out.event.ward, out.event.entry_id) == ("g-qr-pay-shop__tdp-xuan-hoa-2", "xuan-hoa", "qr-pay-shop")
    bad = engine.handle(Incoming("web", "w-1", start_payload="g-qr-pay-shop__nobody"))
    assert bad.event.source is None and len(bad.replies) == 1  # plain welcome, no attribution


def test_links_command_lists_every_link_and_code(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "bot", "links", "--group", "tdp-phuc-yen-5", "--format", "json"],
        capture_output=True, text=True, cwd=ROOT, env={"PATH": "/usr/bin:/bin", "TELEGRAM_BOT_USERNAME": "DigiGuideBot", "DIGIGUIDE_PUBLIC_URL": "https://chat.example.vn", "DIGIGUIDE_DB": str(tmp_path / "x.db")},
    )
    rows = json.loads(run.stdout)
    assert run.returncode == 0 and len(rows) == 1 + len(load_knowledge().guides)  # the menu + every guide
    row = next(r for r in rows if r["target"] == "g-eid-activate")
    assert row["telegram"] == "https://t.me/DigiGuideBot?start=g-eid-activate__tdp-phuc-yen-5"
    assert row["web"] == "https://chat.example.vn/?start=g-eid-activate__tdp-phuc-yen-5"
    assert row["zalo_code"] == "ID1 PY5"
    unknown = subprocess.run([sys.executable, "-m", "bot", "links", "--group", "nobody"], capture_output=True, text=True, cwd=ROOT)
    assert unknown.returncode == 2 and "unknown working group" in unknown.stderr


def test_link_rows_cover_all_groups(kb):
    rows = link_rows(kb, "bot", "http://x")
    assert {r.group for r in rows} == {None, *kb.working_groups}


def test_content_check_rejects_bad_groups_and_codes(content_copy):
    from bot.knowledge import ContentError, load_knowledge

    loc = content_copy / "locality.yaml"
    text = loc.read_text(encoding="utf-8")
    text = text.replace("    ward: xuan-hoa\n    code: XH2", "    ward: hai-chau\n    code: PY5", 1)
    loc.write_text(text, encoding="utf-8")
    with pytest.raises(ContentError) as info:
        load_knowledge(content_copy)
    problems = "\n".join(map(str, info.value.problems))
    assert "unknown ward 'hai-chau'" in problems and "code 'PY5'" in problems and "already used" in problems
