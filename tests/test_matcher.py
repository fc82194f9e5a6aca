"""Matcher decisions on the labelled sets: floors that fail if accuracy regresses, and the cases the
issue "answers citizens can trust" named: services that must agree, vague messages, long letters."""

import json
from collections import Counter

import pytest

from bot.evaluation import REAL_DEV, REAL_SEALED, evaluate, labelled_sets, load_devset

ITEMS = load_devset()
SETS = labelled_sets()


def test_devset_is_large_and_independent_enough():
    assert len(ITEMS) >= 350
    assert sum(i.type in ("near", "far") for i in ITEMS) >= 80
    assert {"dev", "test"} == {i.split for i in ITEMS}


@pytest.mark.parametrize("split", ["dev", "test"])
def test_answered_precision_and_false_accepts_stay_within_target(matcher, split):
    report = evaluate(matcher.search, [i for i in ITEMS if i.split == split])
    summary = report.summary()
    # Measured about 0.99 precision / 0.62-0.68 coverage / 0-3% false accepts (see docs/evaluation.md):
    # floors leave a small margin for content edits, but fail on a real regression.
    assert summary["answered_precision"] >= 0.97, summary
    assert summary["oos_false_accept_rate"] < 0.05, summary
    assert summary["coverage"] >= 0.55, summary
    assert summary["ambiguous_answered"] == 0, summary
    assert summary["smalltalk_correct"] >= 0.8 * summary["smalltalk_total"], summary
    assert summary["language_correct"] >= 0.97 * summary["language_total"], summary


def test_in_scope_questions_usually_get_the_right_entry_among_the_suggestions(matcher):
    report = evaluate(matcher.search, [i for i in ITEMS if i.type == "in" and "@ambiguous" not in i.expect])
    c = report.counts
    helped = c["in_correct"] + c["in_suggest_hit"]
    assert helped / report.in_scope >= 0.93


@pytest.mark.parametrize("query", ["vneid", "cccd", "dvc", "otp", "qr", "mật khẩu", "chữ ký số", "phí"])
def test_one_word_queries_shared_by_several_entries_are_never_auto_answered(matcher, query):
    assert matcher.search(query).kind in ("suggest", "fallback")


@pytest.mark.parametrize(
    "query, expected",
    [
        ("kich hoat vneid muc 2", {"eid-activate-howto", "eid-activate"}),
        ("ko nhan dc ma otp kich hoat", {"eid-no-otp"}),
        ("quen mk vneid", {"eid-forgot-password"}),
        ("quên passcode 6 số", {"eid-forgot-passcode"}),
        ("đăng nhập dvc bằng vneid", {"portal-login-vneid"}),
        ("nộp phạt giao thông online", {"fees-traffic-fine-pay", "fees-traffic-fine"}),
        ("tra tien dien qua app ngan hang", {"bills-electric-bank-app", "bills-electric-water"}),
        ("bị dán đè mã qr", {"qr-sticker-scam"}),
        ("công an gọi bảo nâng cấp định danh mức 2 qua điện thoại", {"safety-fake-police-call"}),
        ("chữ ký số từ xa đăng ký thế nào", {"sig-remote-howto", "signature-remote-setup"}),
        ("how do I pay a traffic fine online", {"fees-traffic-fine-pay", "fees-traffic-fine"}),
    ],
)
def test_typical_citizen_questions_are_answered(matcher, query, expected):
    match = matcher.search(query)
    assert match.kind == "answer" and match.entry.id in expected, (match.kind, match.entry and match.entry.id, match.score)


@pytest.mark.parametrize(
    "query", ["làm hộ chiếu cần giấy tờ gì", "thủ tục ly hôn", "giá vàng hôm nay", "kể chuyện cười đi", "asdfghjkl"]
)
def test_questions_we_do_not_cover_are_not_answered(matcher, query):
    assert matcher.search(query).kind != "answer"


@pytest.mark.parametrize(
    "text, lang",
    [("how do I reset my password", "en"), ("quên mật khẩu", "vi"), ("quen mat khau", "vi"), ("ko nhan dc otp", "vi")],
)
def test_language_detection(matcher, text, lang):
    assert matcher.detect_language(text) == lang


def test_the_real_wording_set_is_large_sourced_and_split_by_page():
    rows = [json.loads(line) for path in (REAL_DEV, REAL_SEALED) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    types = Counter(r["type"] for r in rows)
    assert len(rows) >= 300 and types["near"] + types["far"] >= 80 and types["vague"] >= 40, types
    assert all(r["source"].startswith(("http://", "https://")) for r in rows)
    dev_sources = {r["source"] for r in rows if r["part"] == "dev"}
    sealed_sources = {r["source"] for r in rows if r["part"] == "sealed"}
    assert sealed_sources and not dev_sources & sealed_sources, "one page's questions stay in one part"
    assert len({r["q"] for r in rows}) == len(rows)


@pytest.mark.parametrize("name", ["heldout", "real-sealed"])
def test_held_out_sets_are_never_answered_wrongly_often(matcher, name):
    """Reported only (calibration never sees them). The assertion message shows counts, never the
    sealed questions themselves: reading them while tuning would unseal them."""
    summary = evaluate(matcher.search, [i for i in SETS[name] if i.split != "dev"]).summary()
    counts = {k: summary[k] for k in ("answered_correct", "answered_wrong", "oos_false_accepts", "vague_answered", "answered_precision")}
    assert summary["vague_answered"] == 0, counts
    assert summary["oos_false_accept_rate"] <= 0.03, counts
    if name == "heldout":
        assert summary["answered_precision"] >= 0.97, counts
    else:  # few answers: bound the wrong ones (measured: 1 wrong, 0 out of scope, 0 vague)
        assert summary["answered_wrong"] + summary["oos_false_accepts"] <= 2, counts


def test_the_real_dev_part_gets_the_right_entry_offered(matcher):
    report = evaluate(matcher.search, SETS["real-dev"])
    summary = report.summary()
    assert summary["vague_answered"] == 0 and summary["answered_precision"] >= 0.95, report.errors
    assert summary["helped"] >= 0.75, summary


@pytest.mark.parametrize(
    "query, wrong",
    [
        ("quên mật khẩu cổng dịch vụ công", "eid-forgot-password"),
        ("tài khoản vneid bị khóa", "portal-old-account"),
        ("lệ phí làm căn cước online", "safety-fake-passport"),
        ("quét cccd trên app ngân hàng không được", "eid-no-nfc"),
        ("đăng nhập vssid bị sai mật khẩu", "eid-forgot-password"),
    ],
)
def test_an_entry_about_another_service_is_never_the_answer(matcher, query, wrong):
    match = matcher.search(query)
    assert not (match.kind == "answer" and match.entry.id == wrong), (match.kind, match.entry and match.entry.id, match.reason)


@pytest.mark.parametrize(
    "query", ["giúp tôi với", "tôi muốn hỏi", "cho hỏi", "làm sao", "help me", "Chào luật sư", "alo ad oi", "em có việc cần hỏi ạ", "xin chào, tôi muốn hỏi một chút"]
)
def test_messages_that_ask_nothing_are_never_answered(matcher, query):
    match = matcher.search(query)
    assert match.kind in ("clarify", "smalltalk"), (query, match.kind, match.entry and match.entry.id)


def test_a_letter_is_answered_by_its_question_not_its_story(matcher):
    letter = (
        "Tôi sinh năm 1969, quê ở xã Tam Sơn, hồi nhỏ bố mẹ tôi có làm giấy khai sinh ở xã nhưng nhà bị lũ cuốn "
        "mất hết giấy tờ từ lâu. Năm ngoái tôi đã làm căn cước gắn chip và có tài khoản VNeID mức 2. Bây giờ tôi cần "
        "xin lại trích lục giấy khai sinh để làm hồ sơ cho con thì làm thế nào, có làm online được không?"
    )
    match = matcher.search(letter)
    assert match.focus and "trích lục giấy khai sinh" in match.focus
    assert match.kind in ("answer", "suggest") and match.alternatives[0].entry.id == "portal-birth-copy", (match.kind, match.reason)


@pytest.mark.parametrize(
    "template, number",
    [
        ("cccd{} kich hoat vneid muc 2 khong duoc", "001203004567"),
        ("quen mat khau vneid so dien thoai{}", "0912345678"),
        ("ma otp{} nhap vao dau", "483920"),
        ("chuyen nham tien vao stk{} lay lai the nao", "19036549821017"),
    ],
)
def test_a_citizens_own_number_does_not_change_the_answer(matcher, template, number):
    """Citizens paste their ID, phone or OTP into the question; the number says nothing about what they ask,
    so the bot decides exactly as if they had left it out, glued to a word or apart."""
    without = matcher.search(template.format(""))
    for typed in (template.format(number), template.format(" " + number)):
        found = matcher.search(typed)
        assert (found.kind, found.entry, found.score) == (without.kind, without.entry, without.score), typed
