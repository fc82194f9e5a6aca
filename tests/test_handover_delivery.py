"""An official's reply reaches the citizen on the channel they asked from, and the official sees where it
stands: through the real python-telegram-bot against the loopback Bot API, our Zalo client against its
loopback API, and the web chat's GET /api/chat/pending (in real Chromium in test_handover_web_browser.py).

The courier retries later on 429 (with the platform's retry_after) and 5xx, and gives up at once on a
refusal that will not change. The store's and the courier's clock is the test's (handoverutil.Clock), so a
retry's time comes by moving it, never by waiting. Every test here runs on both engines (db_target): the
SQLite file and PostgreSQL, where several servers may share the outbox: an item goes to one courier, and a
web chat message to one poll.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bot.engine import Incoming
from aiohttp.test_utils import TestClient, TestServer

from bot.channels import telegram, web, zalo
from bot.handover.courier import MAX_ATTEMPTS
from bot.handover.store import CLAIM_SECONDS, TicketStore
from handoverutil import Clock, Handover, handover_app, handover_settings, held, open_ticket, serve_handover, until
from tests.fake_telegram import FakeTelegram
from tests.fake_zalo import FakeZalo
from webutil import make_app, new_session

TG_TOKEN, ZALO_TOKEN = "123:ABC", "zt-123"
TG_USER, ZALO_USER = 1001, "6ede9afa66b88fe6d6a9"
GROUP = -1001234567890
SALT = "t"  # app_settings' salt
ANSWER = "Chị mang CCCD đến bộ phận một cửa của phường vào sáng thứ Hai, cán bộ sẽ kích hoạt giúp chị."


async def retry_until_settled(handover: Handover, outbox_id: int, step: float = 400.0, rounds: int = 3 * MAX_ATTEMPTS) -> str:
    """Move the clock past each retry's time and let the courier try, until the item is sent or failed."""
    for _ in range(rounds):
        status = handover.tickets.delivery(outbox_id)
        if status != "queued":
            return status
        handover.clock.advance(step)
        await handover.courier.round()
    return handover.tickets.delivery(outbox_id)


def reply_of(handover: Handover, ticket_id: int):
    """The official's last reply on the ticket, as the dashboard shows it (delivery and error)."""
    return [m for m in handover.tickets.get(ticket_id).messages if m.author != "citizen"][-1]


# -- Telegram ---------------------------------------------------------------------------------------------------------
@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    server = await FakeTelegram(TG_TOKEN).start()
    server.private_chat(TG_USER)  # the citizen wrote to the bot before asking
    yield server
    await server.close()


@pytest.fixture
async def tg_server(tg, tmp_path, db_target, kb, matcher) -> AsyncIterator[Handover]:
    settings = handover_settings(tmp_path, db_target, telegram_token=TG_TOKEN, telegram_api_base=tg.api_base,
                            telegram_webhook_url="https://digiguide.example/telegram/webhook")
    async with serve_handover(settings, kb, matcher, tmp_path, telegram.TELEGRAM) as handover:
        await until(lambda: "telegram" in handover.courier.senders)
        yield handover


def tg_actions(message: dict[str, Any]) -> list[str]:
    return [b["callback_data"] for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]


def tg_sends(tg: FakeTelegram, chat_id: int = TG_USER) -> list[Any]:
    return [c for c in tg.calls_to("sendMessage") if int(c.params["chat_id"]) == chat_id]


async def test_telegram_reply_arrives_in_the_citizens_chat_with_its_buttons(tg_server, tg, kb):
    ticket = open_ticket(tg_server.tickets, SALT, "telegram", str(TG_USER))
    entry = next(iter(kb.faqs))
    _message, outbox_id = tg_server.tickets.reply(ticket.id, "Cán bộ Lan", ANSWER, entry_id=entry)

    assert await tg_server.courier.deliver_now(outbox_id) == "sent"

    [shown] = tg.bot_messages(TG_USER)
    assert ANSWER in shown["text"] and ticket.code in shown["text"] and kb.ward_name("phuc-yen", "vi") in shown["text"]
    assert {"h:add", "m"} <= set(tg_actions(shown))  # add to the question, or go on with the bot
    assert any(entry in a for a in tg_actions(shown))  # the attached entry as a button
    assert reply_of(tg_server, ticket.id).delivery == "sent"


async def test_telegram_429_is_retried_after_telegrams_retry_after_and_sent_once(tg_server, tg):
    ticket = open_ticket(tg_server.tickets, SALT, "telegram", str(TG_USER))
    tg.fail_next("sendMessage", 429, retry_after=5)
    _message, outbox_id = tg_server.tickets.reply(ticket.id, "Cán bộ Lan", ANSWER)

    started = time.monotonic()
    assert await tg_server.courier.deliver_now(outbox_id) == "queued"  # the official is not kept waiting 5 s
    assert time.monotonic() - started < 4.0
    assert [c.status for c in tg_sends(tg)] == [429]  # one try: the wait is the courier's, not PTB's
    assert "RetryAfter" in reply_of(tg_server, ticket.id).error

    tg_server.clock.advance(4.0)  # before Telegram's retry_after: not tried again
    await tg_server.courier.round()
    assert [c.status for c in tg_sends(tg)] == [429]

    tg_server.clock.advance(1.0)
    await tg_server.courier.round()
    assert tg_server.tickets.delivery(outbox_id) == "sent"
    assert [c.status for c in tg_sends(tg)] == [429, 200]
    assert len(tg.bot_messages(TG_USER)) == 1 and ANSWER in tg.bot_messages(TG_USER)[0]["text"]


async def test_telegram_500_every_time_is_failed_after_max_attempts(tg_server, tg):
    ticket = open_ticket(tg_server.tickets, SALT, "telegram", str(TG_USER))
    tg.fail_next("sendMessage", 500, times=MAX_ATTEMPTS)
    _message, outbox_id = tg_server.tickets.reply(ticket.id, "Cán bộ Lan", ANSWER)

    assert await tg_server.courier.deliver_now(outbox_id) == "queued"
    assert await retry_until_settled(tg_server, outbox_id) == "failed"

    assert [c.status for c in tg_sends(tg)] == [500] * MAX_ATTEMPTS  # each try is one call, no inner retries
    assert tg.bot_messages(TG_USER) == []
    reply = reply_of(tg_server, ticket.id)
    assert reply.delivery == "failed" and "Internal Server Error" in reply.error and TG_TOKEN not in reply.error


async def test_telegram_a_citizen_who_blocked_the_bot_is_failed_at_once(tg_server, tg):
    ticket = open_ticket(tg_server.tickets, SALT, "telegram", str(TG_USER))
    tg.block(TG_USER)
    _message, outbox_id = tg_server.tickets.reply(ticket.id, "Cán bộ Lan", ANSWER)

    assert await tg_server.courier.deliver_now(outbox_id) == "failed"
    assert len(tg_sends(tg)) == 1  # a refusal that will not change is not tried again
    assert "blocked" in reply_of(tg_server, ticket.id).error


async def test_telegram_unknown_chat_is_failed_at_once(tg_server, tg):
    ticket = open_ticket(tg_server.tickets, SALT, "telegram", "2002")  # a chat the bot cannot write to
    _message, outbox_id = tg_server.tickets.reply(ticket.id, "Cán bộ Lan", ANSWER)

    assert await tg_server.courier.deliver_now(outbox_id) == "failed"
    assert "chat not found" in reply_of(tg_server, ticket.id).error.lower()


async def test_officials_group_gets_the_notice_of_a_new_ticket(tg_server, tg, kb):
    tg.group_chat(GROUP)
    ticket = open_ticket(tg_server.tickets, SALT, "telegram", str(TG_USER))
    text = kb.message("handover_notice", "vi", code=ticket.code, ward=kb.ward_name("phuc-yen", "vi"), question=ticket.question)
    outbox_id = tg_server.tickets.notice("telegram", str(GROUP), text, ticket.id)

    assert await tg_server.courier.deliver_now(outbox_id) == "sent"
    [notice] = tg.bot_messages(GROUP)
    assert ticket.code in notice["text"] and ticket.question in notice["text"]
    assert tg.bot_messages(TG_USER) == []  # nothing went to the citizen


async def test_telegram_queued_replies_go_out_when_the_channel_starts(tg, tmp_path, db_target, kb, matcher):
    """Replies written while the bot was down (or Telegram unreachable) wait in the outbox and leave once
    the channel is connected: the courier learns the channel can send when it starts."""
    settings = handover_settings(tmp_path, db_target, telegram_token=TG_TOKEN, telegram_api_base=tg.api_base,
                                 telegram_webhook_url="https://digiguide.example/telegram/webhook")
    clock = Clock()
    tickets = TicketStore(settings.database, SALT, clock=clock)  # the dashboard's process, while the bot is down
    ticket = open_ticket(tickets, SALT, "telegram", str(TG_USER))
    _message, outbox_id = tickets.reply(ticket.id, "Cán bộ Lan", ANSWER)
    tickets.close_db()

    async with serve_handover(settings, kb, matcher, tmp_path, telegram.TELEGRAM, clock) as handover:
        await until(lambda: handover.tickets.delivery(outbox_id) == "sent")
    assert ANSWER in tg.bot_messages(TG_USER)[0]["text"]


# -- Zalo ---------------------------------------------------------------------------------------------------------------
@pytest.fixture
async def zl() -> AsyncIterator[FakeZalo]:
    server = await FakeZalo(ZALO_TOKEN).start()
    server.know_chat(ZALO_USER)
    yield server
    await server.close()


@pytest.fixture
async def zalo_server(zl, tmp_path, db_target, kb, matcher) -> AsyncIterator[Handover]:
    settings = handover_settings(tmp_path, db_target, zalo_token=ZALO_TOKEN, zalo_api_base=zl.api_base, zalo_webhook_url="https://digiguide.example/zalo/webhook")
    async with serve_handover(settings, kb, matcher, tmp_path, zalo.ZALO) as handover:
        await until(lambda: "zalo" in handover.courier.senders)
        yield handover


def zalo_sends(zl: FakeZalo, chat_id: str = ZALO_USER) -> list[Any]:
    return [c for c in zl.calls_to("sendMessage") if c.params["chat_id"] == chat_id]


async def test_zalo_reply_arrives_with_numbered_options(zalo_server, zl, kb):
    ticket = open_ticket(zalo_server.tickets, SALT, "zalo", ZALO_USER)
    _message, outbox_id = zalo_server.tickets.reply(ticket.id, "Cán bộ Lan", ANSWER)

    assert await zalo_server.courier.deliver_now(outbox_id) == "sent"
    [sent] = [m["text"] for m in zl.sent if m["chat_id"] == ZALO_USER]
    assert ANSWER in sent and ticket.code in sent
    assert f"1. {kb.button('add_info', 'vi')}" in sent and f"2. {kb.button('menu', 'vi')}" in sent  # Zalo has no buttons


async def test_zalo_a_number_typed_after_an_officials_reply_picks_among_its_options(zalo_server, zl, kb):
    ticket = open_ticket(zalo_server.tickets, SALT, "zalo", ZALO_USER)
    _message, outbox_id = zalo_server.tickets.reply(ticket.id, "Cán bộ Lan", ANSWER)
    assert await zalo_server.courier.deliver_now(outbox_id) == "sent"
    picked = await zalo_server.ctx.service.handle(Incoming("zalo", ZALO_USER, text="1"))  # "1. Bổ sung"
    assert picked.event.kind == "handover_current"
    assert picked.replies[0].text == kb.message("handover_add_prompt", "vi", code=ticket.code)


async def test_zalo_429_then_sent_after_the_retry(zalo_server, zl):
    ticket = open_ticket(zalo_server.tickets, SALT, "zalo", ZALO_USER)
    zl.fail_next("sendMessage", 429, retry_after=3)
    _message, outbox_id = zalo_server.tickets.reply(ticket.id, "Cán bộ Lan", ANSWER)

    assert await zalo_server.courier.deliver_now(outbox_id) == "queued"
    zalo_server.clock.advance(2.0)
    await zalo_server.courier.round()
    assert [c.status for c in zalo_sends(zl)] == [429]  # Zalo's Retry-After is honoured

    zalo_server.clock.advance(1.0)
    await zalo_server.courier.round()
    assert zalo_server.tickets.delivery(outbox_id) == "sent"
    assert [c.status for c in zalo_sends(zl)] == [429, 200]


async def test_zalo_500_every_time_is_failed_after_max_attempts(zalo_server, zl):
    ticket = open_ticket(zalo_server.tickets, SALT, "zalo", ZALO_USER)
    zl.fail_next("sendMessage", 500, times=MAX_ATTEMPTS)
    _message, outbox_id = zalo_server.tickets.reply(ticket.id, "Cán bộ Lan", ANSWER)

    assert await zalo_server.courier.deliver_now(outbox_id) == "queued"
    assert await retry_until_settled(zalo_server, outbox_id) == "failed"
    assert [c.status for c in zalo_sends(zl)] == [500] * MAX_ATTEMPTS
    assert zl.sent == []
    assert "error_code=500" in reply_of(zalo_server, ticket.id).error


async def test_zalo_a_chat_zalo_refuses_is_failed_at_once(zalo_server, zl):
    ticket = open_ticket(zalo_server.tickets, SALT, "zalo", "0000feedfacecafe0000")  # not a chat of this bot
    _message, outbox_id = zalo_server.tickets.reply(ticket.id, "Cán bộ Lan", ANSWER)

    assert await zalo_server.courier.deliver_now(outbox_id) == "failed"
    assert len(zl.calls_to("sendMessage")) == 1
    assert "error_code=400" in reply_of(zalo_server, ticket.id).error


async def test_zalo_long_reply_failing_half_way_sends_only_the_rest_on_retry(zalo_server, zl):
    ticket = open_ticket(zalo_server.tickets, SALT, "zalo", ZALO_USER)
    paragraphs = [f"Đoạn {n}: " + "thủ tục cần chuẩn bị giấy tờ tùy thân và đơn đề nghị. " * 12 for n in range(1, 7)]
    long_answer = "\n\n".join(paragraphs)  # about 3,900 characters: three Zalo messages
    zl.fail_next("sendMessage", 502, after=1)  # the first message goes, the second meets a bad gateway
    _message, outbox_id = zalo_server.tickets.reply(ticket.id, "Cán bộ Lan", long_answer)

    assert await zalo_server.courier.deliver_now(outbox_id) == "queued"
    assert await retry_until_settled(zalo_server, outbox_id) == "sent"

    texts = [m["text"] for m in zl.sent if m["chat_id"] == ZALO_USER]
    assert len(texts) == 3 and all(len(t) <= zalo.MAX_TEXT for t in texts)
    for paragraph in paragraphs:  # every paragraph arrived exactly once, in order
        assert sum(paragraph.strip() in t for t in texts) == 1
    assert "".join(texts).index("Đoạn 1") < "".join(texts).index("Đoạn 6")


# -- the web chat: GET /api/chat/pending ------------------------------------------------------------------------------
@pytest.fixture
async def web_client(tmp_path, db_target, kb, matcher) -> AsyncIterator[tuple[TestClient, Any]]:
    app, tickets = handover_app(tmp_path, kb, matcher, handover_settings(tmp_path, db_target))
    async with TestClient(TestServer(app)) as client:
        yield client, tickets
    tickets.close_db()


async def pending(client: TestClient, session: str) -> tuple[int, dict[str, Any]]:
    response = await client.get("/api/chat/pending", params={"session": session})
    return response.status, await response.json()


async def test_web_pending_hands_the_reply_over_once(web_client, kb):
    client, tickets = web_client
    session = new_session()
    ticket = open_ticket(tickets, SALT, "web", session)
    _message, outbox_id = tickets.reply(ticket.id, "Cán bộ Lan", ANSWER, entry_id=next(iter(kb.faqs)))

    status, body = await pending(client, session)
    assert status == 200
    [reply] = body["replies"]
    assert ANSWER in reply["text"] and ticket.code in reply["text"]
    assert set(reply) == {"text", "buttons", "rows"}  # the same shape as POST /api/chat's replies
    assert {"h:add", "m"} <= {b["action"] for b in reply["buttons"]}
    assert tickets.delivery(outbox_id) == "sent"  # the official sees it was shown

    assert await pending(client, session) == (200, {"replies": []})  # once
    assert await pending(client, new_session()) == (200, {"replies": []})  # nobody else's


async def test_web_pending_refuses_a_bad_session_like_the_chat(web_client):
    client, _tickets = web_client
    for bad in ("", "short", "x" * 65, "abc def ghi", "a" * 10 + "\n"):
        status, body = await pending(client, bad)
        assert status == 400 and "session" in body["error"]
    response = await client.get("/api/chat/pending")
    assert response.status == 400 and "session" in (await response.json())["error"]


async def test_web_pending_is_rate_limited_per_session(web_client):
    client, _tickets = web_client
    session = new_session()
    statuses = [(await client.get("/api/chat/pending", params={"session": session})).status for _ in range(web.POLL_RATE + 1)]
    assert statuses == [200] * web.POLL_RATE + [429]
    response = await client.get("/api/chat/pending", params={"session": session})
    assert response.status == 429 and int(response.headers["Retry-After"]) >= 1
    assert (await pending(client, new_session()))[0] == 200  # another citizen is not held up


async def test_web_pending_with_handover_off_is_empty(tmp_path, kb, matcher):
    async with TestClient(TestServer(make_app(tmp_path, kb, matcher))) as client:
        assert await pending(client, new_session()) == (200, {"replies": []})


# -- several servers on one database: each message goes out once ----------------------------------------------------
def test_two_couriers_never_take_the_same_message_and_a_dead_ones_are_sent_later(db_target):
    clock = Clock()
    one, two = TicketStore(db_target, SALT, clock=clock), TicketStore(db_target, SALT, clock=clock)  # two servers
    try:
        ticket = open_ticket(one, SALT, "telegram", str(TG_USER))
        queued = [one.reply(ticket.id, "Cán bộ Lan", f"{ANSWER} ({n})")[1] for n in range(6)]
        first = one.claim(["telegram"], limit=4)
        second = two.claim(["telegram"])
        assert [i.id for i in first] == queued[:4] and [i.id for i in second] == queued[4:]  # oldest first, none twice
        assert two.claim(["telegram"]) == [] and one.claim(["telegram"]) == []  # claimed: due for nobody else
        assert all(i.address == str(TG_USER) and i.attempts == 0 for i in first + second)
        for item in first:
            one.delivered(item.id)
        # the second server died before sending its two: after the claim's time they are due again
        clock.advance(CLAIM_SECONDS - 1)
        assert one.claim(["telegram"]) == []
        clock.advance(1)
        assert [i.id for i in one.claim(["telegram"])] == queued[4:]
        assert [one.delivery(i) for i in queued] == ["sent"] * 4 + ["queued"] * 2

        # many at once, from both servers in threads: every message to exactly one of them
        more = [one.reply(ticket.id, "Cán bộ Lan", f"{ANSWER} [{n}]")[1] for n in range(40)]
        for _ in range(3):
            with ThreadPoolExecutor(2) as pool:
                taken = [f.result() for f in [pool.submit(store.claim, ["telegram"], 25) for store in (one, two)]]
            ids = [i.id for batch in taken for i in batch]
            assert len(ids) == len(set(ids))
            clock.advance(CLAIM_SECONDS)
        assert set(ids) == set(more) | set(queued[4:])
    finally:
        one.close_db()
        two.close_db()


def test_two_polls_of_one_web_chat_at_once_show_each_reply_once(db_target):
    clock = Clock()
    stores = [TicketStore(db_target, SALT, clock=clock) for _ in range(3)]  # the officials' desk and two servers
    desk, polls = stores[0], stores[1:]
    try:
        session = new_session()
        ticket = open_ticket(desk, SALT, "web", session)
        queued = [desk.reply(ticket.id, "Cán bộ Lan", f"{ANSWER} ({n})")[1] for n in range(3)]
        with ThreadPoolExecutor(2) as pool:
            with held(db_target, "update outbox set attempts = attempts where ticket_id = ?", [ticket.id]):  # a third poll, mid-write
                futures = [pool.submit(store.pending, desk.get(ticket.id).user) for store in polls]
                time.sleep(0.3)
                assert not any(f.done() for f in futures)
            shown = [f.result(timeout=10) for f in futures]
        assert sorted(len(s) for s in shown) == [0, 3]  # one poll shows all three, the other none
        assert [i.id for s in shown for i in s] == queued and all(i.address == session and i.attempts == 0 for s in shown for i in s)
        assert [desk.delivery(i) for i in queued] == ["sent"] * 3
        assert polls[0].pending(desk.get(ticket.id).user) == []
    finally:
        for store in stores:
            store.close_db()
