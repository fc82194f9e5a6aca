"""Asking an official, in the engine (bot/handover/flow.py) on the real content and matcher, with the real
ticket store (db_target: SQLite and PostgreSQL): the offer after a fallback and a 👎, the phrases that ask for a person, what the
confirmation says and sends (redacted), the ticket code, office hours, adding and withdrawing, /forget,
"tell me when there is an answer", and the engine without a ticket store. The store's side runs on both
engines (SQLite and PostgreSQL): changes that race with another process, and the bytes /forget leaves."""

from __future__ import annotations

import datetime as dt
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from bot import storage
from bot.engine import Engine, Incoming
from handoverutil import Clock, held
from bot.handover.flow import outbox_replies
from bot.handover.hours import VIETNAM
from bot.handover.store import FORGET_TABLES, TicketError, TicketStore
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
def tickets(db_target, clock):
    """The real ticket store, once on each engine (SQLite file, PostgreSQL)."""
    store = TicketStore(db_target, "t", clock=clock)
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


# -- the store, with other processes writing at the same moment (both engines) --------------------------------------
WAIT = 0.3  # seconds for a thread to reach the lock another process holds


def waiting(pool: ThreadPoolExecutor, *calls) -> list[Future]:
    """Start `calls` in threads and give them the time to reach the lock held meanwhile."""
    futures = [pool.submit(call) for call in calls]
    time.sleep(WAIT)
    assert not any(f.done() for f in futures), "they should wait for the other process's write"
    return futures


def refusal(future: Future) -> str | None:
    try:
        future.result(timeout=10)
    except TicketError as exc:
        return exc.code
    return None


def test_a_ticket_closed_while_officials_answer_take_and_the_citizen_adds_stays_closed(tickets, db_target, clock):
    ticket = tickets.open_ticket(user="u1", channel="telegram", address="1001", lang="vi", ward="phuc-yen", topic=None, question="Hỏi về VNeID")
    lan, minh, citizen = (TicketStore(db_target, "t", clock=clock) for _ in range(3))  # three other processes
    try:
        with ThreadPoolExecutor(3) as pool:
            with held(db_target, "update tickets set status = 'closed', closed_at = ?, address = null, taken_by = 'huong' where id = ?", [clock(), ticket.id]):
                answering, taking, adding = waiting(pool, lambda: lan.reply(ticket.id, "lan", "Chị mang CCCD đến phường."),
                                                    lambda: minh.take(ticket.id, "minh"), lambda: citizen.add(ticket.id, "thêm"))
            assert [refusal(f) for f in (answering, taking, adding)] == ["closed", "closed", "closed"]
    finally:
        for store in (lan, minh, citizen):
            store.close_db()
    after = tickets.get(ticket.id)
    assert (after.status, after.taken_by, after.first_answer_at, after.messages) == ("closed", "huong", None, ())
    assert tickets.due(["telegram"]) == []  # no reply queued for a citizen whose ticket is closed


def test_taking_a_ticket_someone_else_took_moves_it_and_the_reply_keeps_the_taker(tickets, clock):
    ticket = tickets.open_ticket(user="u1", channel="zalo", address="z1", lang="vi", ward="", topic=None, question="Hỏi")
    assert tickets.take(ticket.id, "lan").taken_by == "lan"
    clock.advance(60)
    moved = tickets.take(ticket.id, "minh")
    assert (moved.taken_by, moved.taken_at) == ("minh", clock())
    tickets.reply(ticket.id, "lan", "Trả lời")  # lan still answers: the ticket stays minh's, now answered
    answered = tickets.get(ticket.id)
    assert (answered.status, answered.taken_by, answered.first_answer_at) == ("answered", "minh", clock())
    with pytest.raises(TicketError) as missing:
        tickets.take(ticket.id + 1000, "lan")
    assert missing.value.code == "not_found"


def test_a_nul_character_is_dropped_from_what_is_stored_on_either_engine(tickets):
    ticket = tickets.open_ticket(user="u1", channel="web", address="s1", lang="vi", ward="", topic=None, question="hỏi\x00 về VNeID")
    tickets.add(ticket.id, "thêm\x00")
    message, outbox = tickets.reply(ticket.id, "lan", "\x00Trả lời\x00 đây")
    stored = tickets.get(ticket.id)
    assert (stored.question, stored.additions, message.text) == ("hỏi về VNeID", ["thêm"], "Trả lời đây")
    assert [m.text for m in stored.messages if m.author == "lan"] == ["Trả lời đây"]
    with pytest.raises(TicketError) as empty:
        tickets.reply(ticket.id, "lan", " \x00 ")
    assert empty.value.code == "empty"


def test_a_cluster_resolved_by_two_processes_at_once_tells_each_citizen_once(tickets, db_target, clock):
    for n in range(5):
        tickets.watch(user=f"w{n}", channel="zalo", address=f"z{n}", lang="vi", question_key="vneid hang hai", topic="eid")
    server, command = TicketStore(db_target, "t", clock=clock), TicketStore(db_target, None, clock=clock)  # the dashboard, `analytics mark`
    try:
        with ThreadPoolExecutor(2) as pool:
            with held(db_target, "update watchers set topic = topic where question_key = ?", ["vneid hang hai"]):
                first, second = waiting(pool, lambda: server.notify_resolved(["vneid hang hai"], "eid-levels"),
                                        lambda: command.notify_resolved(["vneid hang hai"], "eid-levels"))
            assert sorted(f.result(timeout=10).queued for f in (first, second)) == [0, 5]
    finally:
        server.close_db()
        command.close_db()
    told = tickets.due(["zalo"])
    assert sorted(item.address for item in told) == [f"z{n}" for n in range(5)] and {item.kind for item in told} == {"notify"}


def test_forget_leaves_no_bytes_of_the_citizen_in_the_tables(db_target, clock):
    store = TicketStore(db_target, "t", clock=clock)
    gone = store.open_ticket(user="alice", channel="telegram", address="1001", lang="vi", ward="phuc-yen", topic=None, question="cau-hoi-cua-alice-ve-vneid")
    store.add(gone.id, "bo-sung-cua-alice")
    store.reply(gone.id, "lan", "tra-loi-cho-alice")
    store.watch(user="alice", channel="telegram", address="1001", lang="vi", question_key="khoa-cua-alice", topic=None)
    kept = store.open_ticket(user="bob", channel="zalo", address="z2", lang="vi", ward="", topic=None, question="cau-hoi-cua-bob-ve-vneid")
    assert store.forget("alice") == 1
    assert store.tickets() == [store.get(kept.id)] and store.due(["telegram"]) == []
    assert store.db.scalar("select count(*) from watchers where user = ?", ["alice"]) == 0
    store.close_db()  # on SQLite the last connection to close checkpoints the write-ahead log into the file
    blob = table_bytes(db_target)
    assert b"cau-hoi-cua-bob-ve-vneid" in blob  # the search sees rows that are there
    for trace in (b"cau-hoi-cua-alice", b"bo-sung-cua-alice", b"tra-loi-cho-alice", b"khoa-cua-alice", b"alice"):
        assert trace not in blob, trace


def table_bytes(where: str) -> bytes:
    """Every byte of the handover tables and their indexes as stored: the SQLite file, or PostgreSQL's pages
    (pageinspect, as the server holds them: what it writes to disk)."""
    if not where.startswith("postgresql://"):
        return b"".join(p.read_bytes() for p in (Path(where), Path(f"{where}-wal")) if p.exists())
    with storage.connect(where) as db:
        try:
            db.execute("create extension if not exists pageinspect")
        except storage.Error as exc:
            pytest.skip(f"PostgreSQL's pageinspect extension is not installed: {exc}")
        names = [*FORGET_TABLES, *(r[0] for r in db.execute(
            "select i.relname from pg_index x join pg_class i on i.oid = x.indexrelid join pg_class t on t.oid = x.indrelid "
            f"where t.relname in ({', '.join('?' for _ in FORGET_TABLES)})", list(FORGET_TABLES)).fetchall())]
        pages = []
        for name in names:
            count = db.scalar("select pg_relation_size(?::regclass) / current_setting('block_size')::int", [name])
            pages += [bytes(db.scalar("select get_raw_page(?, ?)", [name, n])) for n in range(count)]
        return b"".join(pages)
