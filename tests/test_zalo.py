"""The Zalo channel end to end: our whole aiohttp server (build_app) talking HTTP to a loopback fake of the
Zalo Bot Platform API (tests/fake_zalo.py), in webhook and polling mode."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot import present
from bot.channels import zalo
from bot.channels.base import Backoff, RateLimiter
from bot.config import Settings
from bot.replies import Button, Reply, numbered_text
from bot.server import CTX
from tests.fake_zalo import FakeZalo
from webutil import Server, app_settings, make_app
from webutil import serve as serve_app

TOKEN = "zt-123"
WEBHOOK_URL = "https://digiguide.example/zalo/webhook"
USER = "6ede9afa66b88fe6d6a9"

serve = partial(serve_app, key=zalo.ZALO)  # our whole server on 127.0.0.1; server.channel is Zalo's


def settings_for(tmp_path: Path, fake: FakeZalo, **overrides: Any) -> Settings:
    return app_settings(tmp_path, **{"zalo_token": TOKEN, "zalo_api_base": fake.api_base, **overrides})


@pytest.fixture
async def fake() -> AsyncIterator[FakeZalo]:
    server = await FakeZalo(TOKEN).start()
    server.hold_limit = 0.5  # an empty long poll answers 408 after 0.5 s instead of 30 s
    yield server
    await server.close()


@pytest.fixture
async def webhook(fake, tmp_path, kb, matcher) -> AsyncIterator[Server]:
    async with serve(settings_for(tmp_path, fake, zalo_webhook_url=WEBHOOK_URL), kb, matcher, tmp_path) as server:
        yield server


@pytest.fixture
async def polling(fake, tmp_path, kb, matcher) -> AsyncIterator[Server]:
    async with serve(settings_for(tmp_path, fake), kb, matcher, tmp_path) as server:
        yield server


def shown(kb, reply: Reply, lang: str = "vi") -> str:
    """A reply as a Zalo citizen sees it: the text, then the options as a numbered list."""
    return numbered_text(reply, kb.message("numbered_hint", lang))


async def say(fake: FakeZalo, server: Server[zalo.ZaloChannel], text: str, count: int = 1, user_id: str = USER) -> list[str]:
    """The citizen types `text`; wait for the bot's `count` messages and return their texts."""
    mark = fake.mark()
    assert await fake.deliver(server.url, fake.text_update(text, user_id=user_id)) == 200
    return await fake.texts(count, since=mark)


def option(reply: Reply, action: str) -> str:
    """The number a citizen types to choose the option with `action`."""
    return str([b.action for b in reply.flat_buttons].index(action) + 1)


# -- webhook mode: conversations ------------------------------------------------------------------------------
async def test_webhook_is_registered_with_a_generated_secret_kept_next_to_the_db(webhook, fake, tmp_path):
    secret = (tmp_path / zalo.SECRET_FILE).read_text().strip()
    assert fake.webhook["url"] == WEBHOOK_URL
    assert fake.webhook["secret_token"] == secret and 8 <= len(secret) <= 256
    assert fake.requests("getMe") and not fake.calls_to("getUpdates") and not fake.calls_to("deleteWebhook")
    async with aiohttp.ClientSession() as session, session.get(f"{webhook.url}/healthz") as response:
        assert (await response.json())["channels"]["zalo"] == "webhook"


async def test_text_question_is_answered_with_numbered_options_after_a_typing_action(webhook, fake, kb):
    fake.slow("sendChatAction", 0.2)  # a slow typing action must still not arrive after the answer
    mark = fake.mark()
    [answer] = await say(fake, webhook, "quen mat khau vneid")
    faq = kb.faqs["eid-forgot-password"]
    assert answer == shown(kb, present.faq_answer(kb, faq, "vi"))
    assert f"{kb.message('numbered_hint', 'vi')}\n1. {kb.button('start_guide', 'vi')}" in answer
    typing, sent = fake.calls_to("sendChatAction", since=mark), fake.calls_to("sendMessage", since=mark)
    assert [c.params for c in typing] == [{"chat_id": USER, "action": "typing"}]
    assert typing[0].at <= sent[0].at, "typing comes before the answer"


async def test_guide_walked_by_typed_numbers(webhook, fake, kb):
    guide = kb.guides["eid-activate"]
    page = lambda step: present.guide_page(kb, guide, step, "vi")  # noqa: E731
    welcome, overview = await say(fake, webhook, "/start g-eid-activate", count=2)
    assert welcome == kb.message("welcome_link", "vi")
    assert overview == shown(kb, page(0))
    assert await say(fake, webhook, option(page(0), "g:eid-activate:1")) == [shown(kb, page(1))]  # "1": start
    assert await say(fake, webhook, option(page(1), "g:eid-activate:2")) == [shown(kb, page(2))]  # Next
    assert await say(fake, webhook, option(page(2), "g:eid-activate:1")) == [shown(kb, page(1))]  # Back
    assert shown(kb, page(1)).startswith(f"Bước 1/{len(guide.steps)}")


async def test_both_documented_body_shapes_are_answered(webhook, fake, kb):
    mark = fake.mark()
    assert await fake.deliver(webhook.url, fake.wrap(fake.text_update("/help"))) == 200  # {"ok": true, "result": {...}}
    assert await fake.deliver(webhook.url, fake.text_update("/menu")) == 200  # bare, as Zalo sends in practice
    help_text, menu_text = await fake.texts(2, since=mark)
    assert help_text == shown(kb, present.menu(kb, "vi", kb.message("help", "vi")))
    assert menu_text == shown(kb, present.menu(kb, "vi"))


async def test_forged_and_missing_secret_are_refused_without_processing(webhook, fake, kb):
    mark = fake.mark()
    assert await fake.deliver(webhook.url, fake.text_update("quen mat khau vneid"), secret="forged-secret") == 403
    assert await fake.deliver(webhook.url, fake.text_update("quen mat khau vneid"), secret=None) == 403
    assert await fake.deliver(webhook.url, b"{not json", secret="forged-secret") == 403  # checked before the body is read
    await asyncio.sleep(0.2)
    assert not fake.calls_to("sendMessage", since=mark) and not fake.calls_to("sendChatAction", since=mark)
    assert await fake.deliver(webhook.url, b"{not json") == 400
    assert await fake.deliver(webhook.url, {"ok": True, "result": {"no": "event"}}) == 400


async def test_duplicate_delivery_is_answered_once_and_bot_senders_are_ignored(webhook, fake, kb):
    mark = fake.mark()
    update = fake.text_update("/help")
    assert await fake.deliver(webhook.url, update) == 200
    assert await fake.deliver(webhook.url, fake.wrap(update)) == 200  # the same message again, other shape
    assert await fake.deliver(webhook.url, fake.text_update("/help", is_bot=True)) == 200
    # One chat's updates are handled in arrival order: when the /menu answer is out, the rest were handled.
    assert await fake.deliver(webhook.url, fake.text_update("/menu")) == 200
    texts = await fake.texts(2, since=mark)
    await asyncio.sleep(0.1)
    assert [c.params["text"] for c in fake.calls_to("sendMessage", since=mark)] == texts
    assert texts == [shown(kb, present.menu(kb, "vi", kb.message("help", "vi"))), shown(kb, present.menu(kb, "vi"))]


async def test_unsupported_event_gets_the_hotline_and_one_stop_shop(webhook, fake, kb):
    mark = fake.mark()
    assert await fake.deliver(webhook.url, fake.unsupported_update()) == 200
    [text] = await fake.texts(1, since=mark)
    assert text == kb.message("unsupported", "vi")
    assert "1800 1096" in text and "Trung tâm Phục vụ hành chính công" in text


async def test_image_and_sticker_get_the_text_only_reply_in_the_users_language(webhook, fake, kb):
    mark = fake.mark()
    assert await fake.deliver(webhook.url, fake.image_update(caption="cái này là gì")) == 200
    assert await fake.deliver(webhook.url, fake.sticker_update()) == 200
    assert await fake.texts(2, since=mark) == [kb.message("non_text", "vi")] * 2
    await say(fake, webhook, "/lang en")
    mark = fake.mark()
    assert await fake.deliver(webhook.url, fake.sticker_update()) == 200
    assert await fake.texts(1, since=mark) == [kb.message("non_text", "en")]


async def test_flood_is_told_once_then_ignored_while_option_numbers_still_work(webhook, fake, kb):
    webhook.channel.flood.budget.typed = RateLimiter(rate=2, per=3600)
    menu = present.menu(kb, "vi")
    mark = fake.mark()
    for _ in range(4):
        assert await fake.deliver(webhook.url, fake.text_update("/menu")) == 200
    # A typed option number counts as a tap, not as typing; one chat's updates run in order, so when its
    # answer is out the quiet fourth message was handled.
    assert await fake.deliver(webhook.url, fake.text_update(option(menu, "h"))) == 200
    texts = await fake.texts(4, since=mark)
    assert texts == [shown(kb, menu)] * 2 + [kb.message("rate_limited", "vi"), shown(kb, present.hotlines(kb, "vi"))]
    assert len(fake.calls_to("sendMessage", since=mark)) == 4


async def test_typing_option_numbers_briskly_through_a_guide_is_never_throttled(webhook, fake, kb):
    """A few typed messages, then 20 option numbers back and forth through a guide at full speed: each one
    turns the page (with one budget for all, the 21st message was refused)."""
    guide = kb.guides["eid-activate"]
    total = len(guide.steps)
    page = lambda step: present.guide_page(kb, guide, step, "vi")  # noqa: E731
    for command in ("/help", "/menu", "/help", "/menu"):
        await say(fake, webhook, command)
    await say(fake, webhook, "/start g-eid-activate", count=2)
    current = 0
    for step in ([*range(1, total + 1), *range(total - 1, 1, -1)] * 20)[:20]:
        assert await say(fake, webhook, option(page(current), f"g:eid-activate:{step}")) == [shown(kb, page(step))]
        current = step


async def test_one_chats_messages_never_interleave_while_other_chats_go_on(webhook, fake, kb):
    fake.slow("sendMessage", 0.2)
    other = "0f0e0d0c0b0a09080706"
    mark = fake.mark()
    assert await fake.deliver(webhook.url, fake.text_update("/start g-eid-activate")) == 200  # two messages
    assert await fake.deliver(webhook.url, fake.text_update("/help")) == 200
    assert await fake.deliver(webhook.url, fake.text_update("/menu", user_id=other)) == 200
    await fake.texts(4, since=mark)
    sent = [(c.params["chat_id"], c.params["text"]) for c in fake.calls_to("sendMessage", since=mark)]
    mine = [text for chat, text in sent if chat == USER]
    assert mine[0] == kb.message("welcome_link", "vi") and mine[1].startswith("📘")
    assert mine[2] == shown(kb, present.menu(kb, "vi", kb.message("help", "vi")))
    assert [chat for chat, _ in sent].index(other) < 2, "another chat is not held up by this one"


async def test_updates_accepted_before_shutdown_are_all_answered(fake, tmp_path, kb, matcher):
    fake.slow("sendMessage", 0.2)  # so updates are still in flight when shutdown begins
    async with serve(settings_for(tmp_path, fake, zalo_webhook_url=WEBHOOK_URL), kb, matcher, tmp_path) as server:
        mark = fake.mark()
        for text in ("/help", "/menu"):
            assert await fake.deliver(server.url, fake.text_update(text)) == 200
    texts = [p["text"] for p in fake.requests("sendMessage", since=mark)]
    assert texts == [shown(kb, present.menu(kb, "vi", kb.message("help", "vi"))), shown(kb, present.menu(kb, "vi"))]


# -- delivery: splitting, backoff, errors ---------------------------------------------------------------------
async def test_long_reply_is_split_at_a_paragraph_boundary(webhook, fake, kb):
    chat = fake.know_chat("a1b2c3d4e5f6a7b8c9d0")
    paragraphs = [(f"Đoạn {i}: " + "hướng dẫn từng bước " * 50)[:860].rstrip() + "." for i in range(3)]
    text = "\n\n".join(paragraphs)
    assert len(text) >= 2580
    reply = Reply(text, ((Button("☰ Menu", "m"), Button("📞 Số tổng đài", "h")),))
    mark = fake.mark()
    await webhook.channel.send_replies(chat, [reply], "vi")
    first, second = [p["text"] for p in fake.requests("sendMessage", since=mark)]
    assert all(len(p) <= 2000 and zalo.utf16_len(p) <= 2000 for p in (first, second))
    assert first == "\n\n".join(paragraphs[:2])  # cut between paragraphs
    assert first + "\n\n" + second == shown(kb, reply)  # options rendered first, on the last part
    assert second.endswith("1. ☰ Menu\n2. 📞 Số tổng đài")


def test_chunks_count_utf16_units_so_emoji_never_push_a_message_over():
    text = "📘" * 1500  # 1500 code points, 3000 UTF-16 units
    parts = zalo.chunks(text)
    assert all(zalo.utf16_len(p) <= 2000 for p in parts) and "".join(parts) == text
    assert zalo.chunks("Nhe\u0300") == ["Nhè"]  # NFC: decomposed Vietnamese is composed before sending


async def test_429_is_backed_off_and_delivered_once_with_a_clear_log_line(webhook, fake, kb, caplog):
    caplog.set_level(logging.INFO, logger="digiguide")
    fake.fail_next("sendMessage", 429)  # no retry hint: exponential backoff
    mark = fake.mark()
    [text] = await say(fake, webhook, "/help")
    assert text == shown(kb, present.menu(kb, "vi", kb.message("help", "vi")))
    failed, delivered = fake.calls_to("sendMessage", since=mark)
    assert (failed.status, delivered.status) == (429, 200)
    assert delivered.at - failed.at >= zalo.SEND_BACKOFF.base
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("digiguide")]
    assert "zalo sendMessage rejected: error_code=429 description=Quota exceeded" in ours
    assert not any(TOKEN in m or fake.api_base in m for m in ours)


async def test_retry_after_is_honoured_even_in_an_http_200_error_body(webhook, fake, kb):
    fake.fail_next("sendMessage", 429, http_status=200, retry_after=1)  # {"ok": false, "error_code": 429} + Retry-After
    mark = fake.mark()
    await say(fake, webhook, "/menu")
    failed, delivered = fake.calls_to("sendMessage", since=mark)
    assert delivered.at - failed.at >= 1.0


async def test_5xx_is_retried_and_a_final_rejection_is_logged_without_the_token(webhook, fake, kb, caplog):
    caplog.set_level(logging.INFO, logger="digiguide")
    webhook.channel.send_backoff = Backoff(attempts=2, base=0.05)
    fake.fail_next("sendMessage", 502)
    mark = fake.mark()
    await say(fake, webhook, "/menu")
    assert [c.status for c in fake.calls_to("sendMessage", since=mark)] == [502, 200]
    fake.fail_next("sendMessage", 400, "Bad Request: text is invalid")  # final: not retried
    mark = fake.mark()
    assert await fake.deliver(webhook.url, fake.text_update("/help")) == 200
    await fake.wait_for("sendMessage", 1, since=mark, status=400)
    await asyncio.sleep(0.1)
    assert [c.status for c in fake.calls_to("sendMessage", since=mark)] == [400]
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("digiguide")]
    assert any("sendMessage" in m and "error_code=400" in m and "Bad Request: text is invalid" in m for m in ours)
    assert not any(TOKEN in m for m in ours)


# -- polling mode ------------------------------------------------------------------------------------------------------
async def test_polling_treats_408_as_empty_then_answers_an_update(polling, fake, kb):
    assert fake.requests("deleteWebhook") and not fake.calls_to("setWebhook")
    empty = await fake.wait_for("getUpdates", 1, status=408)
    assert empty[0].params == {"timeout": "30"}
    mark = fake.mark()
    fake.queue(fake.text_update("quen mat khau vneid"), fake.wrap(fake.text_update("/menu")))
    answer, menu = await fake.texts(2, since=mark)
    assert answer == shown(kb, present.faq_answer(kb, kb.faqs["eid-forgot-password"], "vi"))
    assert menu == shown(kb, present.menu(kb, "vi"))
    assert fake.requests("sendChatAction", since=mark)
    async with aiohttp.ClientSession() as session, session.get(f"{polling.url}/healthz") as response:
        assert (await response.json())["channels"]["zalo"] == "polling"


# -- configuration -------------------------------------------------------------------------------------------------------
def status_of(settings: Settings, kb, matcher, tmp_path: Path) -> tuple[web.Application, zalo.ChannelStatus]:
    app = make_app(tmp_path, kb, matcher, settings)
    return app, status_of_app(app)


def test_no_token_means_off_with_a_hint(tmp_path, kb, matcher):
    app, status = status_of(app_settings(tmp_path), kb, matcher, tmp_path)
    assert status == zalo.ChannelStatus("zalo", False, "off", "set ZALO_BOT_TOKEN (polling) and ZALO_WEBHOOK_URL (webhook) to enable")
    assert zalo.ZALO not in app


def test_plain_http_url_and_bad_secret_are_refused_with_a_hint(tmp_path, kb, matcher):
    settings = partial(app_settings, tmp_path, zalo_token=TOKEN)
    _, status = status_of(settings(zalo_webhook_url="http://digiguide.example/zalo/webhook"), kb, matcher, tmp_path)
    assert status.mode == "off" and "https://" in status.hint
    _, status = status_of(settings(zalo_webhook_url=WEBHOOK_URL, zalo_webhook_secret="short"), kb, matcher, tmp_path)
    assert status.mode == "off" and "8 to 256" in status.hint
    _, status = status_of(settings(zalo_webhook_url=WEBHOOK_URL, zalo_webhook_secret="s" * 40), kb, matcher, tmp_path)
    assert status.mode == "webhook" and not (tmp_path / zalo.SECRET_FILE).exists()


async def test_rejected_token_keeps_the_server_up_and_out_of_the_logs(fake, tmp_path, kb, matcher, caplog):
    caplog.set_level(logging.INFO, logger="digiguide")
    async with serve(settings_for(tmp_path, fake, zalo_token="999:WRONG-TOKEN"), kb, matcher, tmp_path) as server:
        async with aiohttp.ClientSession() as session, session.get(f"{server.url}/healthz") as response:
            assert response.status == 200 and "zalo" not in (await response.json())["channels"]
        assert status_of_app(server.app).mode == "error"
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("digiguide")]
    assert any("could not start" in m and "getMe" in m and "error_code=401" in m for m in ours)
    assert not any("WRONG-TOKEN" in m for m in ours)


def status_of_app(app: web.Application) -> zalo.ChannelStatus:
    return next(c for c in app[CTX].channels if c.name == "zalo")


# -- the fake itself answers as zalo.md documents ---------------------------------------------------------------------
async def test_fake_bot_api_is_faithful_where_the_bot_relies_on_it(fake):
    async def call(session: aiohttp.ClientSession, method: str, token: str = TOKEN, **params: Any) -> tuple[int, dict]:
        async with session.post(f"{fake.api_base}/bot{token}/{method}", json=params) as response:
            return response.status, await response.json()

    async with aiohttp.ClientSession() as session:
        assert (await call(session, "getMe", token="999:NOPE"))[1] == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        assert (await call(session, "sendmessage"))[1]["error_code"] == 400, "method names are case-sensitive"
        status, me = await call(session, "getMe")
        assert status == 200 and me["result"]["account_type"] == "BASIC" and isinstance(me["result"]["id"], str)
        assert (await call(session, "getUpdates", timeout="0"))[1] == {"ok": False, "error_code": 408, "description": "Request timeout"}
        update = fake.text_update("xin chao")
        fake.queue(update, fake.sticker_update())
        status, got = await call(session, "getUpdates", timeout="1")
        assert got == {"ok": True, "result": update}, "one update per call, not an array"
        assert (await call(session, "getUpdates", timeout=1))[0] == 400, "timeout is a String"
        status, sent = await call(session, "sendMessage", chat_id=USER, text="Xin chào")
        assert set(sent["result"]) == {"message_id", "date"} and sent["result"]["date"] > 10**12  # epoch ms
        assert (await call(session, "sendMessage", chat_id=USER, text="x" * 2001))[0] == 400
        assert (await call(session, "sendMessage", chat_id=USER, text=""))[0] == 400
        assert await call(session, "sendChatAction", chat_id=USER, action="typing") == (200, {"ok": True})
        assert (await call(session, "setWebhook", url="http://x.example/h", secret_token="12345678"))[0] == 400
        assert (await call(session, "setWebhook", url="https://x.example/h", secret_token="1234567"))[0] == 400
        status, hook = await call(session, "setWebhook", url="https://x.example/h", secret_token="12345678")
        assert hook["result"]["url"] == "https://x.example/h" and isinstance(hook["result"]["updated_at"], int)
        assert (await call(session, "getWebhookInfo"))[1]["result"]["url"] == "https://x.example/h"
        assert (await call(session, "getUpdates", timeout="0"))[0] == 400, "getUpdates and a webhook are exclusive"
        assert (await call(session, "deleteWebhook"))[1]["result"]["url"] == ""
        fake.fail_next("sendMessage", 429)
        assert await call(session, "sendMessage", chat_id=USER, text="x") == (429, {"ok": False, "error_code": 429, "description": "Quota exceeded"})
