"""Nothing answers 500 (issue 10, section 2): one corpus of bad input thrown at every door of the running
server (the web chat API, the Telegram and Zalo webhooks, the dashboard API), asserting what a citizen or
an official would notice: never a 5xx, always a clear JSON error or a reply a citizen can read (on
Telegram and Zalo a polite message in the chat, or a quiet drop), and never a traceback or an ERROR line
in the log (an attacker must not be able to fill it).

One server for the whole module (web chat, both webhooks against the loopback fakes of the platforms,
the dashboard): a case costs a few loopback requests. Each messaging case is followed by a harmless
SENTINEL from the same chat (the hotline word: its reply, the hotline list, is one no case of the corpus
asks for), and the case is done when that is answered: one chat's updates are handled in arrival order,
so by then the bad one has been dealt with, whatever it did.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import logging
import re
import time
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from bot.channels import telegram, zalo
from bot.server import CTX
from tests.fake_telegram import FakeTelegram, parse_html
from tests.fake_zalo import FakeZalo
from webutil import Server, app_settings, new_session, serve

pytestmark = pytest.mark.asyncio(loop_scope="module")

TELEGRAM_TOKEN = "123:ABC"
ZALO_TOKEN = "zt-123"
DASHBOARD_TOKEN = "a-long-dashboard-token"
SENTINEL = "tổng đài"
NESTED = b"[" * 30_000 + b"]" * 30_000  # 60 KB: under every body limit but the web chat's 16 KiB

# -- the corpus -------------------------------------------------------------------------------------------------
# What a citizen (or a broken client, or an attacker) may type.
TEXTS: dict[str, str] = {
    "empty": "",
    "whitespace": " \t \n ",
    "long-2500": "vneid " * 420,
    "huge-1mb": "a" * (1 << 20),
    "nfd": unicodedata.normalize("NFD", "quên mật khẩu vneid"),
    "control": "\x00\x01\x07\x1b[31mquen mk\x7f\x85\x9f",
    "zero-width": "qu\u200ben\u200d mk\u2060 vneid\ufeff",
    "rtl-override": "\u202equen mat khau vneid\u202c",
    "lone-surrogates": "\ud800 quen mk \udfff",
    "html": "<script>alert(1)</script><img src=x onerror=alert(1)>&amp;",
    "format-strings": "%s %n %(x)s {0} {x!r} ${x} {{}} %%",
    "emoji-only": "🙂" * 50,
    "superscript-digit": "²",
    "arabic-indic-digit": "١",
    "digits-20": "9" * 20,
    "digits-2000": "9" * 2000,
    "slash-garbage": "/" + "x" * 200,
    "lang-superscript": "/lang ²",
    "forged-start-payload": "/start g-" + "x" * 60,
    "action-typed": "fb:other-entry:up",
}
# What a forged or stale button may carry.
ACTIONS: dict[str, str] = {
    "empty": "",
    "unknown-head": "zz:1",
    "guide-superscript-step": "g:eid-activate:²",
    "topic-superscript-page": "t:eid:²",
    "suggestion-superscript": "s:²",
    "unknown-guide-huge-step": "g:x:99999999999999999999",
    "guide-huge-step": "g:eid-activate:99999999999999999999",
    "guide-negative-step": "g:eid-activate:-1",
    "feedback-other-entry": "fb:other-entry:up",
    "feedback-never-shown": "fb:eid-forgot-password:up",
    "feedback-bad-verdict": "fb:eid-forgot-password:sideways",
    "menu-with-tail": "m:x",
    "lang-unknown": "l:xx",
    "trailing-newline": "g:eid-activate:1\n",
    "lone-surrogate": "g:\ud800:1",
    "rtl-override": "\u202eg:eid-activate:1",
    "longest-allowed": "t:" + "x" * 62,
    "oversized": "g:eid-activate:" + "1" * 100,
    "oversized-1kb": "m" * 1024,
}
# Bodies that are not (the right) JSON, for every door.
RAW: dict[str, bytes] = {
    "malformed": b"{not json",
    "empty-body": b"",
    "truncated": b'{"a": ',
    "invalid-utf8": b"\xff\xfe\xfd",
    "invalid-utf8-in-string": b'{"text": "\xff\xc0"}',
    "nested-30000": NESTED,
    "nested-objects": b'{"a":' * 9_000 + b"1" + b"}" * 9_000,
    "scalar": b"42",
    "null": b"null",
    "string": b'"text"',
    "list": b"[1, 2]",
}
WRONG_TYPES: dict[str, Any] = {"number": 5, "list": ["quen mk"], "object": {"text": "quen mk"}, "null": None, "bool": True}


def dumps(value: Any) -> bytes:
    """JSON as a client would send it; lone surrogates travel as \\ud800 escapes (ensure_ascii)."""
    return json.dumps(value).encode("ascii")


# -- the server, once for the module ---------------------------------------------------------------------------
@dataclass
class Stack:
    server: Server
    tg: FakeTelegram
    zl: FakeZalo
    dashboard: aiohttp.ClientSession
    csrf: str
    users: itertools.count

    def user(self) -> int:
        """A citizen of their own per case: no case uses up another's rate budget or state."""
        return next(self.users)

    @property
    def url(self) -> str:
        return self.server.url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory, kb, matcher) -> AsyncIterator[Stack]:
    tmp_path: Path = tmp_path_factory.mktemp("bad-input")
    tg = await FakeTelegram(TELEGRAM_TOKEN).start()
    zl = await FakeZalo(ZALO_TOKEN).start()
    settings = app_settings(
        tmp_path,
        dashboard_token=DASHBOARD_TOKEN,
        telegram_token=TELEGRAM_TOKEN,
        telegram_api_base=tg.api_base,
        telegram_webhook_url="https://digiguide.example/telegram/webhook",
        zalo_token=ZALO_TOKEN,
        zalo_api_base=zl.api_base,
        zalo_webhook_url="https://digiguide.example/zalo/webhook",
    )
    try:
        async with serve(settings, kb, matcher, tmp_path) as server:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as dashboard:
                csrf = await dashboard_login(dashboard, server.url)
                yield Stack(server, tg, zl, dashboard, csrf, itertools.count(500_000))
    finally:
        await tg.close()
        await zl.close()


async def dashboard_login(session: aiohttp.ClientSession, url: str) -> str:
    """Log in as an official; the session's CSRF token, read from the page as the browser does."""
    form = {"token": DASHBOARD_TOKEN, "next": "/dashboard/"}
    async with session.post(f"{url}/dashboard/login", data=form, headers={"Origin": url}, allow_redirects=False) as r:
        assert r.status == 303, await r.text()
    async with session.get(f"{url}/dashboard/?since=&until=") as r:
        page = await r.text()
    block = re.search(r'<script type="application/json" id="dash-data">(.*?)</script>', page, re.S)
    return json.loads(block.group(1))["csrf"]


@pytest.fixture
def quiet_log(caplog):
    """Every record of the case, checked afterwards: no ERROR line and no traceback at any level."""
    caplog.set_level(logging.INFO)
    yield caplog
    records = caplog.get_records("call")  # `caplog.records` would be the teardown's, always empty here
    loud = [r for r in records if r.levelno >= logging.ERROR or r.exc_info or "Traceback" in r.getMessage()]
    assert not loud, [f"{r.levelname} {r.name}: {r.getMessage()[:300]}" for r in loud]


def readable(text: str) -> None:
    """A reply a citizen can read: some words, and no markup of theirs echoed back."""
    assert text.strip(), "an empty reply"
    assert "<script" not in text and "onerror" not in text


# -- the web chat ------------------------------------------------------------------------------------------------
async def post(stack: Stack, path: str, body: bytes, headers: dict[str, str] | None = None, session: aiohttp.ClientSession | None = None) -> tuple[int, Any]:
    """POST a raw body; the status and the JSON answer (None when the answer is not JSON)."""
    headers = {"Content-Type": "application/json", **(headers or {})}

    async def send(client: aiohttp.ClientSession) -> tuple[int, Any]:
        async with client.post(stack.url + path, data=body, headers=headers) as r:
            raw = await r.read()
            try:
                return r.status, json.loads(raw)
            except ValueError:
                return r.status, None

    if session is not None:
        return await send(session)
    async with aiohttp.ClientSession() as client:
        return await send(client)


def web_answer(status: int, data: Any) -> None:
    """Below 500, JSON, and either a clear error message or replies to show."""
    assert status < 500, (status, data)
    assert isinstance(data, dict), data
    if status == 200:
        assert data["replies"], data
        for reply in data["replies"]:
            readable(reply["text"])
    else:
        assert 400 <= status < 500 and isinstance(data.get("error"), str) and len(data["error"]) > 10, (status, data)


@pytest.mark.parametrize("text", TEXTS.values(), ids=TEXTS.keys())
async def test_web_typed(stack, quiet_log, text):
    web_answer(*await post(stack, "/api/chat", dumps({"session": new_session(), "text": text})))


@pytest.mark.parametrize("action", ACTIONS.values(), ids=ACTIONS.keys())
async def test_web_tapped(stack, quiet_log, action):
    web_answer(*await post(stack, "/api/chat", dumps({"session": new_session(), "action": action})))


@pytest.mark.parametrize("payload", [*TEXTS.values(), *ACTIONS.values()], ids=[*(f"text-{k}" for k in TEXTS), *(f"action-{k}" for k in ACTIONS)])
async def test_web_start_link(stack, quiet_log, payload):
    web_answer(*await post(stack, "/api/chat", dumps({"session": new_session(), "start": payload[:60]})))


WEB_BODIES: dict[str, bytes] = {
    **RAW,
    "nested-small": b'{"session": "abcdefgh", "text": ' + b"[" * 7_000 + b"]" * 7_000 + b"}",  # under 16 KiB
    **{f"text-{k}": dumps({"session": "abcdefgh-wrong", "text": v}) for k, v in WRONG_TYPES.items()},
    **{f"action-{k}": dumps({"session": "abcdefgh-wrong", "action": v}) for k, v in WRONG_TYPES.items()},
    "session-number": dumps({"session": 12345678, "text": "quen mk"}),
    "session-trailing-newline": dumps({"session": "abcdefgh\n", "text": "quen mk"}),
    "session-unicode-digits": dumps({"session": "abcdefgh²", "text": "quen mk"}),
    "session-lone-surrogate": dumps({"session": "abcdefgh\ud800", "text": "quen mk"}),
    "session-huge": dumps({"session": "a" * 10_000, "text": "quen mk"}),
    "two-fields": dumps({"session": "abcdefgh-two", "text": "quen mk", "action": "m"}),
    "no-field": dumps({"session": "abcdefgh-none"}),
}


@pytest.mark.parametrize("body", WEB_BODIES.values(), ids=WEB_BODIES.keys())
async def test_web_malformed_body(stack, quiet_log, body):
    status, data = await post(stack, "/api/chat", body)
    assert 400 <= status < 500, (status, data)
    web_answer(status, data)


async def test_web_session_must_match_whole(stack):
    """A trailing newline is not part of an id of letters, digits, '-' and '_' (a `$` would let it in)."""
    status, data = await post(stack, "/api/chat", dumps({"session": "abcdefgh\n", "text": "menu"}))
    assert status == 400 and "session" in data["error"]


# -- Telegram ------------------------------------------------------------------------------------------------------
async def tg_post(stack: Stack, body: bytes) -> int:
    status, _ = await post(stack, telegram.WEBHOOK_PATH, body, {telegram.SECRET_HEADER: stack.tg.webhook["secret_token"]})
    return status


def hotlines(stack: Stack) -> set[str]:
    kb = stack.server.app[CTX].service.kb
    return {kb.message("hotlines", lang) for lang in ("vi", "en")}


async def tg_settled(stack: Stack, user: int, since: int) -> list[str]:
    """Send the SENTINEL from `user`'s chat, wait for its answer and for the bot to be idle; what the bot
    sent to that chat before it (the bad update's answer: polite text, or nothing).

    Idle matters for an update without a chat (no per-chat order): PTB starts updates in arrival order, so
    once the sentinel is answered the bad one has finished or is still counted as running."""
    tg = stack.tg
    assert await tg_post(stack, dumps(tg.text_update(SENTINEL, user_id=user))) == 200
    expected = {html.escape(text, quote=False) for text in hotlines(stack)}
    deadline = time.monotonic() + 10
    while True:
        sent = [p for p in tg.requests("sendMessage", since) if p.get("chat_id") in (user, str(user))]
        if any(p["text"] in expected for p in sent):
            break
        assert time.monotonic() < deadline, f"the sentinel after the case was never answered: {sent}"
        await tg._wait_change(deadline - time.monotonic())
    processor = stack.server.app[telegram.TELEGRAM].application.update_processor
    while processor.current_concurrent_updates:
        assert time.monotonic() < deadline, "the bot never went idle"
        await asyncio.sleep(0.01)
    first = next(i for i, p in enumerate(sent) if p["text"] in expected)
    return [parse_html(p["text"]) for p in sent[:first]]


async def tg_case(stack: Stack, user: int, body: bytes) -> list[str]:
    """Deliver one update; assert no 5xx; every message the bot sent for it is readable."""
    mark = stack.tg.mark()
    status = await tg_post(stack, body)
    assert status < 500, status
    texts = await tg_settled(stack, user, mark)
    if status != 200:
        assert not texts, texts  # refused: nothing may have been done with it
    for text in texts:
        readable(text)
    return texts


@pytest.mark.parametrize("text", TEXTS.values(), ids=TEXTS.keys())
async def test_telegram_typed(stack, quiet_log, text):
    user = stack.user()
    await tg_case(stack, user, dumps(stack.tg.text_update(text, user_id=user)))


def callback(tg: FakeTelegram, user: int, data: Any, **changes: Any) -> dict[str, Any]:
    """A tap on a button of an earlier bot message (one with no keyboard: never a guide page to edit)."""
    message = {"message_id": 1, "date": int(time.time()), "chat": tg.private_chat(user), "from": tg.bot_user, "text": "x"}
    query = {"id": f"q{user}", "from": tg.user(user), "chat_instance": "ci", "data": data, "message": message, **changes}
    return tg._update(callback_query={k: v for k, v in query.items() if v is not ...})  # the fake's next update_id


@pytest.mark.parametrize("action", ACTIONS.values(), ids=ACTIONS.keys())
async def test_telegram_tapped(stack, quiet_log, action):
    user = stack.user()
    texts = await tg_case(stack, user, dumps(callback(stack.tg, user, action)))
    assert texts or not action, "a tap is always answered (a stale button politely)"


def changed(update: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """`update` with its "message" fields changed; a field set to ... is removed."""
    message = {**update["message"], **changes}
    return {**update, "message": {k: v for k, v in message.items() if v is not ...}}


def tg_wrong(tg: FakeTelegram, user: int) -> dict[str, dict[str, Any]]:
    """Updates with the wrong JSON types where the Bot API documents a type, or parts missing."""

    def message(**changes: Any) -> dict[str, Any]:
        return changed(tg.text_update("quen mk", user_id=user), **changes)

    cases = {f"text-{k}": message(text=v) for k, v in WRONG_TYPES.items()}
    cases |= {f"command-text-{k}": message(text=v, entities=[{"type": "bot_command", "offset": 0, "length": 5}]) for k, v in WRONG_TYPES.items()}
    cases |= {
        "no-chat": message(chat=...),
        "chat-null": message(chat=None),
        "chat-string": message(chat="private"),
        "chat-id-string": message(chat={"id": str(user), "type": "private"}),
        "chat-id-list": message(chat={"id": [user], "type": "private"}),
        "from-string": message(**{"from": "citizen"}),
        "from-id-object": message(**{"from": {"id": {"n": user}, "is_bot": False, "first_name": "x"}}),
        "no-from": message(**{"from": ...}),
        "date-string": message(date="today"),
        "entities-bad-offset": message(text="/help", entities=[{"type": "bot_command", "offset": "0", "length": 5}]),
        "entities-not-list": message(entities="bot_command"),
        "caption-number": message(text=..., caption=5, photo=[{"file_id": "p", "file_unique_id": "u", "width": 1, "height": 1}]),
        "message-string": tg._update(message="hello"),
        "update-id-string": {**message(), "update_id": str(user)},
        "update-id-bool": {**message(), "update_id": True},
        "callback-data-number": callback(tg, user, 5),
        "callback-data-huge": callback(tg, user, "m" * 100_00),
        "callback-without-message": callback(tg, user, "m", message=...),
        "callback-without-from": callback(tg, user, "m", **{"from": ...}),
        "callback-message-chat-missing": callback(tg, user, "m", message={"message_id": 1, "date": 0}),
    }
    return cases


TG_WRONG = list(tg_wrong(FakeTelegram(), 1))


@pytest.mark.parametrize("case", TG_WRONG)
async def test_telegram_wrong_types(stack, quiet_log, case):
    user = stack.user()
    await tg_case(stack, user, dumps(tg_wrong(stack.tg, user)[case]))


@pytest.mark.parametrize("body", RAW.values(), ids=RAW.keys())
async def test_telegram_malformed_body(stack, quiet_log, body):
    status = await tg_post(stack, body)
    assert status == 400, status
    await tg_settled(stack, stack.user(), stack.tg.mark())  # and the bot still answers


async def test_telegram_polling_reads_odd_updates_without_a_traceback(tmp_path, kb, matcher, quiet_log):
    """getUpdates bypasses the webhook's checks: the handlers themselves answer a "text" that is no string
    like a sticker (please type) and drop what has no chat to answer in."""
    tg = await FakeTelegram(TELEGRAM_TOKEN).start()
    try:
        settings = app_settings(tmp_path, telegram_token=TELEGRAM_TOKEN, telegram_api_base=tg.api_base)
        async with serve(settings, kb, matcher, tmp_path):
            odd = [tg.text_update("x", user_id=7), tg.text_update("/help", user_id=7), tg.text_update("x", user_id=7)]
            odd[0]["message"]["text"] = 5
            odd[1]["message"]["text"] = ["/help"]  # with its bot_command entity: a command that is no string
            del odd[2]["message"]["chat"]
            chatless = callback(tg, 7, "m", message=...)
            mark = tg.mark()
            tg.queue(*odd, chatless, tg.text_update(SENTINEL, user_id=7))
            sent = await tg.wait_for("sendMessage", 3, since=mark)
            assert [parse_html(p["text"]) for p in sent] == [kb.message("non_text", "vi")] * 2 + [kb.message("hotlines", "vi")]
            assert len(tg.requests("answerCallbackQuery", since=mark)) == 1  # the chatless tap: spinner stopped, nothing sent
    finally:
        await tg.close()


async def test_telegram_huge_body_is_refused(stack, quiet_log):
    assert await tg_post(stack, b'{"update_id": 1, "x": "' + b"a" * (1 << 20) + b'"}') == 413


# -- Zalo -------------------------------------------------------------------------------------------------------------
async def zl_post(stack: Stack, body: bytes) -> int:
    status, _ = await post(stack, zalo.WEBHOOK_PATH, body, {zalo.SECRET_HEADER: stack.zl.webhook["secret_token"]})
    return status


async def zl_case(stack: Stack, user: str, body: bytes) -> list[str]:
    """Deliver one update, then the SENTINEL from the same chat; what the bot sent for the first (readable).
    The channel handles one chat's updates in arrival order, and drops one it cannot read before any await."""
    zl = stack.zl
    mark = zl.mark()
    status = await zl_post(stack, body)
    assert status < 500, status
    assert await zl_post(stack, dumps(zl.text_update(SENTINEL, user_id=user))) == 200
    expected = tuple(hotlines(stack))
    deadline = time.monotonic() + 10
    while True:
        sent = [c.params["text"] for c in zl.calls_to("sendMessage", mark) if c.ok and c.params.get("chat_id") == user]
        if any(t.startswith(expected) for t in sent):
            break
        assert time.monotonic() < deadline, f"the sentinel after the case was never answered: {sent}"
        await zl._wait_change(deadline - time.monotonic())
    texts = sent[: next(i for i, t in enumerate(sent) if t.startswith(expected))]
    if status != 200:
        assert not texts, texts
    for text in texts:
        readable(text)
    return texts


def zl_user(stack: Stack) -> str:
    return f"{stack.user():020x}"


@pytest.mark.parametrize("text", [*TEXTS.values(), *ACTIONS.values()], ids=[*(f"text-{k}" for k in TEXTS), *(f"action-{k}" for k in ACTIONS)])
async def test_zalo_typed(stack, quiet_log, text):
    user = zl_user(stack)
    texts = await zl_case(stack, user, dumps(stack.zl.text_update(text, user_id=user)))
    assert texts or len(text) > 60_000, "every typed message is answered"


def zl_wrong(zl: FakeZalo, user: str) -> dict[str, dict[str, Any]]:
    def update(**changes: Any) -> dict[str, Any]:
        return changed(zl.text_update("quen mk", user_id=user), **changes)

    cases = {f"text-{k}": update(text=v) for k, v in WRONG_TYPES.items()}
    cases |= {
        "no-text": update(text=...),
        "message-string": {"event_name": zalo.TEXT, "message": "hello"},
        "message-missing": {"event_name": zalo.TEXT},
        "event-name-number": {**update(), "event_name": 5},
        "event-name-unknown": {**update(), "event_name": "message.location.received"},
        "from-missing": update(**{"from": ...}),
        "from-id-object": update(**{"from": {"id": {"x": 1}}}),
        "from-id-bool": update(**{"from": {"id": True}}),
        "chat-id-list": update(chat={"id": [user]}),
        "chat-string": update(chat="PRIVATE"),
        "message-id-list": update(message_id=[1]),
        "wrapped-result-list": {"ok": True, "result": [update()]},
        "wrapped-not-ok": {"ok": False, "result": update()},
    }
    return cases


ZL_WRONG = list(zl_wrong(FakeZalo(), "u"))


@pytest.mark.parametrize("case", ZL_WRONG)
async def test_zalo_wrong_types(stack, quiet_log, case):
    user = zl_user(stack)
    await zl_case(stack, user, dumps(zl_wrong(stack.zl, user)[case]))


@pytest.mark.parametrize("body", RAW.values(), ids=RAW.keys())
async def test_zalo_malformed_body(stack, quiet_log, body):
    assert await zl_post(stack, body) == 400
    await zl_case(stack, zl_user(stack), dumps(stack.zl.text_update("menu", user_id="x")))  # still answering


async def test_zalo_huge_body_is_refused(stack, quiet_log):
    assert await zl_post(stack, b'{"event_name": "' + b"a" * (1 << 20) + b'"}') == 413


# -- the dashboard API --------------------------------------------------------------------------------------------
async def dash_post(stack: Stack, body: bytes) -> tuple[int, Any]:
    headers = {"Origin": stack.url, "X-CSRF-Token": stack.csrf}
    return await post(stack, "/dashboard/api/mark", body, headers, session=stack.dashboard)


def dash_answer(status: int, data: Any) -> None:
    assert status < 500, (status, data)
    assert isinstance(data, dict), data
    assert data.get("ok") is True or (400 <= status < 500 and isinstance(data.get("error"), str) and data["error"]), (status, data)


@pytest.mark.parametrize("key", TEXTS.values(), ids=TEXTS.keys())
async def test_dashboard_mark_odd_question_keys(stack, quiet_log, key):
    dash_answer(*await dash_post(stack, dumps({"keys": [key], "status": "ignored"})))


DASH_BODIES: dict[str, bytes] = {
    **RAW,
    **{f"keys-{k}": dumps({"keys": v, "status": "ignored"}) for k, v in WRONG_TYPES.items() if k != "list"},
    **{f"status-{k}": dumps({"keys": ["gia vang"], "status": v}) for k, v in WRONG_TYPES.items()},
    **{f"entry-{k}": dumps({"keys": ["gia vang"], "status": "resolved", "entry_id": v}) for k, v in WRONG_TYPES.items()},
    "keys-empty": dumps({"keys": [], "status": "ignored"}),
    "keys-too-many": dumps({"keys": [f"k{i}" for i in range(5_000)], "status": "ignored"}),
    "keys-nested": dumps({"keys": [["a"]], "status": "ignored"}),
    "entry-unknown": dumps({"keys": ["gia vang"], "status": "resolved", "entry_id": "no-such-entry"}),
    "entry-lone-surrogate": dumps({"keys": ["gia vang"], "status": "resolved", "entry_id": "\ud800"}),
    "nested-in-keys": b'{"status": "ignored", "keys": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
}


@pytest.mark.parametrize("body", DASH_BODIES.values(), ids=DASH_BODIES.keys())
async def test_dashboard_mark_malformed_body(stack, quiet_log, body):
    status, data = await dash_post(stack, body)
    assert 400 <= status < 500, (status, data)
    dash_answer(status, data)


DASH_QUERIES = {
    "topic-huge": "topic=" + "x" * 5_000,
    "topic-invalid-utf8": "topic=%FF%FE",
    "topic-surrogate-bytes": "topic=%ED%A0%80",
    "since-not-a-date": "since=2025-02-30",
    "since-superscript": "since=%C2%B2",
    "until-before-since": "since=2025-06-01&until=2025-01-01",
    "channel-control": "channel=%00%1B",
    "lang-html": "lang=%3Cscript%3E",
}


@pytest.mark.parametrize("query", DASH_QUERIES.values(), ids=DASH_QUERIES.keys())
@pytest.mark.parametrize("path", ["/dashboard/api/section/totals", "/dashboard/export/totals.csv", "/dashboard/api/section/%FF%3Cx%3E"])
async def test_dashboard_reads_with_odd_filters(stack, quiet_log, path, query):
    async with stack.dashboard.get(f"{stack.url}{path}?{query}") as r:
        body = await r.read()
        assert r.status < 500, (r.status, body[:300])
        assert r.status in (200, 400, 404), r.status
        assert body.strip()


# -- admin ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("token", ["", "wrong", "é" * 10, "x" * 8000], ids=["empty", "wrong", "non-ascii", "huge"])
async def test_admin_reload_with_a_forged_token_is_refused(stack, quiet_log, token):
    status, data = await post(stack, "/admin/reload", b"", {"Authorization": f"Bearer {token}".encode("utf-8").decode("latin-1")})
    assert status in (400, 403, 429) and data["error"], (status, data)
