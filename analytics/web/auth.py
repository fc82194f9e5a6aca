"""Who is calling the dashboard, and may they: sessions, the login and logout, the same-origin and CSRF
checks, and `require`, which every handler but the login form and the static files goes through.

    @require("viewer", page=True)               # a page: no principal -> redirect to the login
    async def page(request, who: Principal): ...
    @require("editor", csrf=True)               # data that changes things: 401 / 403 as JSON
    async def save(request, who: Principal): ...

A Principal is who is behind a request: a name, a role (viewer < editor < admin: each may do what the
ones before it may) and the wards it is bound to (none: all of them). `current_principal(request)` finds
it from a bearer token (Authorization: Bearer ..., when a token resolver is set: Auth.resolve_token) or
else from the session cookie. Today the only way in is the admin token's login, whose principal is ADMIN
(role admin, no ward binding); personal accounts plug in by starting sessions for their own principal
(Auth.start_session) and API tokens by setting Auth.resolve_token.

Security
- Login compares the token with settings.dashboard_token in constant time; an empty setting refuses every
  login. Every check of the token (this form, POST /admin/reload) goes through the server's one lockout,
  bot.secrets_guard: per real client address, growing while the client keeps guessing, and while it lasts
  even the right token gets 429 with Retry-After.
- The session is a random id in an HttpOnly, SameSite=Strict cookie with Path=/dashboard (Secure when the
  browser's request was https, directly or as a trusted proxy's X-Forwarded-Proto says); the server keeps
  the sessions in memory (a restart logs everyone out), by the id's SHA-256, with idle and absolute
  expiry, and a new id at every login (no session fixation). A session id is 256 random bits: an unknown
  one is a lapsed session and is not counted against the client, so an official who is logged in keeps
  working while a guesser at the same address is locked out.
- Without a principal, pages redirect to the login and data (API, CSV, files) answers 401. Unknown paths
  under /dashboard/ do the same (catch_all), so nothing about the routes leaks before login.
- Every POST must come from this host (Origin, or Referer when there is no Origin); with a session, a
  POST that changes something also needs the session's CSRF token (header X-CSRF-Token, or form field
  `csrf`), compared in constant time. A forged cross-site POST gets 403 and changes nothing. A bearer
  call sends no cookie, so it needs no CSRF token.
- The printed login link (`serve` with a generated token) carries the token in the URL fragment
  (/dashboard/login#token=...), which browsers never send to the server; login.js moves it into the form.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Awaitable, Callable
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDictProxy

from bot.secrets_guard import bearer_credential, check_secret, shared_throttle

from .common import CSRF, DASHBOARD, PREFIX, json_error, request_lang, secure
from .templating import render
from .words import T

COOKIE = "dg_session"
SESSION_IDLE = 8 * 3600
SESSION_LIFETIME = 24 * 3600
MAX_SESSIONS = 1000
ROLES = ("viewer", "editor", "admin")  # each may do what the ones before it may
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


# -- who -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Principal:
    """Who is behind a request. `wards` empty: not bound to a ward (sees and answers every ward)."""

    name: str
    role: str
    wards: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {self.role!r}")

    def can(self, role: str) -> bool:
        """May do what `role` may (an admin may everything an editor may, an editor what a viewer may)."""
        return ROLES.index(self.role) >= ROLES.index(role)

    def sees_ward(self, ward: str | None) -> bool:
        return not self.wards or ward in self.wards


ADMIN = Principal("admin", "admin")  # the principal behind the admin-token login


@dataclass
class Session:
    csrf: str
    created: float
    seen: float
    principal: Principal = ADMIN


class Sessions:
    """Server-side sessions in memory, keyed by the SHA-256 of the cookie value; bounded (oldest dropped)."""

    def __init__(self, idle: float = SESSION_IDLE, lifetime: float = SESSION_LIFETIME, max_sessions: int = MAX_SESSIONS):
        self.idle, self.lifetime, self.max_sessions = idle, lifetime, max_sessions
        self._sessions: OrderedDict[bytes, Session] = OrderedDict()

    @staticmethod
    def _key(sid: str) -> bytes:
        return hashlib.sha256(sid.encode("utf-8", "replace")).digest()

    def new(self, principal: Principal = ADMIN) -> tuple[str, Session]:
        now = time.time()
        sid = secrets.token_urlsafe(32)
        session = Session(secrets.token_urlsafe(32), now, now, principal)
        self._sessions[self._key(sid)] = session
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        if not sid or len(sid) > 128:
            return None
        key = self._key(sid)
        session = self._sessions.get(key)
        if session is None:
            return None
        now = time.time()
        if now - session.seen > self.idle or now - session.created > self.lifetime:
            del self._sessions[key]
            return None
        session.seen = now
        self._sessions.move_to_end(key)
        return session

    def drop(self, sid: str | None) -> None:
        if sid:
            self._sessions.pop(self._key(sid), None)

    def __len__(self) -> int:
        return len(self._sessions)


def same_origin(request: web.Request) -> bool:
    """The POST came from a page of this host: Origin (or, without one, Referer) names our host."""
    source = request.headers.get("Origin")
    if source is None:
        source = request.headers.get("Referer")
    if not source or source == "null":
        return False
    try:
        parts = urlsplit(source)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.netloc.lower() == request.host.lower()


def safe_next(value: str | None) -> str:
    """Where to go after login: only a path of the dashboard (no open redirect)."""
    if not value or "//" in value or "\\" in value or any(c.isspace() or ord(c) < 32 for c in value):
        return PREFIX + "/"
    path = value.split("?", 1)[0]
    if (path == PREFIX or path.startswith(PREFIX + "/")) and ".." not in path.split("/") and "." not in path.split("/"):
        return value
    return PREFIX + "/"


# -- the application's sessions and checks ---------------------------------------------------------------------

TokenResolver = Callable[[web.Request, str], Awaitable["Principal | None"]]


@dataclass(frozen=True)
class Caller:
    principal: Principal
    session: Session | None  # None: a bearer token (no cookie, so no CSRF token to check)


@dataclass
class Auth:
    """The sessions of one application (app[AUTH]), and the bearer-token hook: `resolve_token(request,
    token)` returns the token's principal or None ("" for a malformed header). Unset, an Authorization
    header is ignored (as before API tokens existed); set, it decides on its own: a wrong token is 401
    even next to a good session cookie. A token is a secret that can be guessed, so the resolver checks
    it through the server's one lockout (bot.secrets_guard: retry_after, failed, succeeded)."""

    sessions: Sessions = field(default_factory=Sessions)
    resolve_token: TokenResolver | None = None

    async def caller(self, request: web.Request) -> Caller | None:
        header = request.headers.get("Authorization")
        if header is not None and self.resolve_token is not None:
            principal = await self.resolve_token(request, bearer_credential(header) or "")
            return Caller(principal, None) if principal is not None else None
        session = self.session(request)
        return Caller(session.principal, session) if session is not None else None

    def session(self, request: web.Request) -> Session | None:
        return self.sessions.get(request.cookies.get(COOKIE))

    def start_session(self, request: web.Request, principal: Principal, target: str) -> web.HTTPSeeOther:
        """The answer to a successful login (to raise): a new session (the old one dropped) and its cookie."""
        self.sessions.drop(request.cookies.get(COOKIE))
        sid, _ = self.sessions.new(principal)
        response = web.HTTPSeeOther(target)
        response.set_cookie(COOKIE, sid, path=PREFIX, httponly=True, samesite="Strict", secure=request.secure, max_age=SESSION_LIFETIME)
        return secure(response)


AUTH = web.AppKey("dashboard-auth", Auth)


async def current_principal(request: web.Request) -> Principal | None:
    """Who is behind the request (bearer token, else session), or None. Handlers get it from `require`."""
    caller = await request.app[AUTH].caller(request)
    return caller.principal if caller is not None else None


def to_login(request: web.Request) -> web.HTTPException:
    """The redirect to the login form (to raise), which sends the official back here afterwards."""
    target = request.path_qs if request.method == "GET" else PREFIX + "/"
    return secure(web.HTTPFound(f"{PREFIX}/login?" + urlencode({"next": target})))


def unauthorised() -> web.Response:
    return json_error("login required", 401)


async def read_form(request: web.Request) -> MultiDictProxy | None:
    """The form in the body, or None when it does not parse (a broken multipart, bytes that are not UTF-8):
    the caller answers 4xx, not 500. Too big a body still raises 413."""
    try:
        return await request.post()
    except (ValueError, HttpProcessingError):
        return None


async def csrf_ok(request: web.Request, session: Session) -> bool:
    """Same-host Origin/Referer and the session's CSRF token (header, or form field of a form), in constant time."""
    supplied = request.headers.get("X-CSRF-Token")
    if not supplied and request.content_type in FORM_TYPES:
        form = await read_form(request)
        supplied = str(form.get("csrf", "")) if form is not None else ""
    return same_origin(request) and bool(supplied) and hmac.compare_digest(supplied.encode("utf-8"), session.csrf.encode("utf-8"))


class Refused(Exception):
    """What to answer instead of the handler (`check` raises it, `require` answers with it)."""

    def __init__(self, response: web.StreamResponse):
        super().__init__(response.status)
        self.response = response


async def check(request: web.Request, role: str = "viewer", *, page: bool = False, csrf: bool = False) -> Principal:
    """The request's principal if it may act as `role`. Else raises Refused with what to answer: the login
    redirect (page) or 401; 403 for too small a role or a failed same-origin/CSRF check (`csrf`: the
    request changes something; only a session needs it). Puts the session's CSRF token on the request for
    the top bar's logout form."""
    caller = await request.app[AUTH].caller(request)
    if caller is None:
        raise Refused(to_login(request) if page else unauthorised())
    if not caller.principal.can(role):
        message = T[request_lang(request)]["not_allowed"]
        raise Refused(render(request, "error.html", status=403, message=message) if page else json_error("forbidden", 403))
    if caller.session is not None:
        if csrf and not await csrf_ok(request, caller.session):
            raise Refused(json_error("forbidden", 403))
        request[CSRF] = caller.session.csrf
    return caller.principal


Handler = Callable[[web.Request, Principal], Awaitable[web.StreamResponse]]


def require(role: str = "viewer", *, page: bool = False, csrf: bool = False) -> Callable[[Handler], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
    """The decorator form of `check`: the handler gets the principal as its second argument."""
    ROLES.index(role)  # a typo in a role fails at import, not at the first request

    def wrap(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        @functools.wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            try:
                principal = await check(request, role, page=page, csrf=csrf)
            except Refused as refused:
                if isinstance(refused.response, web.HTTPException):
                    raise refused.response  # a redirect (aiohttp wants those raised)
                return refused.response
            return await handler(request, principal)

        return checked

    return wrap


# -- login, logout and everything else under /dashboard/ -------------------------------------------------------

def login_page(request: web.Request, problem: str | None, status: int = 200, wait: int = 0) -> web.Response:
    """The login form, with `problem` (a key of T) above it; `wait` seconds of a lockout, for "too_many"."""
    t = T[request_lang(request)]
    message = t[problem].replace("{minutes}", str(max(1, -(-wait // 60)))) if problem else ""
    if not request.app[DASHBOARD].ctx.settings.dashboard_token:
        message = t["disabled"]
    nxt = safe_next(request.query.get("next")) if request.method == "GET" else PREFIX + "/"
    return render(request, "login.html", status=status, message=message, next=nxt)


async def login_form(request: web.Request) -> web.Response:
    if request.app[AUTH].session(request) is not None:
        raise secure(web.HTTPFound(safe_next(request.query.get("next"))))
    return login_page(request, None)


async def login(request: web.Request) -> web.Response:
    if not same_origin(request):
        return login_page(request, "forbidden", 403)
    form = await read_form(request)
    if form is None:
        return login_page(request, "bad_form", 400)
    token, target = str(form.get("token", "")), safe_next(str(form.get("next", "")))
    expected = request.app[DASHBOARD].ctx.settings.dashboard_token
    if not expected:
        return login_page(request, "disabled", 403)
    verdict = check_secret(request, token, expected, "dashboard login")
    if verdict.locked:
        response = login_page(request, "too_many", 429, wait=verdict.retry_after)
        response.headers["Retry-After"] = str(verdict.retry_after)
        return response
    if not verdict.ok:
        return login_page(request, "wrong_token", 403)
    raise request.app[AUTH].start_session(request, ADMIN, target)


async def logout(request: web.Request) -> web.Response:
    auth = request.app[AUTH]
    session = auth.session(request)
    if session is None:
        return unauthorised()
    if not await csrf_ok(request, session):
        return json_error("forbidden", 403)
    auth.sessions.drop(request.cookies.get(COOKIE))
    response = web.HTTPSeeOther(f"{PREFIX}/login")
    response.del_cookie(COOKIE, path=PREFIX)
    raise secure(response)


async def catch_all(request: web.Request) -> web.Response:
    if await current_principal(request) is None:
        if request.path.startswith(f"{PREFIX}/api/") or request.path.startswith(f"{PREFIX}/export/") or request.method != "GET":
            return unauthorised()
        raise to_login(request)
    raise secure(web.HTTPNotFound())


def setup(app: web.Application) -> Auth:
    """The login routes and the application's Auth (add_catch_all comes last, after every page's routes)."""
    auth = app[AUTH] = Auth()
    shared_throttle(app)  # the login checks the token through the server's one lockout (bot.secrets_guard)
    app.router.add_get(PREFIX + "/login", login_form)
    app.router.add_post(PREFIX + "/login", login)
    app.router.add_post(PREFIX + "/logout", logout)
    return auth


def add_catch_all(app: web.Application) -> None:
    app.router.add_route("*", PREFIX + "/{tail:.*}", catch_all)
