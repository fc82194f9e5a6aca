"""Getting in: the login form, the first administrator and the password change.

    GET  /dashboard/login            the form: name and password; the access token folded below it (only
                                     the token while there is no account yet)
    POST /dashboard/login            name + password, or token (the printed link's login.js sends that)
    GET  /dashboard/first-admin      after a token login while no enabled admin account exists
    POST /dashboard/first-admin      name, password, password2 -> the first admin, logged in
    GET  /dashboard/password         change your password (the only page while a one-time password is on)
    POST /dashboard/password         current, password, password2 -> a new session

Two ways in, one lockout (bot.secrets_guard, per client address, shared with /admin/reload and the API
tokens): a wrong password or token is a failed guess, and while a client is locked out nothing is even
checked (429 with Retry-After). The answer to a wrong name or password is one sentence whatever was wrong
(unknown name, wrong password, disabled account), and accounts.verify_password spends one argon2 check
either way. Hashing (about 0.1 s) runs on the dashboard's query threads, never on the event loop.

The access token. It stays the operators' way in: `serve` prints a login link with it, and whoever holds
it is the built-in admin principal OPERATOR (audited as "token:admin-token"). While no enabled admin
account exists, a token login lands on the first-admin form (accounts.Accounts.create_first_admin: a
name and a password of one's own, policy-checked, audited by "bootstrap"), which logs in as that admin.
The form can be skipped ("later"): the token is an admin credential anyway, so forcing the form would
protect nothing, and a demo or an operator's quick look keeps working. Once an admin account exists the
token still logs in, straight where it was asked to go: the break-glass way in for the server's operator
when every admin is locked out, visible as such in the audit log.

The one-time password: an account created or reset by an admin logs in with it and is then sent to the
password form; every other page redirects there and every API answers 403 until it is changed
(auth.check). After a change every session of the account ends (accounts.change_password) and this
browser gets a new one, so a cookie stolen before the change is worth nothing.

Audit: every login, successful or not, with the method and the client's address (never what was typed
as a password or token); a failed one names the account only if such an account exists ("-" as actor:
nobody is known to be behind it). Password changes and the first admin are audited inside accounts.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from bot.secrets_guard import THROTTLE, check_secret, client_key

from ..accounts import AccountError, Accounts, PolicyError, Principal, WrongPassword
from .auth import AUTH, FIRST_ADMIN_PATH, OPERATOR, PASSWORD_PATH, error_key, read_form, require, safe_next, same_origin, with_next
from .common import CSRF, DASHBOARD, PREFIX, request_lang, secure
from .templating import render
from .words import T

log = logging.getLogger("digiguide.security")

UNKNOWN = "-"  # the audit log's actor for a failed login: nobody is known to be behind it


def problem_text(request: web.Request, key: str | None, wait: int = 0) -> str:
    """The sentence for `key` (a key of words.T), with a lockout's minutes filled in."""
    if not key:
        return ""
    return T[request_lang(request)][key].replace("{minutes}", str(max(1, -(-wait // 60))))


def locked_out(response: web.Response, wait: int) -> web.Response:
    response.headers["Retry-After"] = str(wait)
    return response


# -- the login form --------------------------------------------------------------------------------------------

async def login_page(request: web.Request, problem: str | None, status: int = 200, wait: int = 0, name: str = "", nxt: str | None = None) -> web.Response:
    """The login form, with `problem` (a key of T) above it; `wait` seconds of a lockout, for "too_many";
    `name` typed in again; `nxt`: where to go afterwards (else the query's `next`)."""
    state = await request.app[AUTH].store.login_state()
    token_on = bool(request.app[DASHBOARD].ctx.settings.dashboard_token)
    message = problem_text(request, problem, wait)
    if not token_on and not state.accounts:
        message = T[request_lang(request)]["disabled"]
    nxt = nxt or safe_next(request.query.get("next"))
    return render(request, "login.html", status=status, message=message, next=nxt, typed_name=name[:64], accounts=state.accounts, token_on=token_on)


async def login_form(request: web.Request) -> web.Response:
    session = await request.app[AUTH].session(request)
    if session is not None:
        target = safe_next(request.query.get("next"))
        raise secure(web.HTTPFound(with_next(PASSWORD_PATH, target) if session.principal.must_change else target))
    return await login_page(request, None)


async def login(request: web.Request) -> web.Response:
    if not same_origin(request):
        return await login_page(request, "forbidden", 403)
    form = await read_form(request)
    if form is None:
        return await login_page(request, "bad_form", 400)
    target = safe_next(str(form.get("next", "")))
    if "token" in form:
        return await token_login(request, str(form.get("token", "")), target)
    return await password_login(request, str(form.get("name", "")), str(form.get("password", "")), target)


def client_detail(request: web.Request, method: str) -> dict[str, Any]:
    return {"method": method, "client": client_key(request.remote)}


async def token_login(request: web.Request, token: str, target: str) -> web.Response:
    auth, settings = request.app[AUTH], request.app[DASHBOARD].ctx.settings
    if not settings.dashboard_token:
        return await login_page(request, "token_off", 403, nxt=target)
    verdict = check_secret(request, token, settings.dashboard_token, "dashboard login")
    if verdict.locked:
        return locked_out(await login_page(request, "too_many", 429, wait=verdict.retry_after, nxt=target), verdict.retry_after)
    if not verdict.ok:
        await auth.store.audit(UNKNOWN, "login.failed", None, client_detail(request, "token"))
        return await login_page(request, "wrong_token", 403, nxt=target)
    await auth.store.audit(OPERATOR.actor, "login", None, client_detail(request, "token"))
    if not (await auth.store.login_state()).admin:
        target = with_next(FIRST_ADMIN_PATH, target)
    raise await auth.start_session(request, OPERATOR, target)


def check_password(db: Any, name: str, password: str) -> tuple[Principal | None, str | None]:
    """(the principal, or None) and the account's name if one of that name exists (for the audit log only)."""
    accounts = Accounts(db)
    principal = accounts.verify_password(name, password)
    account = accounts.get_user(name) if principal is None else None
    return principal, account.name if account is not None else None


async def password_login(request: web.Request, name: str, password: str, target: str) -> web.Response:
    auth, throttle, key = request.app[AUTH], request.app[THROTTLE], client_key(request.remote)
    wait = throttle.retry_after(key)
    if wait:
        return locked_out(await login_page(request, "too_many", 429, wait=wait, name=name, nxt=target), wait)
    principal, known = await request.app[DASHBOARD].query(lambda db: check_password(db, name, password))
    if principal is None:
        locked = throttle.failed(key)
        log.warning("dashboard login: wrong name or password from %s%s", key, f"; locked out for {locked} s" if locked else "")
        await auth.store.audit(UNKNOWN, "login.failed", known, client_detail(request, "password"))
        return await login_page(request, "wrong_password", 403, name=name, nxt=target)
    throttle.succeeded(key)
    await auth.store.audit(principal.actor, "login", principal.name, client_detail(request, "password"))
    raise await auth.start_session(request, principal, with_next(PASSWORD_PATH, target) if principal.must_change else target)


# -- the first admin -------------------------------------------------------------------------------------------

def first_admin_page(request: web.Request, nxt: str, problem: str | None = None, status: int = 200, name: str = "") -> web.Response:
    return render(request, "first_admin.html", status=status, message=problem_text(request, problem), next=nxt, typed_name=name)


def not_operator(request: web.Request, who: Principal) -> web.Response | None:
    """403 for anyone but a session of the token login (an account, an API token with role admin)."""
    if who != OPERATOR or request.get(CSRF) is None:
        return render(request, "error.html", status=403, message=T[request_lang(request)]["not_allowed"])
    return None


@require("admin", page=True)
async def first_admin_form(request: web.Request, who: Principal) -> web.Response:
    refused, nxt = not_operator(request, who), safe_next(request.query.get("next"))
    if refused is not None:
        return refused
    if (await request.app[AUTH].store.login_state()).admin:  # someone was quicker, in another browser
        raise secure(web.HTTPFound(nxt))
    return first_admin_page(request, nxt)


@require("admin", csrf=True)
async def first_admin(request: web.Request, who: Principal) -> web.Response:
    refused = not_operator(request, who)
    if refused is not None:
        return refused
    form = await read_form(request)
    if form is None:
        return first_admin_page(request, PREFIX + "/", "bad_form", 400)
    name, password, nxt = str(form.get("name", "")), str(form.get("password", "")), safe_next(str(form.get("next", "")))
    if password != str(form.get("password2", "")):
        return first_admin_page(request, nxt, "passwords_differ", 400, name)
    try:  # refused inside the write lock once an enabled admin exists: two browsers at once make one admin
        admin = await request.app[DASHBOARD].query(lambda db: Accounts(db).create_first_admin(name, password))
    except AccountError as exc:
        return first_admin_page(request, nxt, error_key(exc), 409 if exc.code == "admin_exists" else 400, name)
    raise await request.app[AUTH].start_session(request, admin, nxt)


# -- changing one's password -----------------------------------------------------------------------------------

def password_page(request: web.Request, who: Principal, nxt: str, problem: str | None = None, status: int = 200, wait: int = 0) -> web.Response:
    if who.kind != "account":
        return render(request, "error.html", status=403, message=T[request_lang(request)]["no_password"])
    return render(request, "change_password.html", status=status, message=problem_text(request, problem, wait), next=nxt, forced=who.must_change)


@require("viewer", page=True, pending=True)
async def password_form(request: web.Request, who: Principal) -> web.Response:
    return password_page(request, who, safe_next(request.query.get("next")))


@require("viewer", csrf=True, pending=True)
async def change_password(request: web.Request, who: Principal) -> web.Response:
    if who.kind != "account" or request.get(CSRF) is None:
        return password_page(request, who, PREFIX + "/")  # a token has no password (and no session to renew)
    form = await read_form(request)
    if form is None:
        return password_page(request, who, PREFIX + "/", "bad_form", 400)
    current, new, nxt = str(form.get("current", "")), str(form.get("password", "")), safe_next(str(form.get("next", "")))
    if new != str(form.get("password2", "")):
        return password_page(request, who, nxt, "passwords_differ", 400)
    throttle, key = request.app[THROTTLE], client_key(request.remote)
    wait = throttle.retry_after(key)
    if wait:
        return locked_out(password_page(request, who, nxt, "too_many", 429, wait), wait)
    try:
        principal = await request.app[DASHBOARD].query(lambda db: Accounts(db).change_password(who.name, current, new))
    except WrongPassword:  # the current password is a secret too: a stolen session must not guess it freely
        locked = throttle.failed(key)
        log.warning("dashboard password change: wrong current password from %s%s", key, f"; locked out for {locked} s" if locked else "")
        return password_page(request, who, nxt, "wrong_current", 403)
    except PolicyError as exc:
        return password_page(request, who, nxt, error_key(exc), 400)
    throttle.succeeded(key)
    raise await request.app[AUTH].start_session(request, principal, nxt)


def setup(app: web.Application) -> None:
    r = app.router
    r.add_get(PREFIX + "/login", login_form)
    r.add_post(PREFIX + "/login", login)
    r.add_get(FIRST_ADMIN_PATH, first_admin_form)
    r.add_post(FIRST_ADMIN_PATH, first_admin)
    r.add_get(PASSWORD_PATH, password_form)
    r.add_post(PASSWORD_PATH, change_password)

