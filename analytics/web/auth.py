"""Who is calling the dashboard, and may they: `require`, which every handler but the login form and the
static files goes through, the sessions, the same-origin and CSRF checks, the logout, and every other path
under /dashboard/ (catch_all). The login itself, the first admin and the password change: login.py.

    @require("viewer", page=True)               # a page: no principal -> redirect to the login
    async def page(request, who: Principal): ...
    @require("editor", csrf=True)               # data that changes things: 401 / 403 as JSON
    async def save(request, who: Principal): ...

Who: analytics.accounts.Principal, the one principal type: a name, a role (viewer < editor < admin: each
may do what the ones before it may; `require` takes a role, `who.can(action)` an action: read, edit,
answer, admin, reload), the wards it is bound to (none: all of them), its kind ("account": a person with a
password; "token": an API token, or OPERATOR, whoever logged in with the server's access token) and
must_change (an account still on a one-time password). `current_principal(request)` finds it from
`Authorization: Bearer <token>` (Auth.resolve_token; by default the API tokens of `python -m analytics
tokens add`) or else from the session cookie.

- An account whose password must change gets nothing but the change form: pages redirect there, data
  answers 403 {"error": "password change required"} (require's `pending=True` lets the form itself in).
- A ward-bound principal reads only its wards: on every GET its `ward` filter is made one of them (none
  asked, or "all": its first ward; another ward, or "not set": 403), before the handler sees the query, so
  every section, export and page that filters by ward is restricted without knowing about it (the page's
  ward menu offers only its wards: _parts.html). POSTs (marks) are not ward-scoped: an inbox group is a
  question, not a ward's.

Security
- Sessions live in the analytics database (sessions.AuthStore over accounts.SessionStore): they survive
  a restart, several workers share them, disabling an account or changing its role takes effect on its
  open sessions at once. The cookie is 256 random bits in an HttpOnly, SameSite=Strict cookie with
  Path=/dashboard (Secure when the browser's request was https, directly or as a trusted proxy's
  X-Forwarded-Proto says); the table keeps only its hash. Idle and absolute expiry (8 h, 24 h); a new id
  at every login and password change (no session fixation). An unknown cookie is a lapsed session and is
  not counted against the client, so an official who is logged in keeps working while a guesser at the
  same address is locked out.
- Every secret a client supplies goes through the server's one lockout (bot.secrets_guard): the access
  token and passwords at the login, the current password at a change, and bearer tokens. A wrong API
  token counts as a failed guess (401) and a locked-out client gets 429 with Retry-After, right token or
  not. A right one does not clear the client's record (`succeeded`): a script calling the API all day
  would otherwise wipe the failures of a guesser at the same address between its guesses.
- Without a principal, pages redirect to the login and data (API, CSV, files) answers 401. Unknown paths
  under /dashboard/ do the same (catch_all), so nothing about the routes leaks before login.
- Every POST of a session must come from this host (Origin, or Referer when there is no Origin) and carry
  the session's CSRF token (header X-CSRF-Token, or form field `csrf`), compared in constant time: a
  forged cross-site POST gets 403 and changes nothing. A bearer call sends no cookie, so it needs neither.
"""

from __future__ import annotations

import functools
import hmac
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDictProxy

from bot.secrets_guard import THROTTLE, bearer_credential, client_key, shared_throttle

from ..accounts import ROLES, AccountError, Principal, Session
from .common import CSRF, DASHBOARD, PREFIX, PRINCIPAL, json_error, request_lang, secure
from .sessions import OPERATOR, AuthStore
from .templating import render
from .words import T

__all__ = ["ADMIN", "AUTH", "COOKIE", "OPERATOR", "Auth", "Principal", "audit", "current_principal", "require"]

log = logging.getLogger("digiguide.security")

COOKIE = "dg_session"
SESSION_LIFETIME = 24 * 3600  # the cookie's Max-Age (the database enforces the expiry: accounts.SESSION_*)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
ADMIN = OPERATOR  # the principal behind the access-token login (the name the dashboard had for it)
PASSWORD_PATH = PREFIX + "/password"  # the password change (login.py)
FIRST_ADMIN_PATH = PREFIX + "/first-admin"  # the first admin account, after a token login (login.py)


# -- who -------------------------------------------------------------------------------------------------------

def has_role(who: Principal, role: str) -> bool:
    """May `who` do what `role` may (an admin everything an editor may, an editor what a viewer may)?
    The role alone: whether the password must change first is `check`'s business."""
    return ROLES.index(who.role) >= ROLES.index(role)


def error_key(exc: AccountError) -> str:
    """The words.T key for an accounts error (err_ and its stable code), "err_invalid" for one without words."""
    key = f"err_{exc.code}"
    return key if key in T["vi"] else "err_invalid"


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


def with_next(path: str, target: str) -> str:
    """`path` (the first admin's or the password form) that goes on to `target` afterwards."""
    return path if target == PREFIX + "/" else f"{path}?" + urlencode({"next": target})


# -- the application's sessions and checks ---------------------------------------------------------------------

TokenResolver = Callable[[web.Request, str], Awaitable["Principal | None"]]


@dataclass(frozen=True)
class Caller:
    principal: Principal
    session: Session | None  # None: a bearer token (no cookie, so no CSRF token to check)


class Refused(Exception):
    """What to answer instead of the handler (`check` raises it, `require` answers with it)."""

    def __init__(self, response: web.StreamResponse):
        super().__init__(response.status)
        self.response = response


def too_many(wait: int) -> web.Response:
    """429 for a locked-out client (JSON, as /admin/reload answers)."""
    response = secure(web.json_response({"error": "too many failed attempts", "retry_after": wait}, status=429))
    response.headers["Retry-After"] = str(wait)
    return response


async def resolve_api_token(request: web.Request, token: str) -> Principal | None:
    """The default Auth.resolve_token: the API tokens in the database (accounts.verify_token), through
    the lockout: while the client is locked out, 429 (raised as Refused); a wrong or malformed token is a
    failed guess. ("" is what a header that is not `Bearer <token>` gives: a guess too.)"""
    throttle, key = request.app[THROTTLE], client_key(request.remote)
    wait = throttle.retry_after(key)
    if wait:
        raise Refused(too_many(wait))
    principal = await request.app[AUTH].store.verify_token(token) if token else None
    if principal is None:
        locked = throttle.failed(key)
        log.warning("dashboard API: wrong token from %s%s", key, f"; locked out for {locked} s" if locked else "")
    return principal


@dataclass
class Auth:
    """The sessions of one application (app[AUTH]) and the bearer-token hook: `resolve_token(request,
    token)` returns the token's principal or None ("" for a malformed `Bearer` header), or raises
    Refused (a lockout). Set to None, an Authorization header is ignored; set, a `Bearer` header
    decides on its own: a wrong token is 401 even next to a good session cookie. Other schemes (a
    reverse proxy's Basic login in front of the dashboard, say) are not tokens: the session decides."""

    store: AuthStore
    resolve_token: TokenResolver | None = resolve_api_token

    async def caller(self, request: web.Request) -> Caller | None:
        header = request.headers.get("Authorization")
        if header is not None and self.resolve_token is not None and header.strip().partition(" ")[0].lower() == "bearer":
            principal = await self.resolve_token(request, bearer_credential(header) or "")
            return Caller(principal, None) if principal is not None else None
        session = await self.session(request)
        return Caller(session.principal, session) if session is not None else None

    async def session(self, request: web.Request) -> Session | None:
        cookie = request.cookies.get(COOKIE)
        return await self.store.session(cookie) if cookie else None  # no thread hop for a visitor without one

    async def start_session(self, request: web.Request, principal: Principal, target: str) -> web.HTTPSeeOther:
        """The answer to a successful login (to raise): a new session (the old one dropped) and its cookie."""
        cookie, _ = await self.store.start(principal, request.cookies.get(COOKIE))
        response = web.HTTPSeeOther(target)
        response.set_cookie(COOKIE, cookie, path=PREFIX, httponly=True, samesite="Strict", secure=request.secure, max_age=SESSION_LIFETIME)
        return secure(response)


AUTH = web.AppKey("dashboard-auth", Auth)


async def current_principal(request: web.Request) -> Principal | None:
    """Who is behind the request (bearer token, else session), or None (a locked-out client too)."""
    try:
        caller = await request.app[AUTH].caller(request)
    except Refused:
        return None
    return caller.principal if caller is not None else None


async def audit(request: web.Request, who: Principal, action: str, target: str | None = None, detail: dict[str, Any] | None = None) -> None:
    """Record a change in the audit log (accounts.audit): `who` did `action` ("content.save", ...) on
    `target`. Never put a secret in `detail` (audit refuses keys that name one)."""
    await request.app[AUTH].store.audit(who.actor, action, target, detail)


def to_login(request: web.Request) -> web.HTTPException:
    """The redirect to the login form (to raise), which sends the official back here afterwards."""
    target = request.path_qs if request.method == "GET" else PREFIX + "/"
    return secure(web.HTTPFound(f"{PREFIX}/login?" + urlencode({"next": target})))


def to_password(request: web.Request) -> web.HTTPException:
    """The redirect to the password change (a one-time password must be changed first)."""
    return secure(web.HTTPFound(with_next(PASSWORD_PATH, request.path_qs if request.method == "GET" else PREFIX + "/")))


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


def refuse(request: web.Request, key: str, message: str, page: bool) -> Refused:
    """403: for a page a sentence (words.T[key]), for data JSON with `message`."""
    if page:
        return Refused(render(request, "error.html", status=403, message=T[request_lang(request)][key]))
    return Refused(json_error(message, 403))


async def check(request: web.Request, role: str = "viewer", *, page: bool = False, csrf: bool = False, pending: bool = False) -> Principal:
    """The request's principal if it may act as `role`. Else raises Refused with what to answer: the login
    redirect (page) or 401; the password form (page) or 403 while a one-time password must be changed
    (unless `pending`: the form itself); 403 for too small a role or a failed same-origin/CSRF check
    (`csrf`: the request changes something; only a session needs it). Puts the principal and the
    session's CSRF token on the request (the top bar: the logout form, the pages it may see)."""
    caller = await request.app[AUTH].caller(request)
    if caller is None:
        raise Refused(to_login(request) if page else unauthorised())
    who = caller.principal
    request[PRINCIPAL] = who
    if caller.session is not None:
        request[CSRF] = caller.session.csrf
    if who.must_change and not pending:
        raise Refused(to_password(request)) if page else refuse(request, "not_allowed", "password change required", False)
    if not has_role(who, role):
        raise refuse(request, "not_allowed", f"needs the {role} role", page)
    if caller.session is not None and csrf and not await csrf_ok(request, caller.session):
        raise Refused(json_error("forbidden", 403))
    return who


def scope_wards(request: web.Request, who: Principal, page: bool) -> web.Request:
    """A ward-bound principal's GET with its ward filter made one of its wards (see the module docstring):
    the request itself when nothing changes, a clone with the new query otherwise; Refused (403) for a
    ward outside them. (Only GETs: a POST's body may have been read already, and a clone cannot.)"""
    if not who.wards or request.method not in ("GET", "HEAD"):
        return request
    asked = request.query.get("ward", "").strip()
    if asked in who.wards:
        return request
    if asked:
        raise refuse(request, "not_your_ward", "outside your wards", page)
    query = request.query.copy()
    query["ward"] = min(who.wards)  # the first of its wards (accounts keeps them sorted)
    return request.clone(rel_url=request.rel_url.with_query(query), remote=request.remote, scheme=request.scheme, host=request.host)


Handler = Callable[[web.Request, Principal], Awaitable[web.StreamResponse]]


def require(role: str = "viewer", *, page: bool = False, csrf: bool = False, pending: bool = False) -> Callable[[Handler], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
    """The decorator form of `check` (and `scope_wards`): the handler gets the principal as its second argument."""
    if role not in ROLES:  # a typo in a role fails at import, not at the first request
        raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")

    def wrap(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        @functools.wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            try:
                principal = await check(request, role, page=page, csrf=csrf, pending=pending)
                request = scope_wards(request, principal, page)
            except Refused as refused:
                if isinstance(refused.response, web.HTTPException):
                    raise refused.response  # a redirect (aiohttp wants those raised)
                return refused.response
            return await handler(request, principal)

        return checked

    return wrap


# -- logout and everything else under /dashboard/ --------------------------------------------------------------

async def logout(request: web.Request) -> web.Response:
    auth = request.app[AUTH]
    session = await auth.session(request)
    if session is None:
        return unauthorised()
    if not await csrf_ok(request, session):
        return json_error("forbidden", 403)
    await auth.store.drop(request.cookies.get(COOKIE))
    response = web.HTTPSeeOther(f"{PREFIX}/login")
    response.del_cookie(COOKIE, path=PREFIX)
    raise secure(response)


async def catch_all(request: web.Request) -> web.StreamResponse:
    try:
        caller = await request.app[AUTH].caller(request)
    except Refused as refused:
        return refused.response
    if caller is None:
        if request.path.startswith(f"{PREFIX}/api/") or request.path.startswith(f"{PREFIX}/export/") or request.method != "GET":
            return unauthorised()
        raise to_login(request)
    raise secure(web.HTTPNotFound())


def setup(app: web.Application) -> Auth:
    """The application's Auth (sessions in the analytics database, API tokens on) and the logout route;
    add_catch_all comes last, after every page's routes."""
    settings = app[DASHBOARD].ctx.settings
    auth = app[AUTH] = Auth(AuthStore(settings.database, settings.dashboard_token))
    shared_throttle(app)  # every secret is checked through the server's one lockout (bot.secrets_guard)
    app.router.add_post(PREFIX + "/logout", logout)

    async def open_(_app: web.Application) -> None:
        await auth.store.open()

    async def close(_app: web.Application) -> None:
        await auth.store.close()

    app.on_startup.append(open_)
    app.on_cleanup.append(close)
    return auth


def add_catch_all(app: web.Application) -> None:
    app.router.add_route("*", PREFIX + "/{tail:.*}", catch_all)
