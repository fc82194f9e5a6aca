"""The admins' page "Tài khoản / Accounts": officials' accounts and API tokens (analytics.accounts).

    GET  /dashboard/accounts                  the lists and the forms
    POST /dashboard/accounts/users            name, role, ward (repeated) -> this page with the one-time password
    POST /dashboard/accounts/users/disable    name -> back to the list; the account's sessions end at once
    POST /dashboard/accounts/users/enable     name
    POST /dashboard/accounts/users/reset      name -> this page with a new one-time password
    POST /dashboard/accounts/users/role       name, role, ward (repeated) -> back to the list; open sessions see it at once
    POST /dashboard/accounts/tokens           name, role, ward -> this page with the token
    POST /dashboard/accounts/tokens/revoke    name -> back to the list; the token stops working at once

Admins only (the top bar shows the page to admins only). Plain HTML forms with the session's CSRF token,
no script. A secret (a one-time password, a token) is in the answer to the POST that made it and nowhere
else: not in a URL, a redirect or a log, and the page is no-store like every dashboard page; reloading
the list shows it no more. The changes without a secret answer with a redirect to the list (reloading
does not repeat them). Each change is audited by accounts.Accounts in the change's own transaction, with
the admin's Principal.actor ("token:admin-token" for the access token's login).

Refused (400, in words): an admin disabling, resetting or changing the role of their own account (the
password form is for their own password, and they would lock themselves out), and the name "admin-token"
for accounts and tokens (the audit log's name for the access token's login).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from bot.knowledge import KnowledgeBase

from ..accounts import ROLES, AccountError, Accounts, Conflict, NotFound, Principal, normalise_name
from .auth import AUTH, FIRST_ADMIN_PATH, OPERATOR, error_key, read_form, require
from .common import DASHBOARD, PREFIX, Dashboard, NavPage, request_lang, secure
from ..formatting import vn_time
from .outreach import ward_name
from .templating import render
from .words import LANGS, T

PATH = PREFIX + "/accounts"
DONE = ("disabled", "enabled", "revoked", "role")  # what a redirect back to the list says was done (?done=...&name=...)


@dataclass(frozen=True)
class Shown:
    """A secret shown once: a one-time password ("otp") or an API token ("token"), for `name`."""

    kind: str
    name: str
    value: str


def known_wards(kb: KnowledgeBase) -> list[str]:
    """The ward ids of content/locality.yaml: what an account or token may be bound to."""
    return list(kb.ward_ids)


def wards_text(kb: KnowledgeBase, wards: tuple[str, ...], lang: str) -> str:
    return ", ".join(ward_name(kb, w, lang) for w in wards) if wards else T[lang]["all_wards"]


STATES = {"active": "state_active", "must change password": "state_must_change", "disabled": "state_disabled", "revoked": "state_revoked"}


async def view(request: web.Request, who: Principal, *, status: int = 200, problem: str | None = None, shown: Shown | None = None,
               form: MultiDictProxy | None = None) -> web.Response:
    """The page: the lists as they are now, and above them what just happened (a problem, a secret, a
    change the list was redirected back from). `form`: a refused form's fields, typed in again."""
    dash, lang = request.app[DASHBOARD], request_lang(request)
    t, kb = T[lang], dash.kb
    users, tokens, admin = await request.app[AUTH].store.run(lambda s, a: (a.list_users(), a.list_tokens(), a.has_any_admin()))
    me = who.name if who.kind == "account" else None
    user_rows = [
        {"name": u.name, "you": u.name == me, "role": t[f"role_{u.role}"], "wards": wards_text(kb, u.wards, lang), "state": t[STATES[u.state]],
         "disabled": u.disabled, "created": vn_time(u.created_at, lang), "changed": vn_time(u.password_changed_at, lang)}
        for u in users
    ]
    token_rows = [
        {"name": k.name, "role": t[f"role_{k.role}"], "wards": wards_text(kb, k.wards, lang), "prefix": k.prefix, "state": t[STATES[k.state]],
         "live": k.revoked_at is None, "created": vn_time(k.created_at, lang), "last_used": vn_time(k.last_used_at, lang)}
        for k in tokens
    ]
    done, done_name = request.query.get("done"), request.query.get("name", "")
    if done_name not in {u.name for u in users} | {k.name for k in tokens}:
        done = None  # a link naming something that is not there says nothing
    asked = form if form is not None else MultiDictProxy(MultiDict())
    refill = {"for": request.path.rsplit("/", 1)[-1], "name": str(asked.get("name", "")), "role": str(asked.get("role", "viewer")), "wards": set(asked.getall("ward", []))}
    return render(
        request, "accounts.html", status=status, current="accounts",
        message=t[problem] if problem else "",
        done=t[f"done_{done}"].replace("{name}", done_name) if done in DONE and done_name and request.method == "GET" else "",
        shown=shown, shown_text=t["otp_shown" if shown.kind == "otp" else "token_shown"].replace("{name}", shown.name) if shown else "",
        users=user_rows, others=[u["name"] for u in user_rows if not u["you"]], tokens=token_rows, roles=[(r, t[f"role_{r}"]) for r in ROLES],
        ward_choices=[(w, ward_name(kb, w, lang)) for w in known_wards(kb)], refill=refill,
        no_admin=not admin, first_admin_href=FIRST_ADMIN_PATH if who == OPERATOR else None,
    )


@require("admin", page=True)
async def page(request: web.Request, who: Principal) -> web.Response:
    return await view(request, who)


class Refusal(AccountError):
    """A change this page refuses though the accounts would allow it (its code: err_<code> in words.T)."""


def named(form: MultiDictProxy, who: Principal, *, not_self: bool = False) -> str:
    """The form's account or token name, normalised; Refusal for the access token's name (and for one's
    own account where `not_self`)."""
    name = normalise_name(str(form.get("name", "")))
    if name == OPERATOR.name:
        raise Refusal("the access token's login has that name", "reserved_name")
    if not_self and who.kind == "account" and name == who.name:
        raise Refusal("not on your own account", "self")
    return name


def add_user(accounts: Accounts, form: MultiDictProxy, who: Principal) -> tuple[str, str]:
    name = named(form, who)
    return name, accounts.add_user(name, str(form.get("role", "")), form.getall("ward", []), actor=who.actor)


def add_token(accounts: Accounts, form: MultiDictProxy, who: Principal) -> tuple[str, str]:
    name = named(form, who)
    return name, accounts.add_token(name, str(form.get("role", "")), form.getall("ward", []), actor=who.actor)


def reset(accounts: Accounts, form: MultiDictProxy, who: Principal) -> tuple[str, str]:
    name = named(form, who, not_self=True)
    return name, accounts.reset(name, actor=who.actor)


def disable(accounts: Accounts, form: MultiDictProxy, who: Principal) -> str:
    name = named(form, who, not_self=True)
    accounts.disable(name, actor=who.actor)
    return name


def set_role(accounts: Accounts, form: MultiDictProxy, who: Principal) -> str:
    name = named(form, who, not_self=True)
    accounts.set_role(name, str(form.get("role", "")), form.getall("ward", []), actor=who.actor)
    return name


def enable(accounts: Accounts, form: MultiDictProxy, who: Principal) -> str:
    name = named(form, who)
    accounts.enable(name, actor=who.actor)
    return name


def revoke(accounts: Accounts, form: MultiDictProxy, who: Principal) -> str:
    name = named(form, who)
    accounts.revoke_token(name, actor=who.actor)
    return name


Change = Callable[[Accounts, MultiDictProxy, Principal], Any]
Answer = Callable[[web.Request, Principal, Any], Awaitable[web.StreamResponse]]


def shows(kind: str) -> Answer:
    """The answer to a change that made a secret: this page, with it, once."""

    async def answer(request: web.Request, who: Principal, result: tuple[str, str]) -> web.StreamResponse:
        name, secret = result
        return await view(request, who, shown=Shown(kind, name, secret))

    return answer


def back_to_list(done: str) -> Answer:
    """The answer to a change without a secret: back to the list, which says what was done."""

    async def answer(request: web.Request, who: Principal, name: str) -> web.StreamResponse:
        raise secure(web.HTTPSeeOther(f"{PATH}?" + urlencode({"done": done, "name": name})))

    return answer


def post_route(change: Change, answer: Answer) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A POST of this page: admins only, CSRF; `change(accounts, form, who)` on the dashboard's threads
    (hashing a one-time password takes 0.1 s), then `answer`; an accounts error is the page with the reason."""

    @require("admin", csrf=True)
    async def post(request: web.Request, who: Principal) -> web.StreamResponse:
        form = await read_form(request)
        if form is None:
            return await view(request, who, status=400, problem="bad_form")
        dash = request.app[DASHBOARD]
        wards = known_wards(dash.kb)
        try:
            result = await dash.query(lambda db: change(Accounts(db, known_wards=wards), form, who))
        except AccountError as exc:
            status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 400
            return await view(request, who, status=status, problem=error_key(exc), form=form)
        return await answer(request, who, result)

    return post


def setup(app: web.Application, dash: Dashboard) -> None:
    dash.nav.append(NavPage("accounts", "/accounts", {lang: T[lang]["accounts"] for lang in LANGS}, role="admin"))
    r = app.router
    r.add_get(PATH, page)
    r.add_post(PATH + "/users", post_route(add_user, shows("otp")))
    r.add_post(PATH + "/users/reset", post_route(reset, shows("otp")))
    r.add_post(PATH + "/users/disable", post_route(disable, back_to_list("disabled")))
    r.add_post(PATH + "/users/enable", post_route(enable, back_to_list("enabled")))
    r.add_post(PATH + "/users/role", post_route(set_role, back_to_list("role")))
    r.add_post(PATH + "/tokens", post_route(add_token, shows("token")))
    r.add_post(PATH + "/tokens/revoke", post_route(revoke, back_to_list("revoked")))
