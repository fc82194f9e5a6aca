"""Web chat: a mobile-first chat page and the JSON API behind it.

Routes (all registered by `setup`):

    GET  /               the chat page (web_static/index.html)
    GET  /web/<file>     its assets (app.js, style.css, icon.svg), served from memory
    POST /api/chat       the conversation
    GET  /api/chat/pending?session=<id>   what arrived for the session since (officials' replies, answers
                         the citizen asked to be told): 200 {"replies": [...]}, each handed over once

The page is for older citizens on cheap phones and weak networks, so it needs no internet beyond this
server: no CDN, no web fonts, no inline script (a strict Content-Security-Policy, from bot/httpsec.py,
enforces that, which also blunts any injected markup). Assets are read once at start; their URLs carry a
content hash, so browsers may cache them for a day and still never run a stale app.js after a deploy. The
page itself is revalidated on every load (ETag), so a new version shows up at once.

POST /api/chat, as in DESIGN.md plus one extension (`start`); exactly one of text/action/start:

    {"session": "<id>", "text": "..."}         a typed message, at most 2000 characters
    {"session": "<id>", "action": "..."}       a tapped button: the action of one of Reply.buttons
    {"session": "<id>", "start": "<payload>"}  EXTENSION, the page load. "" = welcome and topic menu;
                                               "g-eid-activate", "t-eid", "f-<faq>" open that guide, topic
                                               or answer like a Telegram deep link (`/?start=<payload>`)

    <id> is an opaque id the page keeps in localStorage: 8..64 characters of [A-Za-z0-9_-].

    200 {"replies": [{"text": "...", "buttons": [{"label": "...", "action": "..."}],
                      "rows": [[{"label": "...", "action": "..."}]]}],
         "lang": "vi" | "en"}
    "buttons" is flat, exactly as the contract says; "rows" keeps the engine's layout for the page.

Errors are JSON {"error": "<message>"}: 400 for malformed JSON or bad fields, 413 for a body over
16 KiB or a text over 2000 characters, 429 (with Retry-After) when one session types more than 12
messages in 30 s or taps more than 60 times in a minute (actions and start links are counted apart from
typed text: walking a guide is many quick taps) or one client address starts more new sessions than
NEW_SESSIONS allows (a client making a session per request would escape the per-session limit), 500 when
the engine fails. 429 and 500 also carry "replies" with the bot's polite text from content/messages.yaml,
so the page shows them like any other message.

GET /api/chat/pending answers the same reply objects (without "lang"): the courier's rendering of the
session's queued outbox items (bot.handover), marked sent as they are handed over, so a second look gets
nothing. The web chat registers no Sender with the courier: its items wait for the page, which asks when it
loads and every 20 s while the tab is visible. A bad session is 400 as above; with asking an official off
the answer is {"replies": []}. The page polls, so its budget is its own (POLL_RATE per session, and
POLL_ADDRESS_RATE per client address, which sessions made up per request cannot escape): 429 with
Retry-After beyond it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from .. import jsonbody
from ..engine import Incoming
from ..handover.courier import Render
from ..handover.store import TicketStore
from ..httpsec import secure
from ..jsonbody import RequestError as ApiError
from ..privacy import hash_user
from ..replies import MAX_ACTION_BYTES, Button, Reply
from .base import Budget, ChannelStatus, RecentLangs, ServerContext, is_tap

log = logging.getLogger("digiguide.web")

CHANNEL = "web"
MAX_LEN = 4096  # the engine splits longer replies; a browser has no real limit, this keeps bubbles readable
MAX_BODY = 16 * 1024
MAX_TEXT = 2000
RATE, PER = 12, 30.0  # typed messages per session; taps (actions, start links) have base.TAP_RATE/TAP_PER
# New sessions per client address: 200 at once, then 200 an hour (one every 18 s). A ward centre's shared
# Wi-Fi puts dozens of citizens behind one address; a training there (50 people, each opening the page on a
# phone and perhaps again in Zalo's browser or after clearing it) makes about 100 at once, half the
# allowance, and a whole day of visitors refills far faster than they come. After a restart every returning
# citizen counts as new once, which the 200 also absorbs. A script making a new session for every request,
# so that no per-session limit ever applies and every request writes a state row, gets 200, then one every
# 18 s (about 5,000 a day, instead of hundreds a second).
NEW_SESSIONS, NEW_SESSIONS_PER = 200, 3600.0
# GET /api/chat/pending: the page asks every 20 s while visible, and when it loads or becomes visible again.
# Per session 10 at once, then one every 6 s; per client address 600 a minute, which 100 open tabs behind a
# ward centre's Wi-Fi (300 a minute) never reach and a script inventing a session per request does.
POLL_RATE, POLL_PER = 10, 60.0
POLL_ADDRESS_RATE, POLL_ADDRESS_PER = 600, 60.0
STATIC_DIR = Path(__file__).resolve().parent / "web_static"
ASSET_PREFIX = "/web/"
VERSION_MARK = "__ASSET_VERSION__"
SESSION = re.compile(r"[A-Za-z0-9_-]{8,64}")  # used with fullmatch: "$" would let a trailing newline in

CONTENT_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webmanifest": "application/manifest+json",
}
LAST_RESORT_ERROR = "Xin lỗi, hệ thống đang gặp sự cố. Bạn thử lại sau ít phút."


# -- static files --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str
    cache_control: str


def load_assets(folder: Path = STATIC_DIR) -> dict[str, Asset]:
    """Read the page and its assets once. index.html gets the assets' hash in its URLs (cache busting)."""
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix in CONTENT_TYPES and p.is_file()}
    version = hashlib.sha256(b"".join(body for name, body in files.items() if name != "index.html")).hexdigest()[:12]
    assets = {}
    for name, body in files.items():
        if name == "index.html":
            body = body.replace(VERSION_MARK.encode(), version.encode())
        cache = "no-cache" if name == "index.html" else "public, max-age=86400"
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        assets[name] = Asset(body, CONTENT_TYPES[Path(name).suffix], etag, cache)
    return assets


def _serve(request: web.Request, asset: Asset) -> web.Response:
    """One file with its cache headers; a matching If-None-Match costs a 304 and no body on slow links."""
    headers = {"ETag": asset.etag, "Cache-Control": asset.cache_control}
    if asset.etag in request.headers.get("If-None-Match", ""):
        return secure(web.Response(status=304, headers=headers))
    charset = "utf-8" if asset.content_type.startswith("text/") or asset.content_type.endswith(("+xml", "+json")) else None
    response = web.Response(body=asset.body, content_type=asset.content_type, charset=charset, headers=headers)
    if len(asset.body) > 1024:
        response.enable_compression()
    return secure(response)


# -- request parsing -----------------------------------------------------------------------------------------
async def read_json(request: web.Request, limit: int = MAX_BODY) -> Any:
    """The body as JSON (bot.jsonbody: bounded, and no nesting or lone surrogate can crash the handler)."""
    return await jsonbody.read_json(request, limit)


def parse_session(session: Any) -> str:
    """The page's session id, or ApiError 400."""
    if not isinstance(session, str) or not SESSION.fullmatch(session):
        raise ApiError(400, "session must be 8 to 64 characters of letters, digits, '-' or '_'")
    return session


def parse_incoming(body: Any) -> Incoming:
    """Validate the request body into an Incoming, or say exactly what is wrong."""
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object")
    session = parse_session(body.get("session"))
    given = {key: body[key] for key in ("text", "action", "start") if body.get(key) is not None}
    if len(given) != 1:
        raise ApiError(400, "send exactly one of 'text', 'action' or 'start'")
    key, value = next(iter(given.items()))
    if not isinstance(value, str):
        raise ApiError(400, f"'{key}' must be a string")
    if key == "text" and len(value) > MAX_TEXT:
        raise ApiError(413, f"Your message is too long. Please keep it under {MAX_TEXT} characters, or ask one thing at a time.")
    if key in ("action", "start") and len(value.encode()) > MAX_ACTION_BYTES:
        raise ApiError(400, f"'{key}' must be at most {MAX_ACTION_BYTES} bytes")
    field = {"text": "text", "action": "action", "start": "start_payload"}[key]
    return Incoming(CHANNEL, session, max_len=MAX_LEN, **{field: value})


# -- responses -----------------------------------------------------------------------------------------------
def _button(button: Button) -> dict[str, str]:
    return {"label": button.label, "action": button.action}


def reply_json(reply: Reply) -> dict[str, Any]:
    """A Reply as the contract's object: flat "buttons", plus "rows" for the page's layout."""
    return {
        "text": reply.text,
        "buttons": [_button(b) for b in reply.flat_buttons],
        "rows": [[_button(b) for b in row] for row in reply.buttons],
    }


def _json(data: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    response = web.json_response(data, status=status, headers={"Cache-Control": "no-store", **(headers or {})})
    return secure(response)


# -- handlers ------------------------------------------------------------------------------------------------
class WebChat:
    """The page, its assets and the API, sharing one rate budget (typed and tapped apart) and the server's
    ChatService."""

    def __init__(self, ctx: ServerContext, assets: dict[str, Asset], budget: Budget | None = None):
        self.ctx = ctx
        self.assets = assets
        self.budget = budget or ctx.budget("web", RATE, PER)
        self.langs = RecentLangs(50_000)  # the last reply language per session, for 429 and 500 answers
        self.new_sessions = ctx.limiter("web:new", NEW_SESSIONS, NEW_SESSIONS_PER)  # per client address
        self.polls = ctx.limiter("web:polls", POLL_RATE, POLL_PER)  # GET /api/chat/pending, per session
        self.poll_addresses = ctx.limiter("web:poll-addresses", POLL_ADDRESS_RATE, POLL_ADDRESS_PER)  # and per client address

    async def index(self, request: web.Request) -> web.Response:
        return _serve(request, self.assets["index.html"])

    async def asset(self, request: web.Request) -> web.Response:
        asset = self.assets.get(request.match_info["name"])
        if asset is None or request.match_info["name"] == "index.html":
            raise web.HTTPNotFound()
        return _serve(request, asset)

    async def chat(self, request: web.Request) -> web.Response:
        try:
            incoming = parse_incoming(await read_json(request))
        except ApiError as exc:
            return _json({"error": exc.message}, exc.status)
        session, tap = incoming.user_id, is_tap(incoming)
        if self._is_new(session) and not self.new_sessions.allow(request.remote or "unknown"):
            return self._polite(session, 429, "too many new conversations from this address, please wait", "rate_limited", {"Retry-After": str(self.new_sessions.retry_after())})
        if not self.budget.allow(session, tap):
            return self._polite(session, 429, "too many messages, please wait", "rate_limited", {"Retry-After": str(self.budget.retry_after(tap))})
        try:
            outcome = await self.ctx.service.handle(incoming)
        except Exception as exc:  # noqa: BLE001 - the citizen gets a polite answer, the log gets the trace
            # The exception's message may quote what the citizen typed: log its type and frames only.
            log.error("web chat failed: %s\n%s", type(exc).__name__, "".join(traceback.format_tb(exc.__traceback__)))
            return self._polite(session, 500, "internal error", "error")
        lang = outcome.event.lang
        self.langs.remember(session, lang)
        return _json({"replies": [reply_json(r) for r in outcome.replies], "lang": lang})

    async def pending(self, request: web.Request) -> web.Response:
        """GET /api/chat/pending?session=<id>: the session's arrivals, each handed over once."""
        try:
            session = parse_session(request.query.get("session"))
        except ApiError as exc:
            return _json({"error": exc.message}, exc.status)
        for limiter, key in ((self.polls, session), (self.poll_addresses, request.remote or "unknown")):
            if not limiter.allow(key):
                return _json({"error": "asking too often, please wait"}, 429, {"Retry-After": str(limiter.retry_after())})
        tickets, courier = self.ctx.tickets, self.ctx.courier
        if tickets is None or courier is None:
            return _json({"replies": []})
        user = hash_user(self.ctx.settings.salt, CHANNEL, session)
        replies = await asyncio.to_thread(self._arrivals, tickets, courier.render, user)
        await courier.shown(user, replies)
        return _json({"replies": [reply_json(r) for r in replies]})

    @staticmethod
    def _arrivals(tickets: TicketStore, render: Render, user: str) -> list[Reply]:
        """The replies of the user's queued items (marked sent by `pending`), in the order they were queued.
        An item that cannot be rendered (a bug) is marked failed, so the official sees it, and the others
        are still shown."""
        replies: list[Reply] = []
        for item in tickets.pending(user):
            try:
                replies.extend(render(item))
            except Exception as exc:  # noqa: BLE001 - one broken item must not hide the rest
                log.error("web chat: outbox item %d could not be shown: %s\n%s", item.id, type(exc).__name__, "".join(traceback.format_tb(exc.__traceback__)))
                tickets.failed(item.id, f"could not be shown ({type(exc).__name__})")
        return replies

    def _is_new(self, session: str) -> bool:
        """A session not answered lately: the table of last reply languages is the bounded record of the
        sessions served (in memory, so a client creating sessions costs no database read to spot)."""
        return self.langs.get(session) is None

    def _polite(self, session: str, status: int, error: str, message_key: str, headers: dict[str, str] | None = None) -> web.Response:
        """An error the page shows as a normal bot message, in the session's last language."""
        lang = self.langs.get(session) or "vi"
        try:
            text = self.ctx.service.kb.message(message_key, lang)
        except Exception:  # noqa: BLE001 - broken content must not turn an error page into a crash
            text = LAST_RESORT_ERROR
        body = {"error": error, "replies": [{"text": text, "buttons": [], "rows": []}], "lang": lang}
        return _json(body, status, headers)


def setup(app: web.Application, ctx: ServerContext) -> ChannelStatus:
    chat = WebChat(ctx, load_assets())
    app.router.add_get("/", chat.index)
    app.router.add_get(ASSET_PREFIX + "{name}", chat.asset)
    app.router.add_post("/api/chat", chat.chat)
    app.router.add_get("/api/chat/pending", chat.pending)
    return ChannelStatus("web", True, "page", "")
