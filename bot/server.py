"""One aiohttp application for everything served over HTTP: channels, health, admin.

`python -m bot serve` builds it from Settings. Channels plug in through CHANNELS: each module has
`setup(app, ctx) -> ChannelStatus`, registering its routes and start/stop hooks. Adding a channel is one
new module plus one line here.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import secrets
import signal
import socket
import sys
import time

from aiohttp import web

from analytics import web as dashboard
from analytics.store import EventStore

from .channels import telegram, web as webchat, zalo
from .channels.base import ServerContext
from .clientinfo import forwarded_middleware
from .config import Settings
from .engine import Engine
from .handover.courier import Courier
from .handover.flow import outbox_replies
from .handover.store import TicketStore
from .knowledge import ContentError, load_knowledge
from .logs import configure_logging
from .secrets_guard import THROTTLE, check_bearer, shared_throttle
from .shared_limits import SharedCounters, SharedSecretThrottle
from .service import ChatService
from .singleton import SingletonWork
from .state import DatabaseStateStore
from .storage.locks import ChatLocks, ProcessLocks
from . import prefork

log = logging.getLogger("digiguide.server")

CHANNELS = [webchat, telegram, zalo]
CTX = web.AppKey("ctx", ServerContext)


def build_app(settings: Settings, service: ChatService, singleton: SingletonWork | None = None, counters: SharedCounters | None = None) -> web.Application:
    """`singleton`: this worker's share of the work that runs once (polling, deliveries, the dashboard
    warmer); None gives a lone worker that holds it from the start (tests, one process on its own).
    `counters`: rate limits and the secret lockout in the shared database (several workers); None: in memory."""
    app = web.Application(client_max_size=64 * 1024)
    if settings.trusted_proxies:  # first, so every handler and later middleware sees the real client
        app.middlewares.append(forwarded_middleware(settings.trusted_proxies))
    if counters is not None:
        app[THROTTLE] = SharedSecretThrottle(counters)
    shared_throttle(app)  # the one lockout for every check of a secret (admin reload, dashboard login)
    singleton = singleton or SingletonWork(None, "local")
    ctx = ServerContext(settings=settings, service=service, singleton=singleton, counters=counters)
    app[CTX] = ctx
    tickets = service.engine.tickets
    if tickets is not None:  # asking an official: the courier delivers officials' replies and "tell me" answers
        ctx.tickets = tickets
        ctx.courier = Courier(tickets, render=lambda item: outbox_replies(ctx.service.kb, tickets, item), remember=service.remember_options)
        ctx.run_once("ticket deliveries", ctx.courier.start, ctx.courier.stop)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/admin/reload", admin_reload)
    for channel in CHANNELS:
        ctx.channels.append(channel.setup(app, ctx))
    dashboard.setup(app, ctx)
    app.on_startup.append(singleton.start)  # after the channels connected; stopped before they stop
    app.on_shutdown.insert(0, singleton.stop)
    app.on_startup.append(_announce)
    app.on_startup.append(_install_sighup)
    app.on_shutdown.append(_drain)
    return app


async def healthz(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    return web.json_response(
        {
            "status": "stopping" if ctx.service.closing else "ok",
            "content_version": ctx.service.kb.version,
            "faq_entries": len(ctx.service.kb.faqs),
            "guides": len(ctx.service.kb.guides),
            "channels": {c.name: c.mode for c in ctx.channels if c.live},
            "uptime_seconds": round(time.time() - ctx.started),
            "database": ctx.settings.database.engine,
            "worker": ctx.worker,
            "singleton_work": ctx.holds_singleton,
        }
    )


async def admin_reload(request: web.Request) -> web.Response:
    """Reload content without a restart (same as SIGHUP). Needs `Authorization: Bearer <dashboard token>`,
    checked through the same lockout as the dashboard's login (bot.secrets_guard): 429 while locked out."""
    ctx = request.app[CTX]
    verdict = check_bearer(request, ctx.settings.dashboard_token, "admin reload")
    if verdict.locked:
        return web.json_response({"error": "too many failed attempts", "retry_after": verdict.retry_after}, status=429, headers={"Retry-After": str(verdict.retry_after)})
    if not verdict.ok:
        return web.json_response({"error": "forbidden"}, status=403)
    ok, message = await ctx.service.reload(ctx.settings.content_dir)
    return web.json_response({"ok": ok, "message": message, "content_version": ctx.service.kb.version}, status=200 if ok else 422)


async def _announce(app: web.Application) -> None:
    ctx = app[CTX]
    s = ctx.settings
    log.info("DigiGuide on http://%s:%s  content %s (%d FAQ entries, %d guides)", s.host, s.port, ctx.service.kb.version, len(ctx.service.kb.faqs), len(ctx.service.kb.guides))
    for status in ctx.channels:
        if status.live:
            log.info("channel %-8s live (%s)", status.name, status.mode)
        else:
            log.info("channel %-8s off: %s", status.name, status.hint)


async def _install_sighup(app: web.Application) -> None:
    """SIGHUP reloads content like POST /admin/reload: as a task, so the signal handler returns at once."""
    ctx = app[CTX]
    tasks: set[asyncio.Task] = set()  # strong references until each reload is done (the loop keeps only weak ones)

    def reload() -> None:
        task = asyncio.ensure_future(ctx.service.reload(ctx.settings.content_dir))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread (tests) or no signals
        pass


async def _drain(app: web.Application) -> None:
    await app[CTX].service.drain()


def listen(host: str, port: int) -> list[socket.socket]:
    """The server's listening sockets, bound before anything starts.

    Why: aiohttp binds only after the start-up hooks ran, so a port in use came out as the start banner,
    "channel web live", a webhook registered with Telegram, and then a 25-line OSError. Bound here, `serve`
    can say it in one line and exit first. Bound as asyncio's create_server would: every address `host`
    resolves to ("" for all of them), SO_REUSEADDR, IPv6 sockets v6-only."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _name, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def cannot_listen(settings: Settings, exc: OSError) -> str:
    """The one line `serve` prints when it cannot listen: which port, where, and which setting changes it."""
    where = settings.host or "all addresses"
    if exc.errno == errno.EADDRINUSE:
        return f"port {settings.port} is in use on {where}: stop the other program or set DIGIGUIDE_PORT"
    return f"cannot listen on {where} port {settings.port} ({exc.strerror or exc}): check DIGIGUIDE_HOST and DIGIGUIDE_PORT"


def serve(settings: Settings | None = None, workers: int = 1) -> int:
    """Run the server: one process, or `workers` processes sharing the listening socket and the database
    (bot.prefork). Content, sockets and the admin token are prepared once, before any worker starts."""
    settings = settings or Settings.load()
    generated_token = not settings.dashboard_token
    if generated_token:
        settings = settings.with_dashboard_token(secrets.token_urlsafe(24))
    configure_logging([settings.telegram_token, settings.zalo_token, settings.telegram_webhook_secret, settings.zalo_webhook_secret, settings.dashboard_token, settings.salt, settings.database_url])
    try:
        kb = load_knowledge(settings.content_dir)
    except ContentError as exc:
        print(f"Content is invalid ({len(exc.problems)} problem(s)); not starting:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    try:
        sockets = listen(settings.host, settings.port)
    except OSError as exc:
        print(cannot_listen(settings, exc), file=sys.stderr)
        return 1
    try:
        prefork.prepare(settings)  # the schema and the shared secret files, once, before the workers race for them
    except Exception as exc:  # noqa: BLE001 - one line for the operator, not a traceback
        print(f"cannot open the database {settings.database}: {exc}", file=sys.stderr)
        return 1
    if generated_token:
        # Printed once, to the terminal only (never logged): the admin token for this run. Its link logs in as
        # the server's operator; while no admin account exists it leads to creating the first one
        # (analytics.web.login), after which officials log in with their own accounts.
        host = "127.0.0.1" if settings.host in ("", "0.0.0.0", "::") else settings.host
        print(f"Admin token for this run (set DIGIGUIDE_DASHBOARD_TOKEN to fix one): {settings.dashboard_token}\n"
              f"Dashboard: http://{host}:{settings.port}/dashboard/login#token={settings.dashboard_token}\n"
              "  (the operator's login; with no admin account yet it creates the first one, who then adds the officials' accounts)", flush=True)
    if workers <= 1:
        return run_worker(settings, kb, sockets)
    return prefork.run(workers, lambda index: run_worker(settings, kb, sockets, index=index, workers=workers))


def run_worker(settings: Settings, kb, sockets: list[socket.socket], index: int = 0, workers: int = 1) -> int:
    """One worker: its own connections, event writer and courier, on the shared sockets and database."""
    name = f"{socket.gethostname()}:{os.getpid()}"
    locks = ProcessLocks(settings.database)
    store = DatabaseStateStore(settings.database)
    events = EventStore(settings.database).start()
    tickets = TicketStore(settings.database, settings.salt)
    # a lone worker's engine thread already serialises each chat, and its limits in memory are the only ones
    chat_locks = ChatLocks(locks) if workers > 1 else None
    counters = SharedCounters(settings.database, settings.salt) if workers > 1 else None
    service = ChatService(Engine(kb, store, settings.salt, tickets=tickets), events, durable=settings.durable_events, chat_locks=chat_locks)
    app = build_app(settings, service, SingletonWork(locks, name), counters)
    app[CTX].worker = name
    web.run_app(app, sock=sockets, print=None, access_log=None, shutdown_timeout=15, handle_signals=True)
    events.stop()  # flush what is queued
    tickets.close_db()
    store.close()
    locks.close()
    if counters is not None:
        counters.close()
    log.info("worker %s stopped cleanly", name)
    return 0
