"""The Telegram channel end to end: the real python-telegram-bot Application inside our aiohttp server,
talking HTTP to a loopback fake of the Bot API (tests/fake_telegram.py), in polling and webhook mode."""

from __future__ import annotations

import asyncio
import html
import json
import logging
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot import present
from bot.channels import telegram
from bot.channels.base import TAP_RATE, Budget, FloodGuard, RateLimiter
from bot.config import Settings
from bot.replies import Button, Reply
from bot.server import CTX
from tests.fake_telegram import FakeTelegram
from webutil import Server, app_settings, make_app
from webutil import serve as serve_app

TOKEN = "123:ABC"
WEBHOOK_URL = "https://digiguide.example/telegram/webhook"
USER = 1001

serve = partial(serve_app, key=telegram.TELEGRAM)  # our whole server on 127.0.0.1; server.channel is Telegram's


def esc(text: str) -> str:
    return html.escape(text, quote=False)


def actions(params: dict[str, Any]) -> list[str]:
    return [b["callback_data"] for row in (params.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]


def settings_for(tmp_path: Path, fake: FakeTelegram, **overrides: Any) -> Settings:
    return app_settings(tmp_path, **{"telegram_token": TOKEN, "telegram_api_base": fake.api_base, **overrides})


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = await FakeTelegram(TOKEN).start()
    yield server
    await server.close()


@pytest.fixture
async def polling(fake, tmp_path, kb, matcher) -> AsyncIterator[Server]:
    async with serve(settings_for(tmp_path, fake), kb, matcher, tmp_path) as server:
        yield server


@pytest.fixture
async def webhook(fake, tmp_path, kb, matcher) -> AsyncIterator[Server]:
    async with serve(settings_for(tmp_path, fake, telegram_webhook_url=WEBHOOK_URL), kb, matcher, tmp_path) as server:
        yield server


async def exchange(fake: FakeTelegram, *updates: dict[str, Any], count: int = 1, method: str = "sendMessage") -> list[dict[str, Any]]:
    """Queue updates for getUpdates and wait for the bot's `count` calls to `method`."""
    mark = fake.mark()
    fake.queue(*updates)
    return await fake.wait_for(method, count, since=mark)


async def tap(fake: FakeTelegram, action: str, message_id: int, method: str = "sendMessage", user_id: int = USER) -> list[dict[str, Any]]:
    return await exchange(fake, fake.callback_update(action, message_id, user_id=user_id), method=method)


# -- polling: conversations -------------------------------------------------------------------------------------------
async def test_start_without_payload_shows_welcome_menu_and_sets_commands(polling, fake, kb):
    [sent] = await exchange(fake, fake.text_update("/start"))
    assert sent["parse_mode"] == "HTML"
    assert sent["text"] == esc(kb.message("welcome", "vi"))
    assert actions(sent)[: len(kb.topics) + 1] == ["c", *(f"t:{t}" for t in kb.topics)]  # common tasks, then topics
    assert [c["command"] for c in fake.commands[""]] == ["start", "help", "menu", "lang", "canbo"]
    assert fake.commands["en"][1]["description"] == "How to use DigiGuide"
    assert fake.requests("deleteWebhook"), "polling starts by making sure no webhook is set"


async def test_start_with_payload_opens_that_guide(polling, fake, kb):
    welcome, guide = await exchange(fake, fake.text_update("/start g-eid-activate"), count=2)
    # One line of greeting, no menu: the guide the poster promised is what the citizen sees.
    assert welcome["text"] == esc(kb.message("welcome_link", "vi")) and "reply_markup" not in welcome
    assert guide["text"] == esc(present.guide_page(kb, kb.guides["eid-activate"], 0, "vi").text)
    assert actions(guide) == ["g:eid-activate:1", "m"]


async def test_question_without_diacritics_gets_the_answer(polling, fake, kb):
    [sent] = await exchange(fake, fake.text_update("quen mat khau vneid"))
    assert sent["text"].startswith(esc(kb.faqs["eid-forgot-password"].answer.get("vi"))[:60])
    assert "fb:eid-forgot-password:up" in actions(sent)


async def test_suggestion_tapped_answers_in_a_new_message(polling, fake, kb):
    [suggest] = await exchange(fake, fake.text_update("vneid"))
    assert suggest["text"] == esc(kb.message("suggest", "vi"))
    assert actions(suggest)[0] == "s:1"
    label = suggest["reply_markup"]["inline_keyboard"][0][0]["text"]
    entry = next(e for e in [*kb.faqs.values(), *kb.guides.values()] if present.entry_title(e, "vi") == label)
    mark = fake.mark()
    [answer] = await tap(fake, "s:1", fake.bot_messages(USER)[-1]["message_id"])
    assert {f"fb:{entry.id}:up", f"g:{entry.id}:1"} & set(actions(answer))
    assert len(fake.requests("answerCallbackQuery", since=mark)) == 1
    assert not fake.requests("editMessageText", since=mark)


async def test_guide_walked_forward_and_back_edits_the_message_in_place(polling, fake, kb):
    guide = kb.guides["eid-activate"]
    await exchange(fake, fake.text_update("/start g-eid-activate"), count=2)
    page_id = fake.bot_messages(USER)[-1]["message_id"]
    mark = fake.mark()
    for step in (1, 2, 1):
        [edited] = await tap(fake, f"g:eid-activate:{step}", page_id, method="editMessageText")
        assert int(edited["message_id"]) == page_id
        assert edited["text"] == esc(present.guide_page(kb, guide, step, "vi").text)
        assert edited["text"].startswith(f"Bước {step}/{len(guide.steps)}")
    assert fake.bot_messages(USER)[-1]["text"].startswith(f"Bước 1/{len(guide.steps)}")
    assert not fake.requests("sendMessage", since=mark), "navigation must not pile up new messages"
    assert len(fake.requests("answerCallbackQuery", since=mark)) == 3


async def test_guide_button_on_an_answer_keeps_the_answer_and_sends_the_guide(polling, fake, kb):
    await exchange(fake, fake.text_update("quen mat khau vneid"))
    answer = fake.bot_messages(USER)[-1]
    [overview] = await tap(fake, "g:eid-forgot-password:0", answer["message_id"])
    assert overview["text"] == esc(present.guide_page(kb, kb.guides["eid-forgot-password"], 0, "vi").text)
    assert fake.bot_messages(USER)[-2]["text"] == answer["text"]


async def test_feedback_callback_is_thanked(polling, fake, kb):
    await exchange(fake, fake.text_update("quen mat khau vneid"))
    [thanks] = await tap(fake, "fb:eid-forgot-password:up", fake.bot_messages(USER)[-1]["message_id"])
    assert thanks["text"] == esc(kb.message("feedback_up", "vi"))


async def test_lang_en_then_english_question(polling, fake, kb):
    [switched] = await exchange(fake, fake.text_update("/lang en"))
    assert switched["text"] == esc(kb.message("lang_set", "en"))
    [answer] = await exchange(fake, fake.text_update("how do I pay my electricity bill"))
    assert "fb:bills-electric-bank-app:up" in actions(answer)
    assert answer["text"].startswith(esc(kb.faqs["bills-electric-bank-app"].answer.get("en"))[:40])


async def test_english_client_gets_english_on_first_contact(polling, fake, kb):
    [sent] = await exchange(fake, fake.text_update("/start", user_id=2002, lang="en-GB"))
    assert sent["text"] == esc(kb.message("welcome", "en"))


async def test_photo_gets_the_polite_text_only_reply_in_the_users_language(polling, fake, kb):
    [sent] = await exchange(fake, fake.photo_update())
    assert sent["text"] == esc(kb.message("non_text", "vi"))
    await exchange(fake, fake.text_update("/lang en"))
    [sent] = await exchange(fake, fake.photo_update())
    assert sent["text"] == esc(kb.message("non_text", "en"))


async def test_group_answers_only_when_mentioned_or_replied_to(polling, fake, kb):
    group = fake.group_chat()
    ignored = fake.text_update("quen mat khau vneid", user_id=3003, chat=group)
    mentioned = fake.text_update("@digiguide_test_bot quen mat khau vneid", user_id=3004, chat=group)
    mark = fake.mark()
    [answer] = await exchange(fake, ignored, mentioned)
    assert "fb:eid-forgot-password:up" in actions(answer)
    bot_message = fake.bot_messages(group["id"])[-1]
    command = fake.text_update("/lang@digiguide_test_bot en", user_id=3003, chat=group)
    replying = fake.text_update("menu", user_id=3003, chat=group, reply_to=bot_message)
    switched, menu = await exchange(fake, command, replying, count=2)
    assert switched["text"] == esc(kb.message("lang_set", "en"))
    assert menu["text"] == esc(kb.message("menu", "en"))
    assert len(fake.requests("sendMessage", since=mark)) == 3  # the unaddressed question got nothing


# -- rendering and delivery ---------------------------------------------------------------------------------------------
async def test_long_reply_is_split_at_a_paragraph_boundary(polling, fake):
    fake.private_chat(2002)
    paragraphs = [(f"Đoạn {i} <điện & nước> " + "hướng dẫn từng bước " * 60)[:999] + "." for i in range(6)]
    text = "\n\n".join(paragraphs)  # 6,010 characters; escaping adds 10 per paragraph
    mark = fake.mark()
    await telegram.send_replies(polling.channel.bot, 2002, [Reply(text, ((Button("☰ Menu", "m"),),))])
    first, second = fake.requests("sendMessage", since=mark)
    assert all(len(p["text"]) <= 4096 for p in (first, second))
    assert html.unescape(first["text"]) + "\n\n" + html.unescape(second["text"]) == text  # cut between paragraphs
    assert "reply_markup" not in first and actions(second) == ["m"]


def test_html_chunks_never_cut_an_entity_and_stay_under_the_limit():
    text = "&" * 5000 + " <b> " + "x" * 10
    chunks = telegram.html_chunks(text, limit=4096)
    assert all(len(c) <= 4096 for c in chunks)
    assert all(not c.endswith(("&", "&a", "&am", "&amp")) for c in chunks)
    assert "".join(html.unescape(c) for c in chunks).replace(" ", "") == text.replace(" ", "")


async def test_429_is_retried_after_retry_after_and_delivered_once(polling, fake, kb):
    fake.fail_next("sendMessage", 429, retry_after=1)
    mark = fake.mark()
    [sent] = await exchange(fake, fake.text_update("/help"))
    assert sent["text"] == esc(kb.message("help", "vi"))
    failed, delivered = fake.calls_to("sendMessage", since=mark)
    assert (failed.status, delivered.status) == (429, 200)
    assert delivered.at - failed.at >= 1.0
    assert len(fake.requests("sendMessage", since=mark)) == 1


async def test_500_is_retried_with_backoff_and_delivered_once(polling, fake, kb):
    fake.fail_next("sendMessage", 500)
    mark = fake.mark()
    [sent] = await exchange(fake, fake.text_update("/menu"))
    assert sent["text"] == esc(kb.message("menu", "vi"))
    failed, delivered = fake.calls_to("sendMessage", since=mark)
    assert (failed.status, delivered.status) == (500, 200)
    assert delivered.at - failed.at >= telegram.SEND_BACKOFF.base


async def test_a_failed_answer_tells_the_user_and_logs_without_the_token(polling, fake, kb, caplog):
    caplog.set_level(logging.INFO, logger="digiguide")
    fake.fail_next("sendMessage", 400, "Bad Request: can't parse entities")
    [sent] = await exchange(fake, fake.text_update("/help"))
    assert sent["text"] == esc(kb.message("error", "vi"))
    ours = [r for r in caplog.records if r.name.startswith("digiguide")]
    assert any(r.levelno == logging.ERROR and "BadRequest" in r.getMessage() for r in ours)
    assert not any(TOKEN in r.getMessage() for r in ours)


async def test_typed_flood_is_told_once_then_ignored_while_taps_still_work(polling, fake, kb):
    polling.channel.flood.budget.typed = RateLimiter(rate=3, per=3600)  # a small budget no slow machine can refill
    mark = fake.mark()
    await exchange(fake, *[fake.text_update("/menu") for _ in range(5)], count=4)  # 3 menus, then told once
    menu_id = fake.bot_messages(USER)[-2]["message_id"]
    # One chat's updates run in order: when the tap's menu arrives, the quiet fifth message was handled.
    await tap(fake, "m", menu_id)
    menu, limited = esc(present.menu(kb, "vi").text), esc(kb.message("rate_limited", "vi"))
    assert [p["text"] for p in fake.requests("sendMessage", since=mark)] == [menu] * 3 + [limited, menu]


async def test_tap_flood_is_told_once_then_ignored(polling, fake, kb):
    polling.channel.flood.budget.taps = RateLimiter(rate=3, per=3600)
    await exchange(fake, fake.text_update("/menu"))
    menu_id = fake.bot_messages(USER)[-1]["message_id"]
    mark = fake.mark()
    # Each tap is answered (the spinner stops) even when throttled; one chat's updates run in order, so
    # when the fifth answer arrives the first four taps are fully handled.
    await exchange(fake, *[fake.callback_update("m", menu_id) for _ in range(5)], count=5, method="answerCallbackQuery")
    texts = [p["text"] for p in fake.requests("sendMessage", since=mark)]
    assert texts == [esc(present.menu(kb, "vi").text)] * 3 + [esc(kb.message("rate_limited", "vi"))]  # told once, then quiet


async def test_tapping_briskly_through_a_guide_after_typing_is_never_throttled(polling, fake, kb):
    """A citizen types a few messages, opens a guide and taps 20 times back and forth at full speed: every
    tap turns the page (with one budget for typing and tapping, the 21st message was refused)."""
    guide = kb.guides["eid-activate"]
    total = len(guide.steps)
    for command in ("/help", "/menu", "/help", "/menu", "/help"):
        await exchange(fake, fake.text_update(command))
    await exchange(fake, fake.text_update("/start g-eid-activate"), count=2)
    page_id = fake.bot_messages(USER)[-1]["message_id"]
    mark = fake.mark()
    for step in ([*range(1, total + 1), *range(total - 1, 1, -1)] * 20)[:20]:
        [edited] = await tap(fake, f"g:eid-activate:{step}", page_id, method="editMessageText")
        assert edited["text"] == esc(present.guide_page(kb, guide, step, "vi").text)
    assert not fake.requests("sendMessage", since=mark), "never told to slow down"


def test_the_default_budget_lets_a_citizen_walk_a_whole_guide_quickly():
    limiter = RateLimiter(telegram.USER_RATE, telegram.USER_PER)
    assert all(limiter.allow("u", now=0.1 * i) for i in range(telegram.USER_RATE))
    assert not limiter.allow("u", now=2.0)
    assert limiter.allow("u", now=2.0 + telegram.USER_PER / telegram.USER_RATE)


def test_taps_and_typed_messages_are_counted_apart():
    guard = FloodGuard(Budget(RateLimiter(telegram.USER_RATE, telegram.USER_PER)))
    assert all(guard.check("u", now=0.0) == "ok" for _ in range(telegram.USER_RATE))
    assert [guard.check("u", now=0.0) for _ in range(2)] == ["warn", "quiet"]  # typed: over the budget
    assert all(guard.check("u", tap=True, now=0.01 * i) == "ok" for i in range(TAP_RATE))  # taps: their own
    assert [guard.check("u", tap=True, now=0.7) for _ in range(2)] == ["warn", "quiet"]  # a script is stopped
    assert guard.check("u", now=telegram.USER_PER) == "ok"  # slowed down: typing again, warning reset
    assert guard.check("v", now=0.0) == "ok"  # other citizens are not affected


# -- webhook mode -------------------------------------------------------------------------------------------------------
async def post_update(server: Server[telegram.TelegramChannel], update: Any, secret: str | None) -> int:
    headers = {telegram.SECRET_HEADER: secret} if secret is not None else {}
    body = update if isinstance(update, bytes) else json.dumps(update).encode()
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{server.url}{telegram.WEBHOOK_PATH}", data=body, headers={**headers, "Content-Type": "application/json"}) as response:
            return response.status


async def test_webhook_is_registered_with_a_generated_secret_kept_next_to_the_db(webhook, fake, tmp_path):
    secret = (tmp_path / telegram.SECRET_FILE).read_text().strip()
    assert fake.webhook["url"] == WEBHOOK_URL
    assert fake.webhook["secret_token"] == secret and len(secret) >= 32
    assert fake.webhook["allowed_updates"] == ["message", "callback_query"]
    assert not fake.calls_to("getUpdates") and not fake.calls_to("deleteWebhook")
    async with aiohttp.ClientSession() as session, session.get(f"{webhook.url}/healthz") as response:
        assert (await response.json())["channels"]["telegram"] == "webhook"


async def test_webhook_update_is_answered(webhook, fake, kb):
    mark = fake.mark()
    assert await post_update(webhook, fake.text_update("/start g-eid-activate"), fake.webhook["secret_token"]) == 200
    welcome, guide = await fake.wait_for("sendMessage", 2, since=mark)
    assert actions(guide) == ["g:eid-activate:1", "m"]
    mark = fake.mark()
    tap_update = fake.callback_update("g:eid-activate:1", fake.bot_messages(USER)[-1]["message_id"])
    assert await post_update(webhook, tap_update, fake.webhook["secret_token"]) == 200
    [edited] = await fake.wait_for("editMessageText", 1, since=mark)
    assert edited["text"].startswith("Bước 1/")


async def test_webhook_refuses_forged_and_missing_secret(webhook, fake, kb):
    mark = fake.mark()
    assert await post_update(webhook, fake.text_update("quen mat khau vneid"), "forged-secret") == 403
    assert await post_update(webhook, fake.text_update("quen mat khau vneid"), None) == 403
    assert await post_update(webhook, fake.text_update("/help"), fake.webhook["secret_token"]) == 200
    [only] = await fake.wait_for("sendMessage", 1, since=mark)
    assert only["text"] == esc(kb.message("help", "vi"))
    assert len(fake.requests("sendMessage", since=mark)) == 1


async def test_webhook_rejects_malformed_updates_and_stays_healthy(webhook, fake):
    secret = fake.webhook["secret_token"]
    for body in (b"{not json", b"[1, 2]", b'{"update_id": "x"}', b'{"update_id": 7, "message": "hello"}'):
        assert await post_update(webhook, body, secret) == 400, body
    async with aiohttp.ClientSession() as session, session.get(f"{webhook.url}/healthz") as response:
        assert response.status == 200
    assert not fake.requests("sendMessage")


async def test_updates_accepted_before_shutdown_are_all_answered(fake, tmp_path, kb, matcher):
    """Stopping PTB must come before the server drains the engine, or queued updates meet a closed engine."""
    settings = settings_for(tmp_path, fake, telegram_webhook_url=WEBHOOK_URL)
    fake.slow("sendMessage", 0.2)  # so updates are still queued when shutdown begins
    async with serve(settings, kb, matcher, tmp_path) as server:
        mark = fake.mark()
        for text in ("quen mat khau vneid", "/help", "/menu"):
            assert await post_update(server, fake.text_update(text), fake.webhook["secret_token"]) == 200
    answers = fake.requests("sendMessage", since=mark)  # the server has stopped: every answer went out first
    assert [a["text"] for a in answers[1:]] == [esc(kb.message("help", "vi")), esc(kb.message("menu", "vi"))]
    assert "fb:eid-forgot-password:up" in actions(answers[0])


# -- configuration ---------------------------------------------------------------------------------------------------------
def channel_status(app: web.Application) -> telegram.ChannelStatus:
    return next(c for c in app[CTX].channels if c.name == "telegram")


def test_no_token_means_off_with_a_hint(tmp_path, kb, matcher):
    app = make_app(tmp_path, kb, matcher)  # no channel configured
    status = channel_status(app)
    assert (status.live, status.mode) == (False, "off")
    assert "TELEGRAM_BOT_TOKEN" in status.hint and "TELEGRAM_WEBHOOK_URL" in status.hint
    assert telegram.TELEGRAM not in app


def test_plain_http_webhook_url_is_refused_with_a_hint(tmp_path, kb, matcher, fake):
    settings = settings_for(tmp_path, fake, telegram_webhook_url="http://digiguide.example/telegram/webhook")
    app = make_app(tmp_path, kb, matcher, settings)
    assert channel_status(app).mode == "off" and "https://" in channel_status(app).hint


async def test_rejected_token_keeps_the_server_up_and_out_of_the_logs(fake, tmp_path, kb, matcher, caplog):
    caplog.set_level(logging.INFO, logger="digiguide")
    settings = settings_for(tmp_path, fake, telegram_token="999:WRONG-TOKEN")
    async with serve(settings, kb, matcher, tmp_path) as server:
        async with aiohttp.ClientSession() as session, session.get(f"{server.url}/healthz") as response:
            assert response.status == 200
            assert "telegram" not in (await response.json())["channels"]
        assert channel_status(server.app).mode == "error"
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("digiguide")]
    assert any("could not start" in m for m in ours)
    assert not any("999:WRONG-TOKEN" in m for m in ours)


# -- the fake itself answers as Telegram documents -----------------------------------------------------------------
async def test_fake_bot_api_is_faithful_where_the_bot_relies_on_it(fake):
    async def call(session: aiohttp.ClientSession, method: str, token: str = TOKEN, **params: Any) -> tuple[int, dict]:
        async with session.post(f"{fake.api_base}{token}/{method}", data={k: str(v) for k, v in params.items()}) as response:
            return response.status, await response.json()

    async with aiohttp.ClientSession() as session:
        assert await call(session, "getMe", token="999:NOPE") == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        status, me = await call(session, "getMe")
        assert status == 200 and me["result"]["is_bot"] and me["result"]["username"] == "digiguide_test_bot"
        held = asyncio.create_task(call(session, "getUpdates", offset=0, timeout=5))
        await asyncio.sleep(0.2)
        assert not held.done(), "an empty long poll is held open"
        update = fake.text_update("xin chao")
        fake.queue(update)
        status, got = await asyncio.wait_for(held, 2)
        assert [u["update_id"] for u in got["result"]] == [update["update_id"]]
        assert (await call(session, "getUpdates", offset=update["update_id"] + 1, timeout=0))[1]["result"] == []
        status, bad = await call(session, "sendMessage", chat_id=USER, text="a <b> & c", parse_mode="HTML")
        assert status == 400 and bad["description"].startswith("Bad Request: can't parse entities")
        fake.fail_next("sendMessage", 429, retry_after=1)
        status, limited = await call(session, "sendMessage", chat_id=USER, text="x")
        assert (status, limited["parameters"]) == (429, {"retry_after": 1})
        status, sent = await call(session, "sendMessage", chat_id=USER, text="x")
        assert isinstance(sent["result"]["date"], int) and sent["result"]["chat"]["id"] == USER
