"""One chat cannot slow down the others (issue 10, section 4), end to end: our whole server with the real
python-telegram-bot Application against the loopback fake Bot API (tests/fake_telegram.py), and the web
chat's API from more than one client address."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.channels import telegram, web
from fake_telegram import FakeTelegram
from webutil import Server, app_settings, make_app, new_session, running_server
from webutil import serve as serve_app

TOKEN = "123:ABC"
WEBHOOK_URL = "https://digiguide.example/telegram/webhook"
FLOODER, QUIET = 1001, 2002
SEND_LATENCY = 0.05  # each send takes this long on the fake, so one chat's answers take time, as on Telegram

serve = partial(serve_app, key=telegram.TELEGRAM)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = await FakeTelegram(TOKEN).start()
    yield server
    await server.close()


def settings_for(tmp_path: Path, fake: FakeTelegram, **overrides: Any):
    return app_settings(tmp_path, **{"telegram_token": TOKEN, "telegram_api_base": fake.api_base, **overrides})


def sent_to(fake: FakeTelegram, chat_id: int, since: int = 0) -> list[dict[str, Any]]:
    return [p for p in fake.requests("sendMessage", since) if str(p["chat_id"]) == str(chat_id)]


async def post_update(session: aiohttp.ClientSession, server: Server, fake: FakeTelegram, update: dict[str, Any]) -> int:
    headers = {telegram.SECRET_HEADER: fake.webhook["secret_token"], "Content-Type": "application/json"}
    async with session.post(f"{server.url}{telegram.WEBHOOK_PATH}", data=json.dumps(update).encode(), headers=headers) as response:
        return response.status


# -- Telegram: a flood from one chat ----------------------------------------------------------------------------
async def test_a_flooding_chat_does_not_hold_up_another_citizens_answer(fake, tmp_path, kb, matcher):
    """300 messages from one chat, then one question from another citizen. The flooding chat's answers take
    at least 21 sends (its budget of 20 and one warning), one after another; the other citizen's single answer
    must not wait for them (before the fix it came after the flooding chat's warning)."""
    fake.slow("sendMessage", SEND_LATENCY)
    async with serve(settings_for(tmp_path, fake), kb, matcher, tmp_path):
        mark = fake.mark()
        fake.queue(*[fake.text_update("cach thanh toan tien dien", user_id=FLOODER) for _ in range(300)])
        fake.queue(fake.text_update("quen mat khau vneid", user_id=QUIET))
        await fake.wait_for("sendMessage", telegram.USER_RATE + 2, since=mark, timeout=15)  # all of the flood's, and the quiet one
        order = [int(p["chat_id"]) for p in fake.requests("sendMessage", since=mark)]
        flood_answers_first = order.index(QUIET)
        assert flood_answers_first < telegram.USER_RATE // 2, f"the quiet citizen waited for {flood_answers_first} of the flood's answers"
        flooded = [p["text"] for p in sent_to(fake, FLOODER, mark)]
        limited = kb.message("rate_limited", "vi")
        assert len(flooded) == telegram.USER_RATE + 1 and flooded[-1] == limited and limited not in flooded[:-1]  # told once
        assert "fb:eid-forgot-password:up" in json.dumps(sent_to(fake, QUIET, mark)[0]["reply_markup"])


# -- Telegram: an update delivered twice is answered once ----------------------------------------------------------
async def test_a_polled_update_delivered_twice_is_answered_once(fake, tmp_path, kb, matcher):
    async with serve(settings_for(tmp_path, fake), kb, matcher, tmp_path):
        mark = fake.mark()
        update = fake.text_update("/help", user_id=QUIET)
        fake.queue(update, update)
        fake.queue(fake.text_update("/menu", user_id=QUIET))  # one chat's updates run in order: a sync point
        await fake.wait_for("sendMessage", 2, since=mark)
        assert [p["text"] for p in sent_to(fake, QUIET, mark)] == [kb.message("help", "vi"), kb.message("menu", "vi")]


async def test_a_webhook_update_delivered_twice_is_answered_once(fake, tmp_path, kb, matcher):
    async with serve(settings_for(tmp_path, fake, telegram_webhook_url=WEBHOOK_URL), kb, matcher, tmp_path) as server:
        mark = fake.mark()
        update = fake.text_update("/help", user_id=QUIET)
        async with aiohttp.ClientSession() as session:
            assert [await post_update(session, server, fake, u) for u in (update, update)] == [200, 200]  # Telegram gets its 200 both times
            assert await post_update(session, server, fake, fake.text_update("/menu", user_id=QUIET)) == 200
        await fake.wait_for("sendMessage", 2, since=mark)
        assert [p["text"] for p in sent_to(fake, QUIET, mark)] == [kb.message("help", "vi"), kb.message("menu", "vi")]


# -- the web chat: new sessions per client address ---------------------------------------------------------------
async def ask(session: aiohttp.ClientSession, url: str, chat_session: str) -> aiohttp.ClientResponse:
    async with session.post(f"{url}/api/chat", json={"session": chat_session, "text": "/help"}) as response:
        await response.read()
        return response


async def test_a_client_making_a_new_session_per_request_is_limited_and_no_one_else_is(tmp_path, kb, matcher):
    async with running_server(make_app(tmp_path, kb, matcher)) as url:
        one = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=("127.0.0.1", 0)))
        other = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=("127.0.0.2", 0)))
        async with one, other:
            regular = new_session()
            assert (await ask(one, url, regular)).status == 200  # a citizen who keeps their session
            statuses = [(await ask(one, url, new_session())).status for _ in range(web.NEW_SESSIONS)]
            assert statuses == [200] * (web.NEW_SESSIONS - 1) + [429]  # the whole allowance, then refused
            async with one.post(f"{url}/api/chat", json={"session": new_session(), "text": "/help"}) as refused:
                body = await refused.json()
                assert refused.status == 429 and int(refused.headers["Retry-After"]) >= 1
                assert body["replies"][0]["text"] == kb.message("rate_limited", "vi")
            assert (await ask(one, url, regular)).status == 200, "an existing session from that address is still served"
            assert (await ask(other, url, new_session())).status == 200, "another address is not affected"
