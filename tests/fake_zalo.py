"""A loopback fake of the Zalo Bot Platform API, for end-to-end tests, in the format docs/zalo.md
records:

  GET or POST /bot<token>/<methodName>   parameters in the query string, JSON, form or multipart body
  -> {"ok": true, "result": ...}
  or {"ok": false, "error_code": N, "description": "..."}

Methods, case-sensitive: getMe, getUpdates, setWebhook, deleteWebhook, getWebhookInfo, sendMessage,
sendPhoto, sendSticker, sendChatAction. Like the docs it answers an unknown token with 401 and an unknown
method name with 400; getUpdates takes only `timeout` (a String, seconds, default 30), returns ONE update
per call (no offset, no array) and, when nothing came within the timeout, error 408; sendMessage wants
`chat_id` and `text` of 1..2000 characters; setWebhook wants an https `url` and an 8..256-character
`secret_token`; sendChatAction answers {"ok": true} with no result, as the docs' sample. Timestamps are
epoch milliseconds; ids are opaque 20-hex-digit strings.

Where the docs are silent the fake chooses, and says so here:
  * An error's HTTP status is its error_code (openclaw treats both that and an HTTP 200 `ok: false` body as
    failures); `fail_next(..., http_status=200)` gives the other form.
  * 429 carries no retry hint unless a test asks (`retry_after=` adds a standard Retry-After header).
  * getUpdates while a webhook is set fails with 400 (the docs only say the two are exclusive).
  * Text length is counted in UTF-16 units (the stricter reading); a chat the bot never heard from is 400.
  * `hold_limit` caps how long an empty getUpdates is held (so tests need not wait 30 s).

Tests build updates (`text_update`, `image_update`, `sticker_update`, `unsupported_update`; `wrap` gives the
documented {"ok": true, "result": ...} shape), `queue` them for getUpdates or `deliver` them to a webhook as
Zalo would (X-Bot-Api-Secret-Token header), read what the bot did (`requests`, `wait_for`, `calls_to`) and
inject failures (`fail_next("sendMessage", 429)`, `fail_next("sendMessage", 500, times=8)`) or latency (`slow`). The loopback server, the call log
(`calls`, `mark`, `requests`, `calls_to`) and `close` are tests/webutil.FakeBotApi's.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from webutil import Call, FakeBotApi

MAX_TEXT = 2000
DESCRIPTIONS = {400: "Bad Request", 401: "Unauthorized", 403: "Internal server error", 404: "Not found", 408: "Request timeout", 429: "Quota exceeded"}
METHODS = ("getMe", "getUpdates", "setWebhook", "deleteWebhook", "getWebhookInfo", "sendMessage", "sendPhoto", "sendSticker", "sendChatAction")


class ApiError(Exception):
    def __init__(self, code: int, description: str | None = None, http_status: int | None = None, retry_after: int | None = None):
        super().__init__(description)
        self.code = code
        self.description = description or DESCRIPTIONS.get(code, "Internal Server Error")
        self.http_status = code if http_status is None else http_status
        self.retry_after = retry_after

    def response(self) -> web.Response:
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None
        return web.json_response({"ok": False, "error_code": self.code, "description": self.description}, status=self.http_status, headers=headers)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def now_ms() -> int:
    return int(time.time() * 1000)


class FakeZalo(FakeBotApi):
    def __init__(self, token: str = "zt-123"):
        super().__init__()
        self.token = token
        self.me = {"id": "1459232241454765289", "account_name": "bot.DigiGuide", "account_type": "BASIC", "can_join_groups": False}
        self.chats: set[str] = set()
        self.sent: list[dict[str, Any]] = []  # messages the bot sent, in order: chat_id, text, message_id
        self.webhook: dict[str, Any] | None = None  # {"url", "secret_token", "updated_at"}
        self.hold_limit: float | None = None
        self._updates: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    @property
    def api_base(self) -> str:
        """What ZALO_API_BASE should be: the client appends /bot<token>/<method>."""
        return f"http://127.0.0.1:{self.port}"

    # -- building, queueing and delivering updates ------------------------------------------------------------
    def new_id(self) -> str:
        return f"{next(self._ids):020x}"

    def _message(self, user_id: str, chat_type: str = "PRIVATE", chat_id: str | None = None, is_bot: bool = False, **content: Any) -> dict[str, Any]:
        chat = chat_id or user_id
        self.chats.add(chat)
        return {
            "from": {"id": user_id, "display_name": f"Citizen {user_id[-4:]}", "is_bot": is_bot},
            "chat": {"id": chat, "chat_type": chat_type},
            **content,
            "message_id": self.new_id(),
            "date": now_ms(),
        }

    def text_update(self, text: str, user_id: str = "6ede9afa66b88fe6d6a9", **kw: Any) -> dict[str, Any]:
        """The bare shape Zalo sends in practice: {"event_name", "message"} at the top level."""
        return {"event_name": "message.text.received", "message": self._message(user_id, text=text, **kw)}

    def image_update(self, user_id: str = "6ede9afa66b88fe6d6a9", caption: str | None = None) -> dict[str, Any]:
        extra = {"caption": caption} if caption else {}
        return {"event_name": "message.image.received", "message": self._message(user_id, photo="https://example.invalid/p.jpg", **extra)}

    def sticker_update(self, user_id: str = "6ede9afa66b88fe6d6a9") -> dict[str, Any]:
        return {"event_name": "message.sticker.received", "message": self._message(user_id, sticker="bfe458bf64fa8da4d4eb", url="https://example.invalid/s.png")}

    def unsupported_update(self, user_id: str = "6ede9afa66b88fe6d6a9") -> dict[str, Any]:
        """What Zalo sends for voice/video/files, and instead of the content for protected senders."""
        return {"event_name": "message.unsupported.received", "message": self._message(user_id)}

    @staticmethod
    def wrap(update: dict[str, Any]) -> dict[str, Any]:
        """The documented shape: {"ok": true, "result": update}."""
        return {"ok": True, "result": update}

    def know_chat(self, chat_id: str) -> str:
        """Let the bot send to a chat without an update (as if the citizen had written before)."""
        self.chats.add(chat_id)
        return chat_id

    def queue(self, *updates: dict[str, Any]) -> None:
        """Make updates available to getUpdates, one per call (and wake a held long poll)."""
        self._updates.extend(updates)
        self._notify()

    async def deliver(self, server_url: str, body: dict[str, Any] | bytes, secret: Any = ..., path: str | None = None) -> int:
        """POST an update to our server as Zalo would: JSON, the secret in X-Bot-Api-Secret-Token (the one
        registered with setWebhook unless given; None sends no header), to the registered URL's path."""
        if secret is ...:
            secret = self.webhook["secret_token"] if self.webhook else None
        path = path or (urlsplit(self.webhook["url"]).path if self.webhook else "/zalo/webhook")
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Bot-Api-Secret-Token"] = secret
        data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        async with aiohttp.ClientSession() as session, session.post(server_url + path, data=data, headers=headers) as response:
            return response.status

    # -- inspecting what the bot did (and the call log: FakeBotApi) -----------------------------------------------
    async def wait_for(self, method: str, count: int = 1, since: int = 0, timeout: float = 5.0, status: int = 200) -> list[Call]:
        """Wait until `count` calls to `method` after `since` were answered with `status`; return them."""
        deadline = time.monotonic() + timeout
        while len(found := [c for c in self.calls_to(method, since) if c.status == status]) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"expected {count} {method} call(s) answered {status}, saw {[(c.status, c.params) for c in self.calls_to(method, since)]}")
            await self._wait_change(remaining)
        return found

    async def texts(self, count: int = 1, since: int = 0, timeout: float = 5.0) -> list[str]:
        """Wait for `count` delivered sendMessage calls after `since`; return their texts."""
        return [c.params["text"] for c in await self.wait_for("sendMessage", count, since, timeout)]

    def fail_next(self, method: str, code: int, description: str | None = None, http_status: int | None = None, retry_after: int | None = None, times: int = 1, after: int = 0) -> None:
        """The next `times` calls to `method` fail with `code` (HTTP status = code unless http_status is given),
        after `after` calls answered as usual (a failure half-way through a reply of several messages)."""
        self._failures.setdefault(method, []).extend([None] * after + [ApiError(code, description, http_status, retry_after)] * times)

    def slow(self, method: str, seconds: float) -> None:
        self._latency[method] = seconds

    # -- HTTP ----------------------------------------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            params = await self._params(request)
        except ApiError as exc:
            return exc.response()
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401)
            if method not in METHODS:  # names are case-sensitive: "sendmessage" is unknown
                raise ApiError(400, "Bad Request: unknown method")
            await asyncio.sleep(self._latency.get(method, 0))
            failures = self._failures.get(method)
            if failures and (failure := failures.pop(0)) is not None:  # None: this call is answered as usual
                raise failure
            result = await getattr(self, f"_m_{method}")(params)
        except ApiError as exc:
            self._record(method, params, exc.code)
            return exc.response()
        self._record(method, params, 200)
        return web.json_response({"ok": True} if result is None else {"ok": True, "result": result})

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if not request.can_read_body:
            return params
        raw = await request.read()
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "Bad Request: requests must be UTF-8") from None
        if request.content_type == "application/json":
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                raise ApiError(400, "Bad Request: invalid JSON") from None
            if not isinstance(body, dict):
                raise ApiError(400, "Bad Request: JSON body must be an object")
            params.update(body)
        else:
            params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        return params

    # -- methods ----------------------------------------------------------------------------------------------------------
    async def _m_getMe(self, _params: dict[str, Any]) -> dict[str, Any]:
        return dict(self.me)

    async def _m_getUpdates(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.webhook is not None:
            raise ApiError(400, "Bad Request: webhook is set; call deleteWebhook before getUpdates")
        raw = params.get("timeout", "30")
        if not isinstance(raw, str) or not raw.isdigit():
            raise ApiError(400, "Bad Request: timeout must be a String of seconds")
        hold = float(raw) if self.hold_limit is None else min(float(raw), self.hold_limit)
        deadline = time.monotonic() + hold
        while not self._updates and not self._closed and (remaining := deadline - time.monotonic()) > 0:
            await self._wait_change(remaining)
        if not self._updates:
            raise ApiError(408)
        return self._updates.pop(0)

    async def _m_setWebhook(self, params: dict[str, Any]) -> dict[str, Any]:
        url, secret = params.get("url"), params.get("secret_token")
        if not isinstance(url, str) or not url.startswith("https://"):
            raise ApiError(400, "Bad Request: url must be an HTTPS URL")
        if not isinstance(secret, str) or not 8 <= len(secret) <= 256:
            raise ApiError(400, "Bad Request: secret_token must be 8 to 256 characters")
        self.webhook = {"url": url, "secret_token": secret, "updated_at": now_ms()}
        return {"url": url, "updated_at": self.webhook["updated_at"]}

    async def _m_deleteWebhook(self, _params: dict[str, Any]) -> dict[str, Any]:
        self.webhook = None
        return {"url": "", "updated_at": now_ms()}

    async def _m_getWebhookInfo(self, _params: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.webhook["url"] if self.webhook else "", "updated_at": self.webhook["updated_at"] if self.webhook else now_ms()}

    def _chat(self, params: dict[str, Any]) -> str:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, str) or chat_id not in self.chats:
            raise ApiError(400, "Bad Request: chat_id is missing, not a String or not a known chat")
        return chat_id

    @staticmethod
    def _text(value: Any, what: str, required: bool = True) -> str | None:
        if value is None and not required:
            return None
        if not isinstance(value, str) or not 1 <= utf16_len(value) <= MAX_TEXT:
            raise ApiError(400, f"Bad Request: {what} must be 1 to {MAX_TEXT} characters")
        return value

    def _sent(self, chat_id: str, **content: Any) -> dict[str, Any]:
        message = {"message_id": self.new_id(), "date": now_ms()}
        self.sent.append({"chat_id": chat_id, **content, **message})
        return message

    async def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat(params)
        return self._sent(chat_id, text=self._text(params.get("text"), "text"))

    async def _m_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat(params)
        photo = params.get("photo")
        if not isinstance(photo, str) or not photo.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: photo must be an image URL")
        return self._sent(chat_id, photo=photo, caption=self._text(params.get("caption"), "caption", required=False))

    async def _m_sendSticker(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self._chat(params)
        if not isinstance(params.get("sticker"), str) or not params["sticker"]:
            raise ApiError(400, "Bad Request: sticker is required")
        return self._sent(chat_id, sticker=params["sticker"])

    async def _m_sendChatAction(self, params: dict[str, Any]) -> None:
        self._chat(params)
        if params.get("action") not in ("typing", "upload_photo"):
            raise ApiError(400, "Bad Request: action must be typing or upload_photo")
        return None
