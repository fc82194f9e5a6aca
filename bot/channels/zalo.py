"""Zalo channel: a thin aiohttp client of the Zalo Bot Platform API <-> the engine.

Why no SDK: the "official" python-zalo-bot is a python-telegram-bot fork that calls asyncio.run() inside
a running loop, swallows `ok: false` answers and only parses one webhook body shape; the others are worse
(docs/zalo.md). The API is 9 methods on one URL scheme, so we speak it directly:

    POST <ZALO_API_BASE>/bot<token>/<method>   JSON body
    -> {"ok": true, "result": ...}  or  {"ok": false, "error_code": N, "description": "..."}

The token is part of every URL, so no URL is ever logged or put in an exception: errors name the method,
the error_code and the description only.

Two modes, chosen by Settings:
  polling  ZALO_BOT_TOKEN set, ZALO_WEBHOOK_URL not: deleteWebhook, then long-poll getUpdates (one update
           per call, no offset; error 408 means "nothing new").
  webhook  both set: setWebhook with a secret (ZALO_WEBHOOK_SECRET, or one generated next to the database),
           and Zalo POSTs to /zalo/webhook with it in X-Bot-Api-Secret-Token (checked in constant time).

Every update is answered (webhook: 200) at once and handled in a background task: duplicates (same event and
message id within 5 minutes) are dropped, one chat's updates run one at a time in arrival order, different
chats concurrently. Zalo has no buttons: a Reply's buttons become a numbered list (the engine maps a typed
number back to the option) and replies are cut to Zalo's 2000 characters at paragraph boundaries.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

import aiohttp
from aiohttp import web

from .. import jsonbody
from ..engine import Incoming
from ..handover.courier import Sender
from ..handover.store import OutboxItem
from ..privacy import hash_user
from ..replies import Reply, numbered_text, split_text
from .base import Backoff, ChannelStatus, FloodGuard, KeyedLock, RecentIds, RecentLangs, ServerContext, WebhookSpec, is_option_number, secret_matches, setup_messaging, with_backoff
from .outbox import ONCE, NotConnected, Resume

log = logging.getLogger("digiguide.zalo")

CHANNEL = "zalo"
WEBHOOK_PATH = "/zalo/webhook"
SECRET_HEADER = "X-Bot-Api-Secret-Token"
SECRET_FILE = "zalo_webhook_secret"
SECRET_MIN, SECRET_MAX = 8, 256  # setWebhook's rule for secret_token
MAX_TEXT = 2000  # sendMessage text: 1..2000 characters (counted here in UTF-16 units, the stricter reading)
POLL_TIMEOUT = 30  # seconds a getUpdates long poll may be held (the documented default)
REQUEST_TIMEOUT = 15.0  # seconds for any other call
TYPING_TIMEOUT = 3.0  # the typing action is a courtesy: never hold an answer longer than this for it
USER_RATE, USER_PER = 20, 60.0  # per citizen, typed: 20 messages in a burst, then one every 3 s (as Telegram)
SEND_BACKOFF = Backoff(attempts=5, base=0.5, cap=60.0)  # ~0.5+1+2+4 s without a retry-after hint
POLL_BACKOFF = Backoff(base=1.0, cap=60.0)
SHUTDOWN_GRACE = 10.0  # seconds to finish updates in flight at shutdown
MAX_IN_FLIGHT = 2_000  # background tasks; beyond this the webhook answers 503 (Zalo may retry later)
WEBHOOK = WebhookSpec(
    channel=CHANNEL,
    platform="Zalo",
    env="ZALO",
    path=WEBHOOK_PATH,
    secret_file=SECRET_FILE,
    secret_ok=lambda secret: SECRET_MIN <= len(secret) <= SECRET_MAX,
    secret_rule=f"must be {SECRET_MIN} to {SECRET_MAX} characters",
    logger=log,
)

TEXT = "message.text.received"
IMAGE = "message.image.received"
STICKER = "message.sticker.received"
UNSUPPORTED = "message.unsupported.received"  # also sent INSTEAD of the content for protected senders
EVENTS = frozenset({TEXT, IMAGE, STICKER, UNSUPPORTED})


# -- the API client ------------------------------------------------------------------------------------------
class ZaloError(Exception):
    """A failed API call: rejected by Zalo (error_code, description) or not answered (error_code None).

    The message names the method only, never the URL (which holds the token)."""

    def __init__(self, method: str, error_code: int | None, description: str, retry_after: float | None = None):
        super().__init__(f"zalo {method} failed: error_code={error_code} description={description}")
        self.method, self.error_code, self.description, self.retry_after = method, error_code, description, retry_after

    @property
    def retryable(self) -> bool:
        """Worth trying again: no answer, 408 timeout, 429 quota, 5xx, and 403, which the Zalo docs define
        as "Internal server error". 400 (bad request) and 401 (bad token) are final."""
        code = self.error_code
        return code is None or code in (403, 408, 429) or code >= 500


def _retry_after(response: aiohttp.ClientResponse, body: dict[str, Any]) -> float | None:
    """Zalo documents no retry-after; honour one if it comes (HTTP header, or Telegram-style parameters)."""
    parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    for value in (response.headers.get("Retry-After"), parameters.get("retry_after")):
        try:
            seconds = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if seconds >= 0:
            return seconds
    return None


class ZaloBotApi:
    """The documented Bot API methods, POST + JSON, `ok: false` and non-2xx both raised as ZaloError."""

    def __init__(self, token: str, base: str, session: aiohttp.ClientSession | None = None):
        self._token = token
        self._base = base.rstrip("/")
        self._session = session

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    async def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = REQUEST_TIMEOUT) -> Any:
        """Call `method`; return `result` (None when the answer has none, as sendChatAction's sample)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        url = f"{self._base}/bot{self._token}/{method}"
        payload = json.dumps(params or {}, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        try:
            async with self._session.post(url, data=payload, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                raw = await response.read()
                status = response.status
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                if not isinstance(body, dict):
                    body = {}
                retry_after = _retry_after(response, body)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            detail = self._scrub(str(exc))[:200]
            raise ZaloError(method, None, f"no answer ({type(exc).__name__}{': ' + detail if detail else ''})") from None
        if status < 300 and body.get("ok") is True:
            return body.get("result")
        code = body.get("error_code")
        code = code if isinstance(code, int) and not isinstance(code, bool) else (status if status >= 300 else None)
        description = self._scrub(str(body.get("description") or (f"HTTP {status}" if body else f"HTTP {status}, not a JSON answer")))[:300]
        if not (method == "getUpdates" and code == 408):  # 408 on a long poll only means "nothing new"
            log.warning("zalo %s rejected: error_code=%s description=%s", method, code, description)
        raise ZaloError(method, code, description, retry_after)

    async def get_me(self) -> dict[str, Any]:
        return await self.call("getMe")

    async def get_updates(self, timeout: int = POLL_TIMEOUT) -> Any:
        """One update (a dict) per call; raises ZaloError 408 when nothing came within `timeout`."""
        return await self.call("getUpdates", {"timeout": str(timeout)}, timeout=timeout + 10)

    async def set_webhook(self, url: str, secret_token: str) -> dict[str, Any]:
        return await self.call("setWebhook", {"url": url, "secret_token": secret_token})

    async def delete_webhook(self) -> dict[str, Any]:
        return await self.call("deleteWebhook")

    async def get_webhook_info(self) -> dict[str, Any]:
        return await self.call("getWebhookInfo")

    async def send_message(self, chat_id: str, text: str) -> dict[str, Any]:
        return await self.call("sendMessage", {"chat_id": chat_id, "text": text})

    async def send_photo(self, chat_id: str, photo_url: str, caption: str | None = None) -> dict[str, Any]:
        """`photo` is an image URL; Zalo may fetch it before answering, hence the longer timeout."""
        params = {"chat_id": chat_id, "photo": photo_url, **({"caption": caption} if caption else {})}
        return await self.call("sendPhoto", params, timeout=REQUEST_TIMEOUT * 4)

    async def send_chat_action(self, chat_id: str, action: str = "typing", timeout: float = REQUEST_TIMEOUT) -> None:
        await self.call("sendChatAction", {"chat_id": chat_id, "action": action}, timeout=timeout)

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


# -- updates ------------------------------------------------------------------------------------------------------
def unwrap(body: Any) -> dict[str, Any] | None:
    """An update from either documented body shape: wrapped {"ok": true, "result": {...}} or bare
    {"event_name": ..., "message": ...} (what Zalo sends in practice); None if neither."""
    update = body["result"] if isinstance(body, dict) and body.get("ok") is True and isinstance(body.get("result"), dict) else body
    if not isinstance(update, dict) or not isinstance(update.get("event_name"), str):
        return None
    return update


def _id(value: Any) -> str | None:
    """Zalo ids are opaque strings; accept a number too, refuse anything else."""
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        return None
    return str(value)


@dataclass(frozen=True)
class Inbound:
    """The parts of an update the channel uses."""

    event: str
    user_id: str
    chat_id: str
    message_id: str | None
    text: str | None
    from_bot: bool

    @classmethod
    def parse(cls, update: dict[str, Any]) -> Inbound | None:
        message = update.get("message")
        if not isinstance(message, dict):
            return None
        sender = message.get("from") if isinstance(message.get("from"), dict) else {}
        chat = message.get("chat") if isinstance(message.get("chat"), dict) else {}
        user_id = _id(sender.get("id"))
        chat_id = _id(chat.get("id")) or user_id  # in a private chat chat.id == from.id
        if user_id is None or chat_id is None:
            return None
        text = message.get("text")
        return cls(update["event_name"], user_id, chat_id, _id(message.get("message_id")), text if isinstance(text, str) else None, sender.get("is_bot") is True)


# -- rendering: Reply -> Zalo texts ---------------------------------------------------------------------------------
def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def chunks(text: str, limit: int = MAX_TEXT, raw_limit: int | None = None) -> list[str]:
    """NFC text cut into messages of at most `limit` UTF-16 units, at paragraphs first (then lines, words).

    Zalo's 2000 may count code points or UTF-16 units (undocumented); emoji count 2 in UTF-16, so we
    count that way and are safe either way. A part that is over only in UTF-16 is cut again, smaller."""
    text = unicodedata.normalize("NFC", text)
    out: list[str] = []
    for part in split_text(text, raw_limit or limit):
        size = utf16_len(part)
        if size <= limit:
            out.append(part)
        else:
            out.extend(chunks(part, limit, max(1, len(part) * limit // size)))
    return [part for part in out if part.strip()]


def render(replies: Iterable[Reply], hint: str) -> list[str]:
    """Each reply with its buttons as a numbered list (rendered first), then cut to Zalo's limit."""
    return [part for reply in replies for part in chunks(numbered_text(reply, hint))]


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ZaloError) and exc.retryable


def retryable_later(exc: BaseException) -> bool:
    """For the courier: what ZaloError.retryable accepts, and the channel not being connected right now."""
    return isinstance(exc, NotConnected) or _retryable(exc)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ZaloError):
        return f"error_code={exc.error_code} description={exc.description}"
    return type(exc).__name__


# -- the channel ------------------------------------------------------------------------------------------------------
class ZaloChannel:
    def __init__(self, ctx: ServerContext, secret: str | None = None):
        settings = ctx.settings
        self.ctx = ctx
        self.secret = secret  # set in webhook mode only
        self.api = ZaloBotApi(settings.zalo_token, settings.zalo_api_base)
        self.flood = FloodGuard(ctx.budget("zalo", USER_RATE, USER_PER))  # a typed option number counts as a tap
        self.send_backoff = SEND_BACKOFF
        self.poll_timeout = POLL_TIMEOUT
        self.running = False
        self._chats = KeyedLock()
        self._seen = RecentIds()
        self.account_name: str | None = None  # the bot account's name, from getMe at start
        self._langs = RecentLangs()
        self._tasks: set[asyncio.Task[None]] = set()
        self._poller: asyncio.Task[None] | None = None
        self._resume = Resume()  # outbox items that failed half-way (bot.channels.outbox)

    @property
    def webhook(self) -> bool:
        return self.secret is not None

    # -- lifecycle (aiohttp signals) ------------------------------------------------------------------------------
    async def start(self, _app: web.Application) -> None:
        """Check the token, then register the webhook or clear it and start polling. A failure is logged and
        reported on /healthz; the rest of the server keeps running rather than dying with Zalo."""
        try:
            me = await self.api.get_me()
            if self.webhook:
                await self.api.set_webhook(self.ctx.settings.zalo_webhook_url, self.secret)
            else:
                await self.api.delete_webhook()  # getUpdates does not work while a webhook is set
        except ZaloError as exc:
            log.error("zalo channel could not start (%s); the other channels keep running", exc)
            self.ctx.report(ChannelStatus(CHANNEL, False, "error", "Zalo rejected the token or was unreachable at start; see the log"))
            return
        name = me.get("account_name") if isinstance(me, dict) else None
        self.account_name = str(name) if name else None  # for posters' Zalo box (analytics.web.outreach)
        log.info("zalo bot %s connected (%s)", name or "?", "webhook" if self.webhook else "polling")
        self.running = True
        if not self.webhook:  # getUpdates from one worker only
            self.ctx.run_once("zalo polling", self.start_polling, self.stop_polling)
        if self.ctx.courier is not None:  # officials' replies and "tell me" answers
            self.ctx.courier.register(CHANNEL, Sender(self.deliver, retryable_later, _describe))

    async def start_polling(self) -> None:
        if self._poller is None and self.running:
            self._poller = asyncio.create_task(self._poll(), name="zalo-poll")

    async def stop_polling(self) -> None:
        if self._poller is not None:
            # No offset, no acknowledgement: an update Zalo handed to the poll being cancelled may be lost.
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None

    async def stop(self, _app: web.Application) -> None:
        """Stop fetching, then finish the updates in flight (before the server drains the engine)."""
        self.running = False
        await self.stop_polling()
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=SHUTDOWN_GRACE)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("zalo: %d update(s) still running after %.0fs at shutdown; cancelled", len(pending), SHUTDOWN_GRACE)
                await asyncio.gather(*pending, return_exceptions=True)

    async def close(self, _app: web.Application) -> None:
        await self.api.close()

    # -- inbound: webhook and polling ---------------------------------------------------------------------------
    async def receive(self, request: web.Request) -> web.Response:
        """POST /zalo/webhook: authenticate before reading the body, parse, queue, answer 200 at once."""
        if not secret_matches(request, SECRET_HEADER, self.secret):
            return web.Response(status=403, text="forbidden")
        if not self.running or len(self._tasks) >= MAX_IN_FLIGHT:
            return web.Response(status=503, text="not accepting updates now")
        try:
            update = unwrap(jsonbody.parse(await request.read()))
        except jsonbody.RequestError:  # not JSON, bad UTF-8, or nested too deep for json.loads
            update = None
        if update is None:
            return web.Response(status=400, text="not a Zalo update")
        self.accept(update)
        return web.json_response({"ok": True})

    async def _poll(self) -> None:
        """Long-poll getUpdates until stopped; each update is handled in the background, so a slow answer to
        one citizen never holds up the next poll."""
        failures = 0
        while self.running:
            started = time.monotonic()
            try:
                result = await self.api.get_updates(self.poll_timeout)
            except ZaloError as exc:
                if exc.error_code == 408:  # nothing new
                    failures = 0
                    if time.monotonic() - started < 0.5:  # answered at once: do not spin
                        await asyncio.sleep(0.5)
                    continue
                delay = POLL_BACKOFF.delay(failures)
                failures += 1
                log.warning("zalo polling failed (%s); retrying in %.1fs", _describe(exc), delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            for item in result if isinstance(result, list) else [result]:
                update = unwrap(item)
                if update is not None:
                    self.accept(update)

    def accept(self, update: dict[str, Any]) -> None:
        """Drop a duplicate delivery, else handle the update in a background task (referenced until done)."""
        message = update.get("message") if isinstance(update.get("message"), dict) else {}
        message_id = _id(message.get("message_id"))
        if message_id is not None and self._seen.seen((update["event_name"], message_id)):
            log.info("zalo: duplicate %s ignored", update["event_name"])
            return
        task = asyncio.create_task(self._process(update))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- handling one update -------------------------------------------------------------------------------------
    async def _process(self, update: dict[str, Any]) -> None:
        if update["event_name"] not in EVENTS:
            log.info("zalo: %s ignored (not a message event we handle)", update["event_name"])
            return
        inbound = Inbound.parse(update)
        if inbound is None or inbound.from_bot:
            return
        tapped = inbound.event == TEXT and is_option_number(inbound.text)  # Zalo's "buttons" are typed numbers
        verdict = self.flood.check(hash_user(self.ctx.settings.salt, CHANNEL, inbound.user_id), tap=tapped)
        if verdict == "quiet":
            return
        # No await before this point: tasks reach the chat's lock in the order their updates arrived.
        async with self._chats.hold(inbound.chat_id):
            try:
                if verdict == "warn":
                    await self._say(inbound, "rate_limited")
                else:
                    await self._respond(inbound)
            except ZaloError as exc:
                log.error("zalo: a reply was not delivered (%s)", _describe(exc))
            except Exception:
                log.exception("zalo: handling a %s update failed", inbound.event)
                try:
                    await self._say(inbound, "error")
                except ZaloError as exc:
                    log.warning("zalo: could not send the error message either (%s)", _describe(exc))

    async def _respond(self, inbound: Inbound) -> None:
        if inbound.event == TEXT:
            typing = asyncio.create_task(self._typing(inbound.chat_id))
            try:
                incoming = Incoming(CHANNEL, inbound.user_id, text=inbound.text or "", max_len=MAX_TEXT)
                outcome = await self.ctx.service.handle(incoming)
            finally:
                await typing  # bounded by TYPING_TIMEOUT; the answer must not overtake the typing action
            self._langs.remember(inbound.user_id, outcome.event.lang)
            await self.send_replies(inbound.chat_id, outcome.replies, outcome.event.lang)
        elif inbound.event in (IMAGE, STICKER):
            await self._say(inbound, "non_text")
        elif inbound.event == UNSUPPORTED:
            await self._say(inbound, "unsupported")

    async def _typing(self, chat_id: str) -> None:
        try:
            await self.api.send_chat_action(chat_id, "typing", timeout=TYPING_TIMEOUT)
        except ZaloError as exc:
            log.info("zalo: typing action not shown (%s)", _describe(exc))

    async def _say(self, inbound: Inbound, key: str) -> None:
        """One of the bot's own messages, in the language of the citizen's last reply (else Vietnamese)."""
        lang = self._langs.get(inbound.user_id) or "vi"
        await self.send_replies(inbound.chat_id, [Reply(self.ctx.service.kb.message(key, lang))], lang)

    # -- outbound ---------------------------------------------------------------------------------------------------
    async def send_replies(self, chat_id: str, replies: Iterable[Reply], lang: str = "vi") -> None:
        """Render (numbered options, <= 2000 per message) and send in order, each message with backoff on
        429/5xx. Callers hold the chat's lock, so two answers to one chat never interleave."""
        for text in self.texts(replies, lang):
            await self.send_text(chat_id, text)

    def texts(self, replies: Iterable[Reply], lang: str = "vi") -> list[str]:
        """The messages `replies` make on Zalo: options numbered, cut to 2000 characters."""
        return render(replies, self.ctx.service.kb.message("numbered_hint", lang))

    async def send_text(self, chat_id: str, text: str, backoff: Backoff | None = None) -> None:
        """One message, with retries on `backoff` (the channel's send_backoff unless given)."""
        send = partial(self.api.send_message, chat_id, text)
        await with_backoff(send, _retryable, backoff or self.send_backoff, "zalo sendMessage", _describe, log)

    async def deliver(self, item: OutboxItem, replies: list[Reply]) -> None:
        """Send an outbox item (the courier's: an official's reply, a "tell me" answer) to its chat, as every
        answer is rendered, each message tried once (the courier retries), holding the chat's lock like an
        answer does, so it never lands between the parts of another."""
        if not self.running:
            raise NotConnected("zalo is not connected")
        chat_id = item.address or ""
        async with self._chats.hold(chat_id):
            await self._resume.send(item.id, self.texts(replies, item.lang), partial(self.send_text, chat_id, backoff=ONCE))


ZALO = web.AppKey("zalo", ZaloChannel)


def setup(app: web.Application, ctx: ServerContext) -> ChannelStatus:
    """Plug the channel into the server: polling or webhook by Settings, off without a token."""
    settings = ctx.settings
    return setup_messaging(app, ctx, WEBHOOK, ZALO, ZaloChannel, settings.zalo_token, settings.zalo_webhook_url, settings.zalo_webhook_secret)
