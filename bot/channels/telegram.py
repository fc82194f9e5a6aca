"""Telegram channel: a python-telegram-bot (v22) Application <-> the engine.

Thin by design (Rasa's input/output channel split): handlers turn a Telegram update into an `Incoming`,
`ChatService.handle` decides everything, and the `Reply`s come back as HTML messages with inline
keyboards. Nothing here matches text or chooses an answer.

Two modes, chosen by Settings:
  polling  TELEGRAM_BOT_TOKEN set, TELEGRAM_WEBHOOK_URL not: PTB's Updater long-polls getUpdates.
  webhook  both set: `.updater(None)`, Telegram POSTs to `/telegram/webhook` on our aiohttp server,
           authenticated by the X-Telegram-Bot-Api-Secret-Token header.
The PTB Application lives inside the aiohttp app's lifecycle: started on startup, stopped on shutdown
(before the server drains the engine, so updates in flight still get their answer), closed on cleanup.

Tokens never reach a log line: we log no URLs and scrub the token and secret from error texts.

Beside it: bot/channels/telegram_updates.py reads updates (who they are for, whether a webhook body is
shaped as the Bot API documents, which flood budget they cost) and bot/channels/telegram_order.py runs
them in per-chat order after a triage on arrival (duplicates and a flood's excess dropped before they wait).
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from aiohttp import web
from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update, User
from telegram.constants import MessageLimit, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from .. import jsonbody
from ..config import Settings
from ..engine import Incoming
from ..handover.courier import Sender
from ..handover.store import OutboxItem
from ..privacy import hash_user
from ..replies import Reply, split_text
from .base import Backoff, ChannelStatus, FloodGuard, RecentIds, RecentLangs, ServerContext, WebhookSpec, is_tap, secret_matches, setup_messaging, with_backoff
from .outbox import ONCE, NotConnected, Resume
from .telegram_order import DROP, RUN, Arrival, PerChatOrder
from .telegram_updates import flood_lane, for_the_bot, lang_hint, strip_mention, well_typed

log = logging.getLogger("digiguide.telegram")

CHANNEL = "telegram"
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_FILE = "telegram_webhook_secret"
MAX_TEXT = MessageLimit.MAX_TEXT_LENGTH  # 4096
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
POLL_TIMEOUT = 10  # seconds a getUpdates long poll may wait (PTB's default)
# 5xx and network errors: 4 tries, 0.5, 1 and 2 s apart (no jitter); 429 is AIORateLimiter's job
SEND_BACKOFF = Backoff(attempts=4, base=0.5, cap=60.0, jitter=0.0)
USER_RATE, USER_PER = 20, 60.0  # per citizen, typed: 20 messages in a burst, then one every 3 s (taps: base.TAP_RATE)
QUIET_TAPS, QUIET_TAPS_PER = 3, 60.0  # taps over the budget that still get their spinner stopped, per citizen
_GUIDE_STEP = re.compile(r"^g:.+:[1-9]\d*$")  # a button to a guide step (not the overview)
WEBHOOK = WebhookSpec(
    channel=CHANNEL,
    platform="Telegram",
    env="TELEGRAM",
    path=WEBHOOK_PATH,
    secret_file=SECRET_FILE,
    secret_ok=re.compile(r"^[A-Za-z0-9_-]{1,256}$").match,  # Telegram's rule for secret_token
    secret_rule="may only use A-Z a-z 0-9 _ - (1 to 256 characters)",
    logger=log,
)

# Platform metadata shown in Telegram's "/" menu (not answers, so not content): Vietnamese is the default.
COMMANDS: dict[str, list[tuple[str, str]]] = {
    "vi": [
        ("start", "Bắt đầu và xem các chủ đề"),
        ("help", "Cách dùng DigiGuide"),
        ("menu", "Danh mục chủ đề"),
        ("lang", "Đổi ngôn ngữ: /lang vi hoặc /lang en"),
        ("canbo", "Hỏi cán bộ xã/phường khi bot chưa trả lời được"),
    ],
    "en": [
        ("start", "Start and see the topics"),
        ("help", "How to use DigiGuide"),
        ("menu", "Topic menu"),
        ("lang", "Change language: /lang vi or /lang en"),
        ("canbo", "Ask a commune/ward official when the bot cannot help"),
    ],
}
HANDLED_COMMANDS = frozenset(name for name, _ in COMMANDS["vi"])  # answered in groups without a mention too


# -- rendering: Reply -> Telegram HTML messages ------------------------------------------------------------
@dataclass(frozen=True)
class Rendered:
    """One Telegram message, ready to send: HTML text (escaped, <= 4096) and an optional keyboard."""

    html: str
    markup: InlineKeyboardMarkup | None = None


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """Reply.buttons rows as an inline keyboard; actions are <= 64 bytes, so they fit callback_data."""
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=b.action) for b in row] for row in reply.buttons])


def html_chunks(text: str, limit: int = MAX_TEXT, raw_limit: int | None = None) -> list[str]:
    """Escape `text` for HTML parse mode in chunks of at most `limit` characters.

    Split the raw text (at paragraphs first), so an entity like `&amp;` is never cut; a chunk that
    escaping pushed over the limit is split again, smaller (each round strictly shortens it).
    """
    chunks: list[str] = []
    for chunk in split_text(text, raw_limit or limit):
        escaped = html.escape(chunk, quote=False)
        if len(escaped) <= limit:
            chunks.append(escaped)
        else:
            chunks.extend(html_chunks(chunk, limit, max(1, len(chunk) * limit // len(escaped))))
    return [c for c in chunks if c.strip()]


def render(replies: Iterable[Reply]) -> list[Rendered]:
    """Every reply as one or more messages; the keyboard rides on a reply's last part."""
    out: list[Rendered] = []
    for reply in replies:
        chunks = html_chunks(reply.text)
        out.extend(Rendered(c, keyboard(reply) if i == len(chunks) - 1 else None) for i, c in enumerate(chunks))
    return out


# -- sending, with retries -----------------------------------------------------------------------------------
def _retryable(exc: BaseException) -> bool:
    """5xx and network failures. A BadRequest (also a NetworkError subclass in PTB) is final; 429 is retried
    inside AIORateLimiter (it honours retry_after)."""
    return isinstance(exc, NetworkError) and not isinstance(exc, BadRequest)


def retryable_later(exc: BaseException) -> bool:
    """For the courier, which tries again later itself: 5xx and network failures, and a 429 too (it reaches
    the courier with its retry_after, see NO_WAIT). Forbidden (the citizen blocked the bot, or the bot left
    the group) and BadRequest ("chat not found") are final."""
    return isinstance(exc, (RetryAfter, NotConnected)) or _retryable(exc)


NO_WAIT = "no-wait"  # rate_limit_args for a call whose 429 the caller handles: no retry inside Throttle


class Throttle(AIORateLimiter):
    """PTB's AIORateLimiter (Telegram's flood limits; a 429 waited out and retried up to max_retries times),
    except for calls made with rate_limit_args=NO_WAIT: their 429 is raised at once, retry_after and all.

    Why: the courier tries an official's reply again later, with the wait Telegram asked for, instead of
    holding the delivery round (and the dashboard's "sent / queued") while AIORateLimiter sleeps. A
    sentinel of our own, not 0 retries: PTB drops a falsy rate_limit_args before the limiter sees it."""

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):  # type: ignore[override]
        if rate_limit_args != NO_WAIT:
            return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)

        async def once(*a: Any, **kw: Any) -> Any:
            try:
                return await callback(*a, **kw)
            except RetryAfter as exc:  # AIORateLimiter retries RetryAfter only: carry it past its loop
                raise _Raised(exc) from None

        try:
            return await super().process_request(once, args, kwargs, endpoint, data, None)
        except _Raised as raised:
            raise raised.exc from None


class _Raised(Exception):
    def __init__(self, exc: RetryAfter):
        super().__init__(str(exc))
        self.exc = exc


async def send_part(bot: Bot, chat_id: int, part: Rendered, backoff: Backoff = SEND_BACKOFF, rate_limit_args: str | None = None) -> None:
    """Send one rendered message, with retries on `backoff` (base.with_backoff)."""
    limits = {} if rate_limit_args is None else {"rate_limit_args": rate_limit_args}
    send = partial(bot.send_message, chat_id, part.html, parse_mode=ParseMode.HTML, reply_markup=part.markup, **limits)
    await with_backoff(send, _retryable, backoff, "telegram sendMessage", logger=log)


async def send_parts(bot: Bot, chat_id: int, parts: Iterable[Rendered]) -> None:
    """Send rendered messages in order, each with retries (base.with_backoff on SEND_BACKOFF)."""
    for part in parts:
        await send_part(bot, chat_id, part)


async def send_replies(bot: Bot, chat_id: int, replies: Iterable[Reply]) -> None:
    """Render and send replies as new messages (split to Telegram's 4096-character limit)."""
    await send_parts(bot, chat_id, render(replies))


def _is_guide_page(message: object) -> bool:
    """A guide page carries step navigation (a button to a step >= 1). An FAQ answer or a topic list only
    links to a guide's overview: editing those in place would erase what the citizen was reading."""
    markup = getattr(message, "reply_markup", None)
    rows = markup.inline_keyboard if isinstance(markup, InlineKeyboardMarkup) else ()
    return any(_GUIDE_STEP.match(b.callback_data or "") for row in rows for b in row if isinstance(b.callback_data, str))


# -- the channel -------------------------------------------------------------------------------------------------
def file_base_url(api_base: str) -> str:
    """Telegram serves files under /file/bot<token> next to /bot<token> (also on a local Bot API server)."""
    head, sep, tail = api_base.rpartition("/bot")
    return f"{head}/file/bot{tail}" if sep else "https://api.telegram.org/file/bot"


def build_application(settings: Settings, webhook: bool, order: PerChatOrder | None = None) -> Application:
    """A PTB Application on our settings: flood control by AIORateLimiter (429 retry_after honoured
    up to 3 times, except for the courier's sends: Throttle), per-chat ordered concurrency (`order`), and
    no Updater in webhook mode."""
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_token)
        .base_url(settings.telegram_api_base)
        .base_file_url(file_base_url(settings.telegram_api_base))
        .rate_limiter(Throttle(max_retries=3))
        .concurrent_updates(order or PerChatOrder())
    )
    if webhook:
        builder = builder.updater(None)
    return builder.build()


class TelegramChannel:
    def __init__(self, ctx: ServerContext, secret: str | None = None):
        self.ctx = ctx
        self.secret = secret  # set in webhook mode only
        self.flood = FloodGuard(ctx.budget("telegram", USER_RATE, USER_PER))  # told once per episode, then quiet
        self._seen = RecentIds()  # update ids: an update Telegram delivers twice is answered once
        self._quiet_taps = ctx.limiter("telegram:quiet-taps", QUIET_TAPS, QUIET_TAPS_PER)
        self.order = PerChatOrder(self._triage)
        self.application = build_application(ctx.settings, webhook=secret is not None, order=self.order)
        self._langs = RecentLangs()  # by Telegram user id
        self._resume = Resume()  # outbox items that failed half-way (bot.channels.outbox)
        self._add_handlers()

    @property
    def bot(self) -> Bot:
        return self.application.bot

    @property
    def webhook(self) -> bool:
        return self.secret is not None

    def _add_handlers(self) -> None:
        app = self.application
        app.add_handler(TypeHandler(Update, self.screen), group=-1)  # before any other handler looks
        app.add_handler(CommandHandler("start", self.on_start))
        app.add_handler(CommandHandler(["help", "menu", "lang"], self.on_command))
        app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & filters.TEXT, self.on_text))
        app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & ~filters.TEXT & ~filters.StatusUpdate.ALL, self.on_non_text))
        app.add_handler(CallbackQueryHandler(self.on_callback))
        app.add_error_handler(self.on_error)

    # -- lifecycle (aiohttp signals) ------------------------------------------------------------------------
    async def start(self, _app: web.Application) -> None:
        """Connect to Telegram. A failure is logged and reported on /healthz; the rest of the server
        (web chat, dashboard) keeps running rather than dying with Telegram."""
        try:
            await self.application.initialize()
            await self._set_commands()
            if self.webhook:
                await self.bot.set_webhook(self.ctx.settings.telegram_webhook_url, secret_token=self.secret, allowed_updates=ALLOWED_UPDATES)
            await self.application.start()
        except TelegramError as exc:
            log.error("telegram channel could not start (%s: %s); the other channels keep running", type(exc).__name__, self._scrub(str(exc)))
            self.ctx.report(ChannelStatus(CHANNEL, False, "error", "Telegram rejected the token or was unreachable at start; see the log"))
            await self.stop(_app)
            return
        if self.application.updater is not None:  # getUpdates from one worker only (Telegram refuses two pollers)
            self.ctx.run_once("telegram polling", self.start_polling, self.stop_polling)
        if self.ctx.courier is not None:  # officials' replies, "tell me" answers and officials' group notices
            self.ctx.courier.register(CHANNEL, Sender(self.deliver, retryable_later, self._describe))

    async def start_polling(self) -> None:
        updater = self.application.updater
        if updater is not None and not updater.running and self.application.running:
            await updater.start_polling(timeout=POLL_TIMEOUT, allowed_updates=ALLOWED_UPDATES, error_callback=self._polling_error)

    async def stop_polling(self) -> None:
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()

    async def stop(self, _app: web.Application) -> None:
        """Stop fetching and finish the updates in flight (their answers are sent before the engine drains)."""
        await self.stop_polling()
        if self.application.running:
            await self.application.stop()

    async def close(self, _app: web.Application) -> None:
        """Release PTB's HTTP connections (the bot's too: after a failed start the Application never
        initialised, but the bot had already opened its connection pools)."""
        await self.application.shutdown()
        await self.bot.shutdown()

    async def _set_commands(self) -> None:
        """The "/" menu in Vietnamese (default) and English; a failure here must not stop the bot."""
        try:
            await self.bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS["vi"]])
            await self.bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS["en"]], language_code="en")
        except TelegramError as exc:
            log.warning("telegram setMyCommands failed (%s); commands still work when typed", type(exc).__name__)

    def _polling_error(self, exc: TelegramError) -> None:
        """getUpdates failed; PTB retries with backoff. One line, no traceback (and no URL) per failure."""
        log.warning("telegram polling failed (%s: %s); retrying", type(exc).__name__, self._scrub(str(exc)))

    def _scrub(self, text: str) -> str:
        for secret in (self.ctx.settings.telegram_token, self.secret):
            if secret:
                text = text.replace(secret, "***")
        return text

    # -- the courier's sends (bot.handover.courier) ------------------------------------------------------------
    async def deliver(self, item: OutboxItem, replies: list[Reply]) -> None:
        """Send an outbox item to its chat (a citizen's, or an officials' group for a notice): rendered as
        every answer is, each message tried once (the courier retries), after whatever the chat is being
        answered now (its turn in PerChatOrder), so a reply never lands between the parts of another."""
        if not self.application.running:
            raise NotConnected("telegram is not connected")
        chat_id = int(item.address or "")  # ValueError (final): not a chat id
        async with self.order.hold(chat_id):
            send = partial(send_part, self.bot, chat_id, backoff=ONCE, rate_limit_args=NO_WAIT)
            await self._resume.send(item.id, render(replies), send)

    def _describe(self, exc: BaseException) -> str:
        """What the official's "failed" says (and the log): the error, never the token or a chat id."""
        if isinstance(exc, TelegramError):
            return f"{type(exc).__name__}: {self._scrub(str(exc))}"[:200]
        return type(exc).__name__

    # -- webhook route -----------------------------------------------------------------------------------------
    async def receive(self, request: web.Request) -> web.Response:
        """POST /telegram/webhook: authenticate, parse, queue, answer 200 at once (processing is async)."""
        if not secret_matches(request, SECRET_HEADER, self.secret):
            return web.Response(status=403, text="forbidden")
        if not self.application.running:
            return web.Response(status=503, text="starting or stopping")  # Telegram retries later
        update = self._parse_update(await request.read())
        if update is None:
            return web.Response(status=400, text="not a Telegram update")
        await self.application.update_queue.put(update)
        return web.Response(text="ok")

    def _parse_update(self, body: bytes) -> Update | None:
        """The body as an Update, or None (400) for bad JSON (also too deeply nested: bot.jsonbody) or an
        update that is not shaped as Telegram sends them (`well_typed`)."""
        try:
            data = jsonbody.parse(body)
        except jsonbody.RequestError:
            return None
        if not isinstance(data, dict) or not well_typed(data):
            return None
        try:
            return Update.de_json(data, self.bot)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    # -- handlers ------------------------------------------------------------------------------------------------
    async def on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/start [payload]: the payload of a deep link (t.me/bot?start=g-eid-activate) goes to the engine."""
        await self._converse(update, start_payload=context.args[0] if context.args else "")

    async def screen(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Every update's first stop (handler group -1). A message whose text or caption is not a string
        (never from Telegram itself; the webhook refuses such bodies, see `well_typed`, but getUpdates
        is not checked) would fail in PTB's own CommandHandler and in ours: it gets the polite non-text
        reply here and goes no further."""
        message = update.effective_message
        if message is not None and any(v is not None and not isinstance(v, str) for v in (message.text, message.caption)):
            await self.on_non_text(update, context)
            raise ApplicationHandlerStop

    async def on_command(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """/help, /menu, /lang [vi|en]: passed as typed; the engine parses commands."""
        await self._converse(update, text=update.effective_message.text)

    async def on_text(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """A typed question (in a group: only when addressed to us, minus the @mention)."""
        message = update.effective_message
        if for_the_bot(message, self.bot):
            await self._converse(update, text=strip_mention(message.text, self.bot.username))

    async def on_non_text(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """Photos, stickers, voice, locations, files...: we only read text, so say so politely."""
        if not for_the_bot(update.effective_message, self.bot):
            return
        user = update.effective_user
        if user is None or not await self._admit(update):
            return
        text = self.ctx.service.kb.message("non_text", self._lang(user))
        await send_replies(self.bot, update.effective_chat.id, [Reply(text)])

    async def on_callback(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """A button tap: answer the query first (stops the client's spinner), then act; guide
        navigation edits the guide page in place, anything else answers with new messages."""
        query = update.callback_query
        try:
            await query.answer()
        except TelegramError as exc:  # e.g. a query too old after a restart: still act on it
            log.info("telegram answerCallbackQuery failed (%s)", type(exc).__name__)
        if not isinstance(query.data, str) or not query.data or update.effective_chat is None:
            return  # nothing to act on, or no chat to answer in (a query without its message)
        edit = query.data.startswith("g:") and _is_guide_page(query.message)
        await self._converse(update, edit=edit, action=query.data)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log (without secrets) and tell the citizen something went wrong: never leave them in silence."""
        error = context.error
        if isinstance(error, Forbidden):
            log.info("telegram: the user blocked the bot or left the chat; nothing sent")
            return
        trace = error if not isinstance(error, TelegramError) else None  # our bugs need the traceback
        log.error("telegram: handling an update failed: %s: %s", type(error).__name__, self._scrub(str(error)), exc_info=trace)
        if not isinstance(update, Update) or update.effective_chat is None:
            return
        lang = self._lang(update.effective_user) if update.effective_user else "vi"
        try:
            await send_replies(self.bot, update.effective_chat.id, [Reply(self.ctx.service.kb.message("error", lang))])
        except TelegramError as exc:
            log.warning("telegram: could not send the error message either (%s)", type(exc).__name__)

    # -- the one path every conversation takes ---------------------------------------------------------
    async def _converse(self, update: Update, edit: bool = False, **fields: Any) -> None:
        user, chat = update.effective_user, update.effective_chat
        if user is None or chat is None:
            return
        incoming = Incoming(CHANNEL, str(user.id), lang_hint=lang_hint(user.language_code), max_len=MAX_TEXT, **fields)
        if not await self._admit(update, tap=is_tap(incoming)):
            return
        outcome = await self.ctx.service.handle(incoming)
        self._langs.remember(user.id, outcome.event.lang)
        parts = render(outcome.replies)
        if edit and parts:
            parts = await self._edit(update, parts)
        await send_parts(self.bot, chat.id, parts)

    async def _edit(self, update: Update, parts: list[Rendered]) -> list[Rendered]:
        """Show the first part in the tapped message; return what is still to be sent as new messages."""
        first = parts[0]
        edit = partial(update.callback_query.edit_message_text, first.html, parse_mode=ParseMode.HTML, reply_markup=first.markup)
        try:
            await with_backoff(edit, _retryable, SEND_BACKOFF, "telegram editMessageText", logger=log)
        except BadRequest as exc:
            if "not modified" in str(exc).lower():  # a double tap: the page already shows this
                return parts[1:]
            log.info("telegram: could not edit the message (%s); sending it anew", self._scrub(str(exc)))
            return parts
        return parts[1:]

    # -- flood control -----------------------------------------------------------------------------------------
    def _triage(self, update: object) -> Arrival:
        """On arrival, in arrival order (PerChatOrder calls it before the update waits for anything): drop a
        duplicate update_id, and charge the flood budget now, so a flooding citizen's excess is dropped here
        instead of queueing. The first message over the budget still runs, to tell them (see `_admit`); a tap
        over it still runs a few times a minute, so its button's spinner stops, but a flood of taps cannot spend
        the bot's allowance of Bot API calls."""
        if not isinstance(update, Update):
            return RUN
        if self._seen.seen(update.update_id):
            log.info("telegram: update delivered twice; the duplicate is ignored")
            return DROP
        try:
            tap = flood_lane(update, self.bot, HANDLED_COMMANDS)
        except (AttributeError, TypeError, ValueError):  # a malformed update, never from Telegram itself:
            return RUN  # the handlers decide what to say, and charge it then
        if tap is None:
            return RUN
        key = self._flood_key(update.effective_user)
        verdict = self.flood.check(key, tap=tap)
        if verdict != "quiet" or (tap and self._quiet_taps.allow(key)):
            return Arrival(tap=tap, verdict=verdict)
        return DROP

    def _flood_key(self, user: User) -> str:
        return hash_user(self.ctx.settings.salt, CHANNEL, str(user.id))

    async def _admit(self, update: Update, tap: bool = False) -> bool:
        """Per-citizen flood control: over the limit, say so once, then stay quiet until they slow down.
        Taps (buttons, /start links) have their own, more generous budget than typed messages. The verdict
        is the one given on arrival (`_triage`) when that charged the same budget, else it is given now."""
        user = update.effective_user
        arrival = self.order.arrival(update)
        charged = arrival.verdict if arrival is not None and arrival.tap == tap else None
        verdict = charged or self.flood.check(self._flood_key(user), tap=tap)
        if verdict == "warn":
            text = self.ctx.service.kb.message("rate_limited", self._lang(user))
            await send_replies(self.bot, update.effective_chat.id, [Reply(text)])
        return verdict == "ok"

    def _lang(self, user: User) -> str:
        """The language for the channel's own messages: the last reply's, else the client's, else Vietnamese."""
        return self._langs.get(user.id) or lang_hint(user.language_code) or "vi"


TELEGRAM = web.AppKey("telegram", TelegramChannel)


def setup(app: web.Application, ctx: ServerContext) -> ChannelStatus:
    """Plug the channel into the server: polling or webhook by Settings, off without a token."""
    settings = ctx.settings
    return setup_messaging(app, ctx, WEBHOOK, TELEGRAM, TelegramChannel, settings.telegram_token, settings.telegram_webhook_url, settings.telegram_webhook_secret)
