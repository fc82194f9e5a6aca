"""Asking an official, in the engine (bot/handover/flow.py) on the real content and matcher, with the real
ticket store in tmp_path: the offer after a fallback and a 👎, the phrases that ask for a person, what the
confirmation says and sends (redacted), the ticket code, office hours, adding and withdrawing, /forget,
"tell me when there is an answer", and the engine without a ticket store."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from bot.engine import Engine, Incoming
from handoverutil import Clock
from bot.handover.flow import outbox_replies
from bot.handover.hours import VIETNAM
from bot.handover.store import TicketStore
from bot.knowledge import ContentError, load_knowledge
from bot.privacy import hash_user
from bot.state import MemoryStateStore

UNKNOWN = "vneid hang hai va hang mot"  # the bot falls back on it (tests/test_content_browser.py)
TUESDAY_9 = dt.datetime(2026, 12, 8, 9, 0, tzinfo=VIETNAM).timestamp()
SATURDAY_10 = dt.datetime(2026, 12, 5, 10, 0, tzinfo=VIETNAM).timestamp()
POSTER = "g-eid-activate__tdp-phuc-yen-5"  # a poster of a Phúc Yên working group: the citizen's ward


@pytest.fixture
def clock():
    return Clock(TUESDAY_9)


@pytest.fixture
def tickets(tmp_path, clock):
    store = TicketStore(tmp_path / "x.db", "t", clock=clock)
    yield store
    store.close_db()


@pytest.fixture
def bot(kb, matcher, tickets):
    return Engine(kb, MemoryStateStore(), "t", matcher=matcher, tickets=tickets)


def say(bot: Engine, text: str, user: str = "c1", channel: str = "telegram"):
    return bot.handle(Incoming(channel, user, text=text))


def tap(bot: Engine, action: str, user: str = "c1", channel: str = "telegram"):
    return bot.handle(Incoming(channel, user, action=action))


def actions(outcome) -> list[str]:
    return [b.action for r in outcome.replies for b in r.flat_buttons]


def text(outcome) -> str:
    return "\n".join(r.text for r in outcome.replies)


def test_after_a_fallback_the_citizen_confirms_what_is_sent_and_gets_a_ticket_code(bot, tickets):
    bot.handle(Incoming("telegram", "c1", start_payload=POSTER))  # first touch: a Phúc Yên poster
    fell = say(bot, f"{UNKNOWN}, so dt cua toi 0912345678")
    assert fell.event.kind == "suggest" and "h:ask" in actions(fell)  # "none of these": ask an official
    confirm = tap(bot, "h:ask")
    shown = text(confirm)
    assert confirm.event.kind == "handover_confirm" and "h:ok" in actions(confirm)
    assert "0912345678" not in shown and "hang hai va hang mot" in shown  # what will be sent, redacted
    assert "phường Phúc Yên" in shown and "không cần gửi" in shown and "giờ làm việc" in shown
    assert tickets.current(hash_user("t", "telegram", "c1")) is None  # nothing is sent before "Gửi"
    sent = tap(bot, "h:ok")
    code = re.search(r"#\d+", text(sent)).group(0)
    ticket = tickets.current(hash_user("t", "telegram", "c1"))
    assert sent.event.kind == "ticket" and code == ticket.code
    assert ticket.ward == "phuc-yen" and "0912345678" not in ticket.question and ticket.status == "open"
    assert ticket.attempt["kind"] == "suggest" and len(ticket.attempt["entries"]) >= 2 and fell.event.entry_id in ticket.attempt["entries"]
    assert ticket.question_key == fell.event.question_key
    assert "dự kiến trước 09:30 thứ Tư 09/12" in text(sent)  # 8 office hours after Tuesday 9:00 (a lunch break between)
    again = tap(bot, "h:ok")  # a second tap on the old button: the same ticket, not a second one
    assert len(tickets.tickets()) == 1 and ticket.code in text(again)
    # the bot keeps answering other questions meanwhile
    assert say(bot, "quên mật khẩu vneid").event.kind in ("faq", "guide")


@pytest.mark.parametrize("words", ["/canbo", "gặp cán bộ", "gap can bo", "Hỏi cán bộ", "cho tôi nói chuyện với người thật",
                                   "cho toi noi chuyen voi nguoi that", "talk to a person", "I want to talk to a human please"])
def test_every_way_of_asking_for_a_person_starts_the_handover(bot, words):
    out = say(bot, words)
    assert out.event.kind == "handover_start", words
    assert out.event.question is None  # the request itself is not a question for analytics
    assert "h:no" in actions(out)


def test_a_long_letter_that_mentions_an_official_is_answered_not_handed_over(bot):
    letter = ("Chào bạn, tuần trước tôi đã ra phường hỏi cán bộ về việc này nhưng chưa hiểu lắm, con tôi bảo lên mạng "
              "tự làm được. Xin hỏi quên mật khẩu vneid thì lấy lại thế nào ạ?")
    assert say(bot, letter).event.kind in ("faq", "guide", "suggest")


def test_without_a_known_ward_the_citizen_types_a_question_and_picks_a_ward(bot, tickets):
    start = say(bot, "/canbo", user="c2", channel="web")
    assert "Bạn muốn hỏi cán bộ điều gì" in text(start)
    ward_menu = say(bot, "tôi muốn hỏi về hộ khẩu của mẹ tôi, số cccd 001203004567", user="c2", channel="web")
    assert ward_menu.event.kind == "handover_ward" and "h:w:xuan-hoa" in actions(ward_menu) and "h:w:-" in actions(ward_menu)
    assert ward_menu.event.question is None
    confirm = tap(bot, "h:w:xuan-hoa", user="c2", channel="web")
    assert "phường Xuân Hòa" in text(confirm) and "001203004567" not in text(confirm)
    assert tap(bot, "h:w:hai-chau", user="c2", channel="web").event.kind == "stale_action"  # not a ward of ours
    tap(bot, "h:ok", user="c2", channel="web")
    ticket = tickets.tickets()[0]
    assert (ticket.ward, ticket.channel, ticket.question) == ("xuan-hoa", "web", "tôi muốn hỏi về hộ khẩu của mẹ tôi, số cccd <id-number>")


def test_outside_office_hours_the_citizen_is_told_when_the_office_opens(bot, clock):
    clock.now = SATURDAY_10
    say(bot, UNKNOWN)
    confirm = tap(bot, "h:ask")
    tap(bot, "h:w:phuc-yen")
    sent = tap(bot, "h:ok")
    assert "ngoài giờ làm việc" in text(confirm) or "ngoài giờ làm việc" in text(sent)
    assert "mở lại lúc 07:30 thứ Hai 07/12" in text(sent)


def test_add_to_withdraw_and_forget_a_ticket(bot, tickets):
    say(bot, UNKNOWN)
    tap(bot, "h:ask")
    tap(bot, "h:w:tam-son")
    tap(bot, "h:ok")
    user = hash_user("t", "telegram", "c1")
    status = tap(bot, "h:ask")  # with a ticket open: what it is, add or withdraw
    assert status.event.kind == "handover_current" and {"h:add", "h:x"} <= set(actions(status))
    tap(bot, "h:add")
    added = say(bot, "mình ở thôn 3, sđt 0987654321")
    assert added.event.kind == "ticket_add" and added.event.question is None
    assert tickets.current(user).additions == ["mình ở thôn 3, sđt <phone>"]
    withdrawn = tap(bot, "h:x")
    assert withdrawn.event.kind == "ticket_withdraw" and tickets.current(user) is None
    assert tickets.tickets("withdrawn")[0].id == status_code_id(status)

    say(bot, UNKNOWN)
    tap(bot, "h:ask")
    tap(bot, "h:w:tam-son")
    tap(bot, "h:ok")
    assert tickets.current(user) is not None
    say(bot, "/forget")
    assert tickets.tickets() == []  # withdrawn and deleted, with the earlier one


def status_code_id(outcome) -> int:
    return int(re.search(r"#(\d+)", text(outcome)).group(1))


def test_a_fallback_offers_an_official_and_to_be_told(bot):
    fell = say(bot, UNKNOWN)
    assert fell.event.kind == "fallback" and actions(fell)[:2] == ["h:ask", "h:notify"]


def test_a_thumbs_down_offers_an_official(bot):
    answer = say(bot, "quên mật khẩu vneid")
    entry = answer.event.entry_id
    down = tap(bot, f"fb:{entry}:down")
    assert down.event.kind == "feedback" and "h:ask" in actions(down) and "h:notify" not in actions(down)
    confirm = tap(bot, "h:ask")
    assert confirm.event.kind in ("handover_ward", "handover_confirm")


def test_tell_me_when_answered_queues_the_new_answer_once(bot, tickets, kb):
    say(bot, UNKNOWN, user="w1", channel="zalo")
    told = tap(bot, "h:notify", user="w1", channel="zalo")
    assert told.event.kind == "notify_optin" and "30 ngày" in text(told)
    key = bot.handle(Incoming("zalo", "w2", text=UNKNOWN)).event.question_key
    assert tickets.notify_resolved([key], "eid-levels").queued == 1
    assert tickets.notify_resolved([key], "eid-levels").queued == 0  # once
    (item,) = tickets.due(["zalo"])
    assert item.address == "w1" and item.kind == "notify"
    replies = outbox_replies(kb, tickets, item)
    assert "Đây là câu trả lời" in replies[0].text and replies[1].text.startswith(kb.faqs["eid-levels"].answer.vi[:40])
    nothing = tap(bot, "h:notify", user="w3")  # nothing asked yet
    assert "gõ câu hỏi trước" in text(nothing)


def test_an_officials_reply_reads_with_the_ticket_code_and_the_attached_entry(bot, tickets, kb):
    bot.handle(Incoming("telegram", "c1", start_payload=POSTER))
    say(bot, UNKNOWN)
    tap(bot, "h:ask")
    tap(bot, "h:ok")
    ticket = tickets.tickets()[0]
    tickets.reply(ticket.id, "lan", "Mức 2 cần làm tại công an phường.", "eid-levels")
    (item,) = tickets.due(["telegram"])
    (reply,) = outbox_replies(kb, tickets, item)
    assert reply.text.startswith(f"💬 Cán bộ phường Phúc Yên trả lời câu hỏi {ticket.code}")
    assert "Mức 2 cần làm tại công an phường." in reply.text
    assert [b.action for b in reply.flat_buttons][:1] == ["f:eid-levels"]


def test_without_a_ticket_store_nothing_is_offered(kb, matcher):
    plain = Engine(kb, MemoryStateStore(), "t", matcher=matcher)
    fell = plain.handle(Incoming("web", "x", text=UNKNOWN))
    assert not any(a.startswith("h:") for a in actions(fell))
    assert plain.handle(Incoming("web", "x", text="/canbo")).event.kind == "hotline"
    assert plain.handle(Incoming("web", "x", action="h:ok")).event.kind == "hotline"


@pytest.mark.parametrize("change, problem", [
    ('hours: ["07:30-11:30", "13:30-17:00"]', 'hours: ["7h30-11h30"]'),
    ("typical_hours: 8", "typical_hours: soon"),
    ("days: [mon, tue, wed, thu, fri]", "days: [monday]"),
    ("typical_hours: 8", 'typical_hours: 8\n  notify_chats: {hai-chau: "-1001", phuc-yen: "the group"}'),
])
def test_bot_check_refuses_a_malformed_handover_section(content_copy, change, problem):
    path = content_copy / "locality.yaml"
    text = path.read_text(encoding="utf-8")
    assert change in text
    path.write_text(text.replace(change, problem, 1), encoding="utf-8")
    with pytest.raises(ContentError) as refused:
        load_knowledge(content_copy)
    messages = " ".join(p.message for p in refused.value.problems)
    assert "handover" in messages and all("locality.yaml" in p.file for p in refused.value.problems)
