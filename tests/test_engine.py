"""Conversation flows as a citizen lives them: guides by button and by number, suggestions, fallback,
language, feedback, state across a restart, and bad input."""

from pathlib import Path

import pytest

from bot import present
from bot.actions import Action, parse_action
from bot.engine import Engine, Incoming
from bot.replies import numbered_text
from bot.state import DatabaseStateStore, UserState


def say(engine, text=None, user="citizen-1", channel="console", **kw):
    return engine.handle(Incoming(channel, user, text=text, **kw))


def tap(engine, action, user="citizen-1", channel="console"):
    return engine.handle(Incoming(channel, user, action=action))


def labels(outcome):
    return [b.label for r in outcome.replies for b in r.flat_buttons]


def actions(outcome):
    return [b.action for r in outcome.replies for b in r.flat_buttons]


def test_start_shows_welcome_and_topic_menu(engine, kb):
    out = engine.handle(Incoming("console", "u", start_payload=""))
    assert "DigiGuide" in out.replies[0].text
    # The common tasks first (one tap to the procedures people do most), then the seven topics.
    assert ["c", *(f"t:{t}" for t in kb.topics)] == actions(out)[: len(kb.topics) + 1]
    assert out.event.kind == "start"


def test_question_without_diacritics_gets_the_answer_with_feedback_and_guide_buttons(engine, kb):
    out = say(engine, "quen mat khau vneid thi lam sao")
    assert out.event.kind == "faq" and out.event.entry_id == "eid-forgot-password"
    text = out.replies[0].text
    assert "Quên mật khẩu" in text
    assert "fb:eid-forgot-password:up" in actions(out) and "fb:eid-forgot-password:down" in actions(out)
    assert "g:eid-forgot-password:0" in actions(out)


def test_guide_walked_forward_and_back_by_button(engine, kb):
    guide = kb.guides["eid-activate"]
    out = tap(engine, "g:eid-activate:0")
    assert guide.title.vi in out.replies[0].text and "Cần chuẩn bị" in out.replies[0].text
    out = tap(engine, "g:eid-activate:1")
    assert out.replies[0].text.startswith(f"Bước 1/{len(guide.steps)}")
    assert guide.steps[0].vi in out.replies[0].text
    assert actions(out)[:2] == ["g:eid-activate:0", "g:eid-activate:2"]
    out = tap(engine, "g:eid-activate:2")
    assert guide.steps[1].vi in out.replies[0].text
    out = tap(engine, "g:eid-activate:1")
    assert guide.steps[0].vi in out.replies[0].text
    out = tap(engine, f"g:eid-activate:{len(guide.steps) + 1}")
    assert guide.problems[0].problem.vi in out.replies[0].text
    assert "fb:eid-activate:up" in actions(out)


def test_guide_walked_by_typed_numbers_and_words(engine, kb):
    guide = kb.guides["qr-pay-shop"]
    tap(engine, "g:qr-pay-shop:0")
    out = say(engine, "1")  # "1. ▶ Bắt đầu"
    assert guide.steps[0].vi in out.replies[0].text
    out = say(engine, "tiếp")
    assert guide.steps[1].vi in out.replies[0].text
    out = say(engine, "tiep theo")
    assert guide.steps[2].vi in out.replies[0].text
    out = say(engine, "lùi")
    assert guide.steps[1].vi in out.replies[0].text
    out = say(engine, "2")  # "2. Tiếp ▶"
    assert guide.steps[2].vi in out.replies[0].text
    out = say(engine, "3")  # "3. ☰ Menu"
    assert out.event.kind == "menu"


def test_next_without_an_open_guide_explains_and_offers_the_menu(engine):
    out = say(engine, "tiếp", user="fresh")
    assert out.event.kind == "guide_none"
    assert "t:eid" in actions(out)


def test_one_word_query_gets_suggestions_and_a_number_picks_one(engine, kb):
    out = say(engine, "vneid")
    assert out.event.kind == "suggest"
    assert out.replies[0].text.startswith("Có phải bạn muốn hỏi")
    suggestions = [a for a in actions(out) if a.startswith("s:")]
    assert suggestions == ["s:1", "s:2", "s:3"]
    second_title = labels(out)[1]
    out = say(engine, "2")
    assert out.event.kind == "suggestion"
    entry = kb.faqs.get(out.event.entry_id) or kb.guides.get(out.event.entry_id)
    title = entry.title("vi") if hasattr(entry, "questions") and callable(entry.title) else entry.title.vi
    assert title == second_title


def test_tapping_a_suggestion_button_opens_it(engine):
    say(engine, "cccd")
    out = tap(engine, "s:1")
    assert out.event.kind == "suggestion" and out.event.entry_id


def test_out_of_scope_question_falls_back_with_hotline_and_menu(engine, kb):
    out = say(engine, "thời tiết hôm nay ở Việt Trì thế nào")
    assert out.event.kind == "fallback"
    assert kb.locality["hotlines"]["portal"]["number"] in out.replies[0].text
    assert "t:eid" in actions(out)


def test_english_question_gets_an_english_answer_and_lang_switches(engine):
    out = say(engine, "how do I activate my VNeID account")
    assert out.event.lang == "en" and out.event.entry_id in ("eid-activate-howto", "eid-activate")
    assert "Did this answer help you?" in out.replies[0].text or "Step" in out.replies[0].text
    out = say(engine, "/lang vi")
    assert out.event.lang == "vi" and out.replies[0].text.startswith("Đã chuyển sang tiếng Việt")
    out = say(engine, "menu")
    assert out.replies[0].text == "Bạn cần hỗ trợ về chủ đề nào?"
    out = tap(engine, "l:en")
    assert out.replies[0].text == "Switched to English."
    out = say(engine, "2")  # first topic (after the common tasks), in English now
    assert out.event.kind == "topic" and "pick a question" in out.replies[0].text


def test_feedback_is_recorded_on_the_event(engine):
    say(engine, "quen mat khau vneid")
    out = tap(engine, "fb:eid-forgot-password:down")
    assert (out.event.kind, out.event.entry_id, out.event.feedback) == ("feedback", "eid-forgot-password", "down")
    assert "cải thiện" in out.replies[0].text


def test_feedback_counts_once_and_only_for_the_answer_shown(engine, kb):
    say(engine, "quen mat khau vneid")
    first = tap(engine, "fb:eid-forgot-password:up")
    assert (first.event.kind, first.event.feedback) == ("feedback", "up")
    for action in ("fb:eid-forgot-password:up", "fb:eid-forgot-password:down", "fb:bills-electric-bank-app:up"):
        _, entry_id, verdict = action.split(":")
        again = tap(engine, action)  # a double tap, a change of mind, a forged action for another entry
        assert (again.event.kind, again.event.feedback) == ("feedback_ignored", None), action
        entry = kb.faqs.get(entry_id) or kb.guides[entry_id]
        assert again.replies[0].text == present.feedback_reply(kb, entry, verdict, "vi").text  # the same polite reply
    say(engine, "quen mat khau vneid")  # shown again: a new rating
    assert tap(engine, "fb:eid-forgot-password:down").event.feedback == "down"
    # an old answer's buttons after another answer was shown do not count either
    tap(engine, "f:bills-electric-bank-app")
    assert tap(engine, "fb:eid-forgot-password:up").event.feedback is None
    assert tap(engine, "fb:bills-electric-bank-app:up").event.feedback == "up"
    assert tap(engine, "fb:eid-forgot-password:up", user="someone-else").event.kind == "feedback_ignored"


def test_a_guide_is_rated_on_its_wrap_up_page(engine, kb):
    guide = kb.guides["eid-activate"]
    tap(engine, "g:eid-activate:1")
    end = len(guide.steps) + 1
    assert tap(engine, f"g:eid-activate:{end}").replies[0].buttons  # the wrap-up asks
    assert tap(engine, "fb:eid-activate:up").event.kind == "feedback"
    tap(engine, f"g:eid-activate:{end - 1}")  # back a step: still the same showing
    assert tap(engine, "fb:eid-activate:up").event.kind == "feedback_ignored"
    tap(engine, f"g:eid-activate:{end}")  # the wrap-up shown again asks again
    assert tap(engine, "fb:eid-activate:down").event.feedback == "down"


@pytest.mark.parametrize(
    "action",
    ["g:eid-activate:²", "t:eid:²", "s:²", "s:١", "g:eid-activate:١", "g:x:99999999999999999999", "g:eid-activate:99999999999999999999",
     "g:eid-activate:-1", "g:eid-activate:1:2", "t:eid:1:2", "m:x", "fb:eid-activate:up:x", "l:EN", "f:" + "a" * 500, "t:eid:" + "9" * 5000],
)
def test_actions_are_parsed_strictly(engine, action):
    say(engine, "vneid")  # suggestions on screen: s:1..s:3 are valid now
    out = tap(engine, action)
    assert out.event.kind == "stale_action" and "Nút này đã cũ" in out.replies[0].text, action


def test_well_formed_actions_still_work(engine, kb):
    assert tap(engine, "t:eid:2").event.kind == "topic"
    assert tap(engine, "t:eid:999").replies[0].buttons  # past the last page: the last page
    assert tap(engine, "g:eid-activate:999").event.guide_step == len(kb.guides["eid-activate"].steps) + 1
    say(engine, "vneid")
    assert tap(engine, "s:1").event.kind == "suggestion"


@pytest.mark.parametrize("text, picks", [("２", True), ("²", True), ("١", False), ("1\u0661\u0662", True), ("9" * 2000, False), ("0", False)])
def test_typed_numbers_pick_an_option_only_when_they_fold_to_one(engine, text, picks):
    """Folding (NFKD) reads a full-width "２" from a phone keyboard as 2; any other digit is just text and
    a run of 2000 nines is no option number: each gets a reply, none a crash."""
    say(engine, "menu")
    out = say(engine, text)
    assert out.replies and (out.event.kind in ("topic", "featured")) == picks, (text, out.event.kind)


def test_back_on_a_guide_overview_stays_there(engine, kb):
    tap(engine, "g:eid-activate:0")
    out = say(engine, "lùi")
    assert (out.event.kind, out.event.guide_step) == ("guide_step", 0)


def test_small_talk_gets_a_friendly_reply_and_the_menu(engine):
    for text, fragment in [("chào bạn", "Chào bạn"), ("cảm ơn nhiều nha", "Không có gì"), ("bạn là ai", "DigiGuide"), ("bye", "Tạm biệt")]:
        out = say(engine, text)
        assert out.event.kind == "smalltalk" and fragment in out.replies[0].text, text
        assert "t:eid" in actions(out)


def test_deep_link_payload_opens_a_guide_and_bad_payloads_fall_back_to_welcome(engine, kb):
    out = engine.handle(Incoming("console", "d1", start_payload="g-eid-activate"))
    assert len(out.replies) == 2 and kb.guides["eid-activate"].title.vi in out.replies[1].text
    out = engine.handle(Incoming("console", "d2", start_payload="t-qr"))
    assert "t:qr:2" in actions(out) or "f:qr-what-is-vietqr" in actions(out)
    for bad in ["g-no-such-guide", "x" * 80, "<script>", "g-eid-activate;drop"]:
        out = engine.handle(Incoming("console", "d3", start_payload=bad))
        assert len(out.replies) == 1 and "DigiGuide" in out.replies[0].text


def test_stale_or_forged_actions_get_a_polite_reply(engine):
    for action in ["g:deleted-guide:2", "f:nope", "fb:eid-what-is:sideways", "zz", "s:9", "g:eid-activate:x"]:
        out = tap(engine, action)
        assert out.event.kind == "stale_action" and "Nút này đã cũ" in out.replies[0].text, action


@pytest.mark.parametrize(
    "text, kind",
    [("", "empty"), ("   ", "empty"), ("😀😀😀", "empty"), ("\u200b\x00\x07", "empty"), ("???", "empty")],
)
def test_empty_like_input_asks_for_a_typed_question(engine, text, kind):
    out = say(engine, text)
    assert out.event.kind == kind
    assert "gõ câu hỏi" in out.replies[0].text


def test_huge_input_is_answered_not_crashed(engine):
    out = say(engine, "quên mật khẩu vneid " + "a" * 10_000)
    assert out.replies and len(out.replies[0].text) < 4096
    out = say(engine, "x" * 10_000)
    assert out.event.kind in ("fallback", "suggest")


def test_html_in_a_question_is_never_echoed(engine):
    out = say(engine, "<script>alert('x')</script><b>kích hoạt vneid</b>")
    assert all("<script>" not in r.text for r in out.replies)


def test_nfd_input_is_understood_like_nfc(engine):
    import unicodedata

    nfc = say(engine, "quên mật khẩu vneid", user="a").event.entry_id
    nfd = say(engine, unicodedata.normalize("NFD", "quên mật khẩu vneid"), user="b").event.entry_id
    assert nfc == nfd == "eid-forgot-password"


def test_event_carries_no_raw_text_or_raw_user_id(engine):
    out = say(engine, "số cccd 001203004567, sdt 0912345678 mà ko nhận được otp", user="telegram-user-987654")
    event = out.event
    assert "001203004567" not in event.question and "0912345678" not in event.question
    assert "987654" not in event.user and len(event.user) == 20


def test_replies_are_split_under_the_channel_limit(engine):
    out = engine.handle(Incoming("zalo", "z", text="quen mat khau vneid", max_len=200))
    assert len(out.replies) > 1 and all(len(r.text) <= 200 for r in out.replies)
    assert out.replies[-1].buttons and not out.replies[0].buttons


def test_state_survives_a_restart(kb, matcher, db_target):
    first = Engine(kb, DatabaseStateStore(db_target), salt="s", matcher=matcher)
    tap(first, "l:en")
    tap(first, "g:portal-login-vneid:2")
    first.store.close()

    second = Engine(kb, DatabaseStateStore(db_target), salt="s", matcher=matcher)
    try:
        out = say(second, "next")
        assert out.event.lang == "en"
        assert kb.guides["portal-login-vneid"].steps[2].en in out.replies[0].text
        # the database holds only hashed ids
        rows = second.store.db.query("select user, state from user_state")
        assert rows and not any("citizen-1" in row["user"] + row["state"] for row in rows)
        if second.store.db.engine == "sqlite":
            assert not any(b"citizen-1" in p.read_bytes() for p in (Path(db_target), Path(f"{db_target}-wal")) if p.exists())
    finally:
        second.store.close()


def test_state_store_writes_over_a_users_row_and_forgets_it(db_target):
    store = DatabaseStateStore(db_target)
    try:
        assert store.get("u1") == UserState()  # nobody yet: the defaults
        store.put("u1", UserState(lang="vi", options=("f:eid-levels", "m")))
        store.put("u2", UserState(lang="en"))
        store.put("u1", UserState(lang="en", guide_id="portal-login-vneid", guide_step=2, last_attempt=("fallback",)))
        assert store.get("u1") == UserState(lang="en", guide_id="portal-login-vneid", guide_step=2, last_attempt=("fallback",))
        assert store.db.scalar("select count(*) from user_state") == 2  # the same row written over
        store.delete("u1")  # /forget
        assert store.get("u1") == UserState() and store.get("u2").lang == "en"
        assert store.db.scalar("select count(*) from user_state where user = ?", ["u1"]) == 0
    finally:
        store.close()


def test_numbered_rendering_matches_typed_numbers(engine):
    out = say(engine, "menu")
    text = numbered_text(out.replies[0])
    assert "1. ⭐" in text and "2. 🪪" in text
    out = say(engine, "8")
    assert out.event.kind == "topic" and out.event.topic == "signature"


@pytest.mark.parametrize(
    "text",
    ["giúp tôi với", "tôi muốn hỏi", "cho hỏi", "làm sao", "help me", "ad oi cho em hoi chut", "em có việc cần hỏi ạ", "chi oi giup em voi", "I have a question"],
)
def test_messages_that_ask_nothing_specific_get_asked_back_with_the_menu(engine, text):
    out = say(engine, text)
    assert out.event.kind == "clarify", (text, out.event.kind, out.event.entry_id)
    assert out.event.entry_id is None and "t:eid" in actions(out)
    assert "muốn hỏi việc gì" in out.replies[0].text or "What would you like to ask" in out.replies[0].text


def test_a_question_with_a_subject_is_not_taken_for_a_vague_one(engine):
    out = say(engine, "cho hỏi kích hoạt vneid thế nào")
    assert out.event.kind in ("faq", "guide_step") and out.event.entry_id in ("eid-activate-howto", "eid-activate")


def test_guide_end_gives_the_hotline_of_the_guides_topic(engine, kb):
    power = kb.locality["hotlines"]["power"]["number"]
    vneid = kb.locality["hotlines"]["vneid"]["number"]
    bills = kb.guides["bills-electric-water"]
    end = tap(engine, f"g:bills-electric-water:{len(bills.steps) + 1}").replies[0].text
    assert power in end and "có tính cước" in end
    eid = kb.guides["eid-activate"]
    end = tap(engine, f"g:eid-activate:{len(eid.steps) + 1}").replies[0].text
    assert vneid in end and power not in end


def test_thumbs_up_keeps_the_menu_and_thumbs_down_offers_the_topics_hotline(engine, kb):
    up = tap(engine, "fb:bills-electric-bank-app:up")
    assert "t:eid" in actions(up) and "c" in actions(up)
    down = tap(engine, "fb:bills-electric-bank-app:down")
    assert kb.locality["hotlines"]["power"]["number"] in down.replies[0].text and "t:eid" in actions(down)
    down = tap(engine, "fb:eid-forgot-password:down")
    assert kb.locality["hotlines"]["vneid"]["number"] in down.replies[0].text


def test_an_out_of_scope_question_is_declined_with_whoever_handles_it(engine, kb):
    out = say(engine, "giá điện bậc thang bây giờ bao nhiêu một số")
    assert out.event.kind == "fallback"
    assert kb.locality["hotlines"]["power"]["number"] in out.replies[0].text
    out = say(engine, "chế độ thai sản được nghỉ mấy tháng", user="citizen-2")
    assert out.event.kind == "fallback"
    assert kb.locality["hotlines"]["vss"]["number"] in out.replies[0].text


def test_poster_link_greets_in_one_line_then_shows_the_promised_guide(engine, kb):
    out = engine.handle(Incoming("web", "poster-1", start_payload="g-eid-activate__tdp-phuc-yen-5"))
    assert len(out.replies) == 2
    assert out.replies[0].buttons == () and "DigiGuide" in out.replies[0].text
    assert kb.guides["eid-activate"].title.vi in out.replies[1].text
    assert out.event.source == "g-eid-activate__tdp-phuc-yen-5"


def test_common_tasks_are_one_tap_from_the_menu(engine, kb):
    assert kb.featured, "messages.yaml lists the common tasks"
    out = tap(engine, "c")
    assert out.event.kind == "featured"
    listed = [a for a in actions(out) if a != "m"]
    assert len(listed) == len(kb.featured)
    assert all(a.startswith(("g:", "f:")) for a in listed)


def test_the_action_grammar_takes_whole_actions_of_ascii_digits_only():
    assert parse_action("g:eid-activate:12") == Action("g", "eid-activate", 12)
    assert parse_action("t:eid") == Action("t", "eid") and parse_action("t:eid:3") == Action("t", "eid", 3)
    assert parse_action("fb:eid-what-is:down") == Action("fb", "eid-what-is", verdict="down")
    assert parse_action("s:3") == Action("s", number=3) and parse_action("l:en") == Action("l", "en")
    for bad in ("g:eid-activate:1\n", "g:eid-activate:²", "g:eid-activate:1234", "s:0", "s:10", "m ", "", ":", "t:EID", "fb:x:up\n"):
        assert parse_action(bad) is None, bad
