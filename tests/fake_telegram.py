"""A loopback fake of the Telegram Bot API, strict where Telegram is strict, for end-to-end tests.

The real python-telegram-bot Application talks to it over HTTP exactly as it talks to Telegram
(`base_url=http://127.0.0.1:<port>/bot`, PTB appends the token):

  POST /bot<token>/<method>   form-encoded (objects as JSON strings), JSON, or multipart parameters
  -> {"ok": true, "result": ...}
  or {"ok": false, "error_code": N, "description": "...", "parameters": {"retry_after": N}}

Methods: getMe, getUpdates (long-polled: held until an update is queued or `timeout` passes; `offset`
confirms and drops earlier updates), sendMessage, editMessageText, answerCallbackQuery, setWebhook,
deleteWebhook, getWebhookInfo, setMyCommands. Like Telegram it rejects an unknown token (401), unknown
chats, empty or over-long texts, HTML that does not parse (unescaped `<` or `&`), callback_data over 64
bytes, an edit that changes nothing, and getUpdates while a webhook is set (409).

Tests build updates (`text_update`, `callback_update`, `photo_update`), `queue` them for getUpdates (or
POST them to a webhook themselves), read what the bot did (`requests`, `wait_for`) and inject failures
(`fail_next("sendMessage", 429, retry_after=1)`, `fail_next("sendMessage", 500, times=8)`), a citizen who
blocked the bot (`block(user_id)`: sendMessage to them answers 403 "Forbidden: bot was blocked by the user",
as Telegram does) or latency (`slow("sendMessage", 0.2)`). The loopback server, the call log (`calls`, `mark`, `requests`, `calls_to`) and `close` are tests/webutil.FakeBotApi's.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import time
from typing import Any

from aiohttp import web

from webutil import Call, FakeBotApi  # noqa: F401 - Call stays importable from here

JSON_FIELDS = {"reply_markup", "entities", "allowed_updates", "commands", "scope", "link_preview_options", "reply_parameters", "caption_entities"}
MAX_TEXT = 4096
_TAG = re.compile(r"</?(?:b|strong|i|em|u|ins|s|strike|del|code|pre|a|tg-spoiler|span|blockquote|tg-emoji)(?:\s[^<>]*)?>", re.I)
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")
_COMMAND = re.compile(r"^/[A-Za-z0-9_]{1,32}(?:@\w+)?")
_MENTION = re.compile(r"@\w{5,32}")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_BOT_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")


class ApiError(Exception):
    """An error answer, shaped as Telegram shapes it."""

    def __init__(self, status: int, description: str, retry_after: int | None = None):
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_html(text: str) -> str:
    """The text a user would see for parse_mode=HTML, or ApiError 400 as Telegram gives it."""
    without_tags = _TAG.sub("", text)
    leftover = _ENTITY.sub("", without_tags)
    for bad in ("<", "&"):
        if bad in leftover:
            offset = len(text.encode()[: text.find(bad)])
            raise ApiError(400, f"Bad Request: can't parse entities: Unexpected {bad!r} at byte offset {offset}")
    return html.unescape(without_tags)


class FakeTelegram(FakeBotApi):
    def __init__(self, token: str = "123:ABC", username: str = "digiguide_test_bot"):
        super().__init__()
        self.token = token
        self.bot_user = {"id": int(token.split(":")[0]), "is_bot": True, "first_name": "DigiGuide", "username": username}
        self.chats: dict[int, dict[str, Any]] = {}
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.webhook: dict[str, Any] | None = None
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.blocked: set[int] = set()  # private chats whose user blocked the bot
        self._updates: list[dict[str, Any]] = []
        self._poll_turn = 0  # getUpdates calls so far: the latest one is the only live long poll
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._query_ids = itertools.count(1)

    @property
    def api_base(self) -> str:
        """What TELEGRAM_API_BASE should be: PTB appends the token."""
        return f"http://127.0.0.1:{self.port}/bot"

    # -- building and queueing updates ---------------------------------------------------------------------
    def user(self, user_id: int = 1001, lang: str | None = "vi") -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": f"Citizen {user_id}"}
        if lang:
            user["language_code"] = lang
        return user

    def private_chat(self, user_id: int = 1001) -> dict[str, Any]:
        return self._known({"id": user_id, "type": "private", "first_name": f"Citizen {user_id}"})

    def group_chat(self, chat_id: int = -1001234567890, title: str = "Phường Thanh Miếu") -> dict[str, Any]:
        return self._known({"id": chat_id, "type": "supergroup", "title": title})

    def text_update(self, text: str, *, user_id: int = 1001, lang: str | None = "vi", chat: dict[str, Any] | None = None, reply_to: dict[str, Any] | None = None) -> dict[str, Any]:
        """A user's text message; commands and @mentions get entities (UTF-16 offsets) as Telegram sends."""
        message = self._user_message(user_id, lang, chat, text=text)
        entities = [{"type": "bot_command", "offset": 0, "length": _utf16_len(m.group())} for m in [_COMMAND.match(text)] if m]
        entities += [{"type": "mention", "offset": _utf16_len(text[: m.start()]), "length": _utf16_len(m.group())} for m in _MENTION.finditer(text)]
        if entities:
            message["entities"] = entities
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        return self._update(message=message)

    def photo_update(self, *, user_id: int = 1001, lang: str | None = "vi", chat: dict[str, Any] | None = None) -> dict[str, Any]:
        photo = [{"file_id": f"photo-{n}", "file_unique_id": f"u{n}", "width": 90 * n, "height": 90 * n} for n in (1, 2)]
        return self._update(message=self._user_message(user_id, lang, chat, photo=photo))

    def callback_update(self, data: str, message_id: int, *, user_id: int = 1001, lang: str | None = "vi", chat_id: int | None = None) -> dict[str, Any]:
        """A tap on a button of a message the bot sent (the message as it looks now, after edits)."""
        message = self.messages[(chat_id if chat_id is not None else user_id, message_id)]
        query = {"id": str(next(self._query_ids)), "from": self.user(user_id, lang), "chat_instance": "ci-1", "data": data, "message": message}
        return self._update(callback_query=query)

    def queue(self, *updates: dict[str, Any]) -> None:
        """Make updates available to getUpdates (and wake a held long poll)."""
        self._updates.extend(updates)
        self._notify()

    # -- inspecting what the bot did (and the call log: FakeBotApi) ---------------------------------------------
    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's messages in a chat as they look now (after edits), oldest first."""
        return [m for (c, _), m in sorted(self.messages.items()) if c == chat_id]

    async def wait_for(self, method: str, count: int = 1, since: int = 0, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until the bot made `count` successful calls to `method` after `since`; return them."""
        deadline = time.monotonic() + timeout
        while len(found := self.requests(method, since)) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"expected {count} {method} call(s), saw {len(found)}: {found}")
            await self._wait_change(remaining)
        return found

    def fail_next(self, method: str, status: int, description: str | None = None, retry_after: int | None = None, times: int = 1, after: int = 0) -> None:
        """The next `times` calls to `method` fail like Telegram would (429 with retry_after, 500, 400, ...),
        after `after` calls answered as usual (a failure half-way through a reply of several messages)."""
        default = {429: f"Too Many Requests: retry after {retry_after}", 500: "Internal Server Error", 502: "Bad Gateway"}
        error = ApiError(status, description or default.get(status, "Bad Request: injected"), retry_after)
        self._failures.setdefault(method.lower(), []).extend([None] * after + [error] * times)

    def block(self, user_id: int) -> None:
        """The user blocks the bot: sending to their private chat answers 403 from now on."""
        self.blocked.add(user_id)

    def slow(self, method: str, seconds: float) -> None:
        """Answer every call to `method` only after `seconds` (a slow Telegram; 0 to undo)."""
        self._latency[method.lower()] = seconds

    # -- HTTP ---------------------------------------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(ApiError(401, "Unauthorized").body(), status=401)
        method = request.match_info["method"]
        handler = getattr(self, f"_m_{method.lower()}", None)
        if handler is None:
            return web.json_response(ApiError(404, "Not Found").body(), status=404)
        params = await self._params(request)
        await asyncio.sleep(self._latency.get(method.lower(), 0))
        try:
            failures = self._failures.get(method.lower())
            if failures and (failure := failures.pop(0)) is not None:  # None: this call is answered as usual
                raise failure
            result = handler(params)
            if asyncio.iscoroutine(result):
                result = await result
        except ApiError as exc:
            self._record(method, params, exc.status)
            return web.json_response(exc.body(), status=exc.status)
        self._record(method, params, 200)
        return web.json_response({"ok": True, "result": result})

    async def _params(self, request: web.Request) -> dict[str, Any]:
        """Parameters from the query string and a JSON, form or multipart body, decoded like Telegram."""
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.can_read_body:
            params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        for key, value in params.items():
            if key in JSON_FIELDS and isinstance(value, str):
                params[key] = json.loads(value)
        return params

    # -- Bot API methods ------------------------------------------------------------------------------------------
    def _m_getme(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}

    async def _m_getupdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first")
        offset, limit, timeout = (int(float(params.get(k, d))) for k, d in (("offset", 0), ("limit", 100), ("timeout", 0)))
        if offset > 0:  # confirms every update before offset: Telegram forgets them
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        # Telegram serves one long poll per bot: a second getUpdates ends the one still waiting with 409
        # (two bot instances polling, e.g. two workers that both think they hold the polling)
        self._poll_turn += 1
        mine = self._poll_turn
        self._notify()
        deadline = time.monotonic() + timeout
        while not self._updates and not self._closed and (remaining := deadline - time.monotonic()) > 0:
            await self._wait_change(remaining)
            if self._poll_turn != mine:
                raise ApiError(409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running")
        return self._updates[: max(1, min(limit, 100))]

    def _m_sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        if chat["id"] in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        text = self._text(params)
        message = self._bot_message(chat, text, params.get("reply_markup"))
        self.messages[(chat["id"], message["message_id"])] = message
        return message

    def _m_editmessagetext(self, params: dict[str, Any]) -> dict[str, Any]:
        if "inline_message_id" in params:
            raise ApiError(400, "Bad Request: inline messages are not supported by this fake")
        chat = self._chat(params)
        key = (chat["id"], int(params.get("message_id", 0)))
        old = self.messages.get(key)
        if old is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        text, markup = self._text(params), params.get("reply_markup")
        if text == old["text"] and markup == old.get("reply_markup"):
            raise ApiError(400, "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message")
        message = {**self._bot_message(chat, text, markup), "message_id": key[1], "date": old["date"], "edit_date": int(time.time())}
        self.messages[key] = message
        return message

    def _m_answercallbackquery(self, params: dict[str, Any]) -> bool:
        if not params.get("callback_query_id"):
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        if len(params.get("text", "")) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    def _m_setwebhook(self, params: dict[str, Any]) -> bool:
        url = params.get("url", "")
        if url and not url.startswith("https://"):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET.match(secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        self.webhook = params if url else None
        return True

    def _m_deletewebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = None
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self._updates.clear()
        return True

    def _m_getwebhookinfo(self, _params: dict[str, Any]) -> dict[str, Any]:
        url = self.webhook["url"] if self.webhook else ""
        return {"url": url, "has_custom_certificate": False, "pending_update_count": len(self._updates)}

    def _m_setmycommands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands") or []
        for c in commands:
            if not _BOT_COMMAND.match(c.get("command", "")) or not 1 <= len(c.get("description", "")) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        self.commands[params.get("language_code", "")] = commands
        return True

    # -- pieces ----------------------------------------------------------------------------------------------------------
    def _known(self, chat: dict[str, Any]) -> dict[str, Any]:
        self.chats[chat["id"]] = chat
        return chat

    def _chat(self, params: dict[str, Any]) -> dict[str, Any]:
        raw = str(params.get("chat_id", ""))
        chat = self.chats.get(int(raw)) if raw.lstrip("-").isdigit() else None
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def _text(self, params: dict[str, Any]) -> str:
        text = params.get("text", "")
        if params.get("parse_mode", "").upper() == "HTML":
            text = parse_html(text)
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        markup = params.get("reply_markup") or {}
        for row in markup.get("inline_keyboard", []):
            for button in row:
                if "callback_data" in button and not 1 <= len(button["callback_data"].encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return text

    def _bot_message(self, chat: dict[str, Any], text: str, markup: dict[str, Any] | None) -> dict[str, Any]:
        message = {"message_id": next(self._message_ids), "from": self.bot_user, "chat": chat, "date": int(time.time()), "text": text}
        if markup:
            message["reply_markup"] = markup
        return message

    def _user_message(self, user_id: int, lang: str | None, chat: dict[str, Any] | None, **content: Any) -> dict[str, Any]:
        chat = chat or self.private_chat(user_id)
        return {"message_id": next(self._message_ids), "from": self.user(user_id, lang), "chat": chat, "date": int(time.time()), **content}

    def _update(self, **content: Any) -> dict[str, Any]:
        return {"update_id": next(self._update_ids), **content}
