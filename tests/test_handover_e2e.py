"""Asking an official, end to end (issue 12, section 5): our whole server with the real python-telegram-bot
polling the loopback Bot API (tests/fake_telegram.py) and the Zalo client polling its loopback API
(tests/fake_zalo.py). A citizen asks something the bot cannot answer, asks for an official and confirms;
an editor of that ward (an API token bound to it, as `python -m analytics tokens add` makes) sees the
ticket and replies; the citizen receives it in the same chat; an editor of another ward sees nothing of
it. A Zalo citizen who asked the same and tapped "tell me when answered" is told once when the question
becomes an FAQ entry, and the next citizen gets the answer from the bot directly; on both engines (conftest's
db_target: every table but the conversation state in an SQLite file, or in PostgreSQL). The web chat's side,
in Chromium: tests/test_handover_web_browser.py."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from analytics.accounts import Accounts, connect
from bot.knowledge import load_knowledge
from handoverutil import serve_handover, until
from tests.fake_telegram import FakeTelegram
from tests.fake_zalo import FakeZalo
from webutil import app_settings

TG_TOKEN, ZALO_TOKEN = "123:ABC", "zt-123"
CITIZEN, NEIGHBOUR = 1001, "6ede9afa66b88fe6d6a9"  # a Telegram user of Phúc Yên; a Zalo user who asks the same
UNKNOWN = "vneid hang hai va hang mot"  # the bot falls back on it today
ANSWER = "Mức 2 có thêm ảnh chân dung và vân tay, làm tại công an xã/phường; mức 1 chỉ đăng ký trên ứng dụng."
POSTER = "g-eid-activate__tdp-phuc-yen-5"  # the citizen came through a Phúc Yên working group's poster


def tokens(where) -> dict[str, dict[str, str]]:
    """Bearer headers: an editor of Phúc Yên, an editor of Xuân Hòa, an unbound admin."""
    with connect(where) as db:
        accounts = Accounts(db)
        made = {
            "phuc_yen": accounts.add_token("phuc-yen-desk", "editor", ["phuc-yen"], actor="cli"),
            "xuan_hoa": accounts.add_token("xuan-hoa-desk", "editor", ["xuan-hoa"], actor="cli"),
            "admin": accounts.add_token("province", "admin", [], actor="cli"),
        }
    return {k: {"Authorization": f"Bearer {v}"} for k, v in made.items()}


@pytest.fixture
async def platforms() -> AsyncIterator[tuple[FakeTelegram, FakeZalo]]:
    tg, zl = await FakeTelegram(TG_TOKEN).start(), await FakeZalo(ZALO_TOKEN).start()
    try:
        yield tg, zl
    finally:
        await tg.close()
        await zl.close()


@pytest.fixture
async def site(platforms, tmp_path, db_target, content_copy, kb, matcher):
    """Publishing writes into a copy of content/ (the session's kb and matcher are of the same files)."""
    tg, zl = platforms
    settings = app_settings(tmp_path, db=db_target, content_dir=content_copy, telegram_token=TG_TOKEN, telegram_api_base=tg.api_base, zalo_token=ZALO_TOKEN, zalo_api_base=zl.api_base)
    async with serve_handover(settings, kb, matcher, tmp_path) as handover:
        handover.courier.clock = time.time  # real time here: nothing waits for a retry
        handover.tickets.clock = time.time
        await until(lambda: {"telegram", "zalo"} <= set(handover.courier.senders))
        yield handover


class Telegram:
    """The citizen's Telegram app: send a text or tap a button of the bot's last message; the bot's answer."""

    def __init__(self, fake: FakeTelegram, user: int):
        self.fake, self.user = fake, user

    async def send(self, update: dict[str, Any], answers: int = 1) -> dict[str, Any]:
        """The last of the bot's `answers` messages to `update`."""
        mark = self.fake.mark()
        self.fake.queue(update)
        return (await self.fake.wait_for("sendMessage", answers, since=mark))[-1]

    async def say(self, text: str) -> dict[str, Any]:
        return await self.send(self.fake.text_update(text, user_id=self.user))

    async def tap(self, action: str) -> dict[str, Any]:
        last = self.fake.bot_messages(self.user)[-1]
        assert action in buttons(last), (action, buttons(last))
        return await self.send(self.fake.callback_update(action, last["message_id"], user_id=self.user))


def buttons(message: dict[str, Any]) -> list[str]:
    return [b["callback_data"] for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]


class Zalo:
    """The citizen's Zalo app: a text (options are numbered), and the bot's answer texts."""

    def __init__(self, fake: FakeZalo, user: str):
        self.fake, self.user = fake, user

    async def say(self, text: str, answers: int = 1) -> list[str]:
        mark = self.fake.mark()
        self.fake.queue(self.fake.text_update(text, user_id=self.user))
        return await self.fake.texts(answers, since=mark)


def option(text: str, label: str) -> str:
    """The number Zalo's list gives the option `label`."""
    found = re.search(rf"^(\d+)\. {re.escape(label)}$", text, re.M)
    assert found, (label, text)
    return found.group(1)


async def api(http: aiohttp.ClientSession, base: str, method: str, path: str, headers: dict, body: Any = None) -> tuple[int, Any]:
    async with http.request(method, base + path, json=body, headers=headers) as r:
        return r.status, (await r.json() if r.content_type == "application/json" else await r.text())


async def test_a_question_goes_to_the_wards_official_and_the_answer_back_and_into_the_content(site, platforms, kb, tmp_path):
    tg, zl = platforms
    tg.private_chat(CITIZEN)
    zl.know_chat(NEIGHBOUR)
    heads = tokens(site.ctx.settings.database)
    citizen, neighbour = Telegram(tg, CITIZEN), Zalo(zl, NEIGHBOUR)

    # the Zalo neighbour asks first, gets no answer and asks to be told
    [fell] = await neighbour.say(UNKNOWN)
    assert kb.button("notify_me", "vi") in fell
    [told] = await neighbour.say(option(fell, kb.button("notify_me", "vi")))
    assert "30 ngày" in told

    # the Telegram citizen, from a Phúc Yên poster, asks the same and hands it over
    await citizen.send(tg.text_update(f"/start {POSTER}", user_id=CITIZEN), answers=2)  # a greeting, then the guide
    fallback = await citizen.say(UNKNOWN)
    assert buttons(fallback)[:2] == ["h:ask", "h:notify"]
    confirm = await citizen.tap("h:ask")
    assert "phường Phúc Yên" in confirm["text"] and buttons(confirm)[0] == "h:ok"
    sent = await citizen.tap("h:ok")
    code = re.search(r"#\d+", sent["text"]).group(0)

    async with aiohttp.ClientSession() as http:
        base = site.server.url
        # the Phúc Yên editor sees it; the Xuân Hòa editor sees nothing of it
        status, mine = await api(http, base, "GET", "/dashboard/api/tickets?status=open", heads["phuc_yen"])
        assert status == 200
        [ticket] = [t for t in mine["tickets"] if t["code"] == code]
        assert (ticket["ward"], ticket["channel"], ticket["status"]) == ("phuc-yen", "telegram", "open")
        assert ticket["question"] == UNKNOWN and set(ticket) >= {"id", "code", "ward", "channel", "topic", "question", "created_at", "status"}
        status, theirs = await api(http, base, "GET", "/dashboard/api/tickets?status=open", heads["xuan_hoa"])
        assert status == 200 and theirs["tickets"] == []
        status, _ = await api(http, base, "POST", f"/dashboard/api/tickets/{ticket['id']}/reply", heads["xuan_hoa"], {"text": "không phải phường tôi"})
        assert status in (403, 404)

        # the reply reaches the citizen's Telegram chat
        mark = tg.mark()
        status, delivered = await api(http, base, "POST", f"/dashboard/api/tickets/{ticket['id']}/reply", heads["phuc_yen"], {"text": ANSWER})
        assert status == 200 and delivered == {"delivery": "sent"}
        [arrived] = await tg.wait_for("sendMessage", 1, since=mark)
        assert ANSWER in arrived["text"] and code in arrived["text"] and int(arrived["chat_id"]) == CITIZEN
        assert not [m for m in zl.sent if ANSWER in m.get("text", "")]  # only on the channel it came from

        # "save as FAQ" from the answered ticket: the editor opens it pre-filled with the question and the
        # official's answer, completes it and publishes; the question's inbox group is resolved with it
        status, filled = await api(http, base, "GET", f"/dashboard/api/content/prefill?ticket={ticket['id']}&kind=faq", heads["phuc_yen"])
        assert status == 200 and filled["ticket"] == ticket["id"] and filled["entry"]["answer"]["vi"] == ANSWER
        assert filled["entry"]["questions"]["vi"] == [UNKNOWN] and filled["resolves"]
        entry = {**filled["entry"], "id": "eid-levels-grades", "topic": "eid",
                 "questions": {"vi": [UNKNOWN, "vneid hạng hai và hạng một", "định danh hạng 1 hạng 2 là gì", "vneid hang 2 khac hang 1"],
                               "en": ["vneid grade two and grade one", "what are vneid grades one and two"]},
                 "answer": {"vi": ANSWER, "en": "Level 2 adds a portrait photo and fingerprints, done at the commune/ward police; level 1 is registered in the app."},
                 "sources": ["https://vneid.gov.vn"]}
        mark = zl.mark()
        status, made = await api(http, base, "POST", "/dashboard/api/content/faq", heads["phuc_yen"],
                                 {"entry": entry, "version": filled.get("version") or (await api(http, base, "GET", "/dashboard/api/content/faq/eid-levels", heads["phuc_yen"]))[1]["version"],
                                  "resolves": filled["resolves"], "ticket": ticket["id"]})
        assert status == 201, made
        status, after = await api(http, base, "GET", f"/dashboard/api/tickets/{ticket['id']}", heads["phuc_yen"])
        assert (after.get("ticket") or after).get("content_entry") == "eid-levels-grades"  # counted as turned into content
    keys = filled["resolves"]

    # the neighbour who asked to be told gets the new answer on Zalo, once
    texts = await zl.texts(2, since=mark)
    assert "Đây là câu trả lời" in texts[0] and texts[1].startswith(ANSWER[:40])
    assert site.tickets.notify_resolved(keys, "eid-levels-grades").queued == 0  # once: the watcher's address is gone

    # and the next citizen gets the answer from the bot directly
    next_one = Telegram(tg, 1002)
    tg.private_chat(1002)
    answered = await next_one.say(UNKNOWN)
    assert answered["text"].startswith(ANSWER[:40])


async def test_on_zalo_the_citizen_picks_by_number_and_the_wards_group_hears_of_the_ticket(platforms, tmp_path, content_copy, kb, matcher):
    """Zalo shows options as a numbered list: the whole handover by typed numbers. The ward's officials'
    Telegram group (locality.yaml handover.notify_chats) gets a notice of the new ticket."""
    tg, zl = platforms
    group = -1001234567890
    tg.group_chat(group)
    locality = content_copy / "locality.yaml"
    locality.write_text(locality.read_text(encoding="utf-8").replace("  typical_hours: 8\n", f'  typical_hours: 8\n  notify_chats: {{xuan-hoa: "{group}"}}\n'), encoding="utf-8")
    local_kb = load_knowledge(content_copy)
    settings = app_settings(tmp_path, content_dir=content_copy, telegram_token=TG_TOKEN, telegram_api_base=tg.api_base, zalo_token=ZALO_TOKEN, zalo_api_base=zl.api_base)
    async with serve_handover(settings, local_kb, matcher, tmp_path) as site:
        site.courier.clock = site.tickets.clock = time.time
        await until(lambda: {"telegram", "zalo"} <= set(site.courier.senders))
        zl.know_chat(NEIGHBOUR)
        citizen = Zalo(zl, NEIGHBOUR)
        [fell] = await citizen.say(UNKNOWN)
        [wards] = await citizen.say(option(fell, kb.button("ask_official", "vi")))
        [confirm] = await citizen.say(option(wards, "phường Xuân Hòa"))
        assert "Mình sẽ gửi câu hỏi này cho cán bộ phường Xuân Hòa" in confirm
        mark = tg.mark()
        [sent] = await citizen.say(option(confirm, kb.button("send", "vi")))
        code = re.search(r"#\d+", sent).group(0)
        [notice] = await tg.wait_for("sendMessage", 1, since=mark, timeout=10)  # the courier's next round
        assert int(notice["chat_id"]) == group and code in notice["text"] and UNKNOWN in notice["text"]

        heads = tokens(site.ctx.settings.database)
        async with aiohttp.ClientSession() as http:
            status, listed = await api(http, site.server.url, "GET", "/dashboard/api/tickets?status=open&ward=xuan-hoa", heads["admin"])
            [ticket] = [t for t in listed["tickets"] if t["code"] == code]
            assert ticket["channel"] == "zalo"
            status, none = await api(http, site.server.url, "GET", "/dashboard/api/tickets?status=open", heads["phuc_yen"])
            assert none["tickets"] == []  # Phúc Yên's editor sees nothing of Xuân Hòa's ticket
            mark = zl.mark()
            status, delivered = await api(http, site.server.url, "POST", f"/dashboard/api/tickets/{ticket['id']}/reply", heads["admin"], {"text": ANSWER})
            assert delivered == {"delivery": "sent"}
        [answer] = await zl.texts(1, since=mark)
        assert ANSWER in answer and code in answer and "1. " in answer  # with its numbered options
