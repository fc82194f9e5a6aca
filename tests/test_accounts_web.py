"""Officials' personal accounts in the dashboard (issue 11 §1), on our real server over loopback HTTP.

Each person is their own HTTP client with their own cookies, as their browsers would be: the server's
operator with the access token, an admin, editors and viewers with passwords, a script with an API token.
What they see is what the server answers; what is stored is read back from the database itself. Every test
runs on both engines (conftest's db_target): an SQLite file, and PostgreSQL through DIGIGUIDE_DATABASE_URL.

- first start: the token login leads to "create the first admin", which logs in as that admin;
- an account made on the accounts page logs in with its one-time password, can do nothing until it has
  chosen its own (pages redirect, the API says 403), and then gets a new session;
- disable ends a live session at once, reset too; a wrong name, a wrong password and a disabled account
  get the same answer;
- a viewer reads but does not mark and gets no mark buttons; an editor marks; an API token with role
  viewer reads with `Authorization: Bearer` and no CSRF token, and cannot mark; a ward-bound viewer sees
  only its ward;
- sessions survive a restart (a second server on the same database); the access token's sessions end when
  the token changes;
- passwords, tokens and one-time passwords are in no byte of the database and no log line;
- one lockout for passwords, the access token and API tokens;
- every login, mark and account change is in the audit log, which admins read (and download) by actor.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from multidict import CIMultiDictProxy
from yarl import URL

from analytics.accounts import audit_log, connect
from analytics.store import connect as connect_analytics
from analytics_data import generate_events, write
from accountsutil import PASSWORD, make_account, stored_bytes
from bot.secrets_guard import LIMIT
from webutil import app_settings, make_app, running_server

TOKEN = "tok"  # webutil.app_settings' access token
NEW = "a new password of mine"
OTP_RE = re.compile(r"[a-z2-9]{4}(?:-[a-z2-9]{4}){3}")
API_TOKEN_RE = re.compile(r"dg_[A-Za-z0-9_-]{40,}")


@dataclass
class Reply:
    status: int
    headers: CIMultiDictProxy[str]
    text: str

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")

    def json(self) -> object:
        return json.loads(self.text)

    def secret(self) -> str:
        """The one-time password or token the accounts page shows once."""
        return re.search(r'<code class="secret" id="shown-secret">([^<]+)</code>', self.text).group(1)


@dataclass
class Person:
    """One browser (or script): its own cookies; `csrf` is read from the pages as a browser's form has it."""

    base: str
    http: aiohttp.ClientSession = field(init=False)
    csrf: str = ""

    def __post_init__(self) -> None:
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # unsafe: cookies for an IP host

    @property
    def cookie(self) -> str:
        jar = self.http.cookie_jar.filter_cookies(URL(self.base + "/dashboard/"))
        return jar["dg_session"].value if "dg_session" in jar else ""

    async def send(self, method: str, path: str, *, headers: dict | None = None, **kwargs) -> Reply:
        async with self.http.request(method, self.base + path, allow_redirects=False, headers=headers, **kwargs) as r:
            reply = Reply(r.status, r.headers, await r.text())
        found = re.search(r'name="csrf" value="([^"]+)"', reply.text)
        if found:
            self.csrf = found.group(1)
        return reply

    async def get(self, path: str, **kwargs) -> Reply:
        return await self.send("GET", path, **kwargs)

    async def form(self, path: str, data: dict | list, *, csrf: bool = True) -> Reply:
        """A form POST from one of our pages (same origin; the session's CSRF token in the form)."""
        fields = list(data.items()) if isinstance(data, dict) else list(data)
        if csrf:
            fields.append(("csrf", self.csrf))
        return await self.send("POST", path, data=fields, headers={"Origin": self.base})

    async def api_post(self, path: str, body: dict, headers: dict | None = None) -> Reply:
        h = {"Content-Type": "application/json", **({"Origin": self.base, "X-CSRF-Token": self.csrf} if self.csrf else {}), **(headers or {})}
        return await self.send("POST", path, data=json.dumps(body), headers=h)

    async def login(self, name: str, password: str, next_path: str = "/dashboard/") -> Reply:
        return await self.form("/dashboard/login", {"name": name, "password": password, "next": next_path}, csrf=False)

    async def token_login(self, token: str = TOKEN, next_path: str = "/dashboard/") -> Reply:
        return await self.form("/dashboard/login", {"token": token, "next": next_path}, csrf=False)

    async def change_password(self, current: str, new: str, repeat: str | None = None, next_path: str = "/dashboard/") -> Reply:
        await self.get("/dashboard/password")  # the form (and its CSRF token)
        return await self.form("/dashboard/password", {"current": current, "password": new, "password2": new if repeat is None else repeat, "next": next_path})

    async def section(self, name: str = "totals", headers: dict | None = None, **query) -> Reply:
        return await self.get(f"/dashboard/api/section/{name}", params={"since": "", "until": "", **query}, headers=headers)


@pytest.fixture(scope="module")
def events():
    return generate_events(n_users=80, days=7, seed=3)


@asynccontextmanager
async def site(tmp_path: Path, where: str, kb, matcher, events=None, **settings) -> AsyncIterator[str]:
    """Our whole server on the database `where` (db_target: a file, or a PostgreSQL URL), with `events` in it."""
    if events is not None:
        with connect_analytics(where) as db:
            if not db.scalar("select count(*) from events"):
                write(db, events)
    async with running_server(make_app(tmp_path, kb, matcher, app_settings(tmp_path, db=where, **settings))) as base:
        yield base


@asynccontextmanager
async def people(base: str, n: int) -> AsyncIterator[list[Person]]:
    crowd = [Person(base) for _ in range(n)]
    try:
        yield crowd
    finally:
        for person in crowd:
            await person.http.close()


def entries(where: str, **kw) -> list:
    with connect(where) as db:
        return audit_log(db, limit=1000, **kw)


async def admin_session(where: str, admin: Person, name: str = "boss") -> None:
    """An admin account that chose its password, logged in."""
    make_account(where, name, "admin")
    assert (await admin.login(name, PASSWORD)).status == 303


# -- the first start ---------------------------------------------------------------------------------------------

async def test_first_start_the_token_link_creates_the_first_admin(tmp_path, db_target, kb, matcher):
    async with site(tmp_path, db_target, kb, matcher) as base, people(base, 2) as [operator, later]:
        page = await operator.get("/dashboard/login")
        assert 'id="token"' in page.text and 'id="password"' not in page.text  # no accounts yet: only the token
        r = await operator.token_login(next_path="/dashboard/weekly")
        assert r.status == 303 and r.location.startswith("/dashboard/first-admin?next=/dashboard/weekly")
        form = await operator.get(r.location)
        assert form.status == 200 and "Tạo tài khoản quản trị đầu tiên" in form.text and operator.csrf
        assert 'href="/dashboard/weekly"' in form.text  # "later": the token is an admin anyway

        refused = await operator.form("/dashboard/first-admin", {"name": "boss", "password": NEW, "password2": NEW + "x", "next": "/dashboard/weekly"})
        assert refused.status == 400 and "không giống nhau" in refused.text
        refused = await operator.form("/dashboard/first-admin", {"name": "boss", "password": "short", "password2": "short", "next": "/dashboard/weekly"})
        assert refused.status == 400 and "ít nhất 10 ký tự" in refused.text
        refused = await operator.form("/dashboard/first-admin", {"name": "boss", "password": NEW, "password2": NEW, "next": "/dashboard/weekly"}, csrf=False)
        assert refused.status == 403  # the form needs the session's CSRF token
        token_cookie = operator.cookie
        done = await operator.form("/dashboard/first-admin", {"name": "Boss", "password": NEW, "password2": NEW, "next": "/dashboard/weekly"})
        assert done.status == 303 and done.location == "/dashboard/weekly" and operator.cookie != token_cookie
        accounts = await operator.get("/dashboard/accounts")
        assert accounts.status == 200 and '<tr data-name="boss">' in accounts.text and "(bạn)" in accounts.text
        assert "Quản trị" in accounts.text and 'href="/dashboard/password"' in accounts.text  # the top bar: boss, who may change it

        # the first admin exists: the token still logs in (break-glass), straight where it was asked
        r = await later.token_login(next_path="/dashboard/weekly")
        assert r.status == 303 and r.location == "/dashboard/weekly"
        assert (await later.get("/dashboard/first-admin")).status == 302  # nothing to create any more
        await later.get("/dashboard/weekly")  # (its CSRF token)
        assert (await later.form("/dashboard/first-admin", {"name": "second", "password": NEW, "password2": NEW})).status == 409
        assert (await operator.get("/dashboard/first-admin")).status == 403  # an account is not the token
        # and the password form knows boss now
        assert (await later.login("boss", NEW)).status == 303

    log = [(e.actor, e.action, e.target) for e in reversed(entries(db_target))]
    assert log == [
        ("token:admin-token", "login", None), ("bootstrap", "user.first_admin", "boss"),
        ("token:admin-token", "login", None), ("boss", "login", "boss"),
    ]


# -- one-time passwords --------------------------------------------------------------------------------------------

async def test_an_account_from_the_accounts_page_must_change_its_one_time_password_first(tmp_path, db_target, kb, matcher, events):
    async with site(tmp_path, db_target, kb, matcher, events) as base, people(base, 2) as [admin, lan]:
        await admin_session(db_target, admin)
        await admin.get("/dashboard/accounts")
        made = await admin.form("/dashboard/accounts/users", [("name", "Lan"), ("role", "editor"), ("ward", "phuc-yen"), ("ward", "xuan-hoa")])
        assert made.status == 200 and "Mật khẩu dùng một lần của lan" in made.text
        otp = made.secret()
        assert OTP_RE.fullmatch(otp)
        assert otp not in (await admin.get("/dashboard/accounts")).text  # shown once: the list does not show it again

        r = await lan.login("lan", otp.upper().replace("-", " "), next_path="/dashboard/weekly")  # typed back loosely
        assert r.status == 303 and r.location == "/dashboard/password?next=/dashboard/weekly"
        # nothing else until it is changed
        assert (await lan.section()).status == 403 and (await lan.section()).json() == {"error": "password change required"}
        page = await lan.get("/dashboard/?since=&until=")
        assert page.status == 302 and page.location.startswith("/dashboard/password?next=")
        form = await lan.get("/dashboard/password?next=/dashboard/weekly")
        assert "mật khẩu dùng một lần" in form.text and "Mật khẩu dùng một lần" in form.text

        assert (await lan.change_password("wrong-wrong-wrong", NEW)).status == 403
        assert (await lan.change_password(otp, NEW, NEW + "!")).status == 400
        refused = await lan.change_password(otp, otp)
        assert refused.status == 400 and "khác mật khẩu vừa dùng" in refused.text
        old_cookie = lan.cookie
        done = await lan.change_password(otp, NEW, next_path="/dashboard/weekly")
        assert done.status == 303 and done.location == "/dashboard/weekly" and lan.cookie not in ("", old_cookie)
        assert (await lan.section()).status == 200
        assert (await lan.login("lan", otp)).status == 403  # the one-time password is spent

        stale = Person(base)
        stale.http.cookie_jar.update_cookies({"dg_session": old_cookie}, URL(base + "/dashboard/"))
        assert (await stale.section()).status == 401  # the session before the change ended with it
        await stale.http.close()

    actions = [(e.actor, e.action, e.target) for e in reversed(entries(db_target))]
    assert ("boss", "user.add", "lan") in actions and ("lan", "user.password", "lan") in actions
    assert actions.index(("lan", "login", "lan")) < actions.index(("lan", "user.password", "lan"))
    added = next(e for e in entries(db_target) if e.action == "user.add")
    assert added.detail == {"role": "editor", "wards": ["phuc-yen", "xuan-hoa"]}


async def test_disable_ends_a_live_session_and_reset_issues_a_new_one_time_password(tmp_path, db_target, kb, matcher):
    async with site(tmp_path, db_target, kb, matcher) as base, people(base, 3) as [admin, lan, stranger]:
        await admin_session(db_target, admin)
        make_account(db_target, "lan", "editor")
        assert (await lan.login("lan", PASSWORD)).status == 303 and (await lan.section()).status == 200

        await admin.get("/dashboard/accounts")
        r = await admin.form("/dashboard/accounts/users/disable", {"name": "lan"})
        assert r.status == 303 and r.location == "/dashboard/accounts?done=disabled&name=lan"
        listed = await admin.get(r.location)
        assert "Đã khóa lan" in listed.text and "Mở khóa" in listed.text
        assert (await lan.section()).status == 401  # at once, on the session that was open

        wrong_password = await stranger.login("lan", "not her password")
        disabled = await lan.login("lan", PASSWORD)
        unknown = await stranger.login("nobody", PASSWORD)
        assert wrong_password.status == disabled.status == unknown.status == 403
        sentence = "Tên đăng nhập hoặc mật khẩu không đúng."
        assert all(sentence in r.text for r in (wrong_password, disabled, unknown))  # never which of the three

        assert (await admin.form("/dashboard/accounts/users/enable", {"name": "lan"})).status == 303
        assert (await lan.login("lan", PASSWORD)).status == 303

        await admin.get("/dashboard/accounts")
        reset = await admin.form("/dashboard/accounts/users/reset", {"name": "lan"})
        assert reset.status == 200 and "Mật khẩu dùng một lần của lan" in reset.text
        otp = reset.secret()
        assert (await lan.section()).status == 401  # the reset ended her session too
        assert (await lan.login("lan", PASSWORD)).status == 403
        r = await lan.login("lan", otp)
        assert r.status == 303 and r.location == "/dashboard/password"

        # an admin cannot lock themselves out from here; nor take the access token's name
        await admin.get("/dashboard/accounts")
        for path in ("/dashboard/accounts/users/disable", "/dashboard/accounts/users/reset"):
            r = await admin.form(path, {"name": "boss"})
            assert r.status == 400 and "chính tài khoản của bạn" in r.text
        r = await admin.form("/dashboard/accounts/users", {"name": "admin-token", "role": "admin"})
        assert r.status == 400 and "dành riêng" in r.text
        for data, status, words in (({"name": "lan", "role": "viewer"}, 409, "đã có"), ({"name": "x y", "role": "viewer"}, 400, "Tên không hợp lệ"),
                                    ({"name": "an", "role": "boss"}, 400, "Vai trò"), ({"name": "an", "role": "viewer", "ward": "hai-chau"}, 400, "Phường/xã không có"),
                                    ({"name": "ghost"}, 404, None)):
            path = "/dashboard/accounts/users/enable" if status == 404 else "/dashboard/accounts/users"
            r = await admin.form(path, data)
            assert r.status == status and (words is None or words in r.text), (data, r.status)
        broken = await admin.send("POST", "/dashboard/accounts/users", data=b"--x\r\nbroken", headers={"Origin": base, "Content-Type": "multipart/form-data; boundary=x", "X-CSRF-Token": admin.csrf})
        assert broken.status == 400

    actions = [(e.actor, e.action, e.target) for e in entries(db_target)]
    for wanted in (("boss", "user.disable", "lan"), ("boss", "user.enable", "lan"), ("boss", "user.reset", "lan"), ("-", "login.failed", "lan"), ("-", "login.failed", None)):
        assert wanted in actions, wanted
    assert entries(db_target, target="lan")[-1].action == "user.add" and entries(db_target, target="lan")[-1].actor == "cli"


# -- roles, tokens, wards ------------------------------------------------------------------------------------------

async def inbox_key(person: Person, headers: dict | None = None) -> str:
    r = await person.section("unanswered", headers=headers)
    assert r.status == 200, r.text
    return r.json()["data"][0]["key"]


async def test_a_viewer_reads_and_an_editor_marks(tmp_path, db_target, kb, matcher, events):
    async with site(tmp_path, db_target, kb, matcher, events) as base, people(base, 2) as [viewer, editor]:
        make_account(db_target, "an", "viewer")
        make_account(db_target, "binh", "editor")
        assert (await viewer.login("an", PASSWORD)).status == 303 and (await editor.login("binh", PASSWORD)).status == 303
        for person, can in ((viewer, False), (editor, True)):
            page = await person.get("/dashboard/?since=&until=")
            data = json.loads(re.search(r'id="dash-data">(.*?)</script>', page.text, re.S).group(1))
            assert data["can_mark"] is can  # the script draws no mark buttons without it
            assert 'href="/dashboard/accounts"' not in page.text and 'href="/dashboard/audit"' not in page.text  # admins' pages
        assert (await viewer.get("/dashboard/accounts")).status == 403 and (await editor.get("/dashboard/audit")).status == 403
        assert (await editor.get("/dashboard/audit.csv")).status == 403

        key = await inbox_key(viewer)
        r = await viewer.api_post("/dashboard/api/mark", {"keys": [key], "status": "ignored"})
        assert r.status == 403 and key == await inbox_key(viewer)
        r = await editor.api_post("/dashboard/api/mark", {"keys": [key], "status": "ignored"})
        assert r.status == 200 and key != await inbox_key(viewer)
    marked = entries(db_target, actor="binh")
    assert [(e.action, e.target, e.detail) for e in marked if e.action == "inbox.mark"] == [("inbox.mark", key, {"entry_id": None, "keys": 1, "status": "ignored"})]
    assert not [e for e in entries(db_target, actor="an") if e.action == "inbox.mark"]



async def test_an_admin_changes_a_role_on_the_accounts_page_and_the_open_session_follows(tmp_path, db_target, kb, matcher, events):
    async with site(tmp_path, db_target, kb, matcher, events) as base, people(base, 2) as [admin, an]:
        await admin_session(db_target, admin)
        make_account(db_target, "an", "viewer")
        assert (await an.login("an", PASSWORD)).status == 303
        await an.get("/dashboard/?since=&until=")  # a page open in her browser (its CSRF token)
        key = await inbox_key(an)
        refused = await an.api_post("/dashboard/api/mark", {"keys": [key], "status": "ignored"})
        assert refused.status == 403 and refused.json() == {"error": "needs the editor role"}

        page = await admin.get("/dashboard/accounts")
        menu = re.search(r'id="change-role".*?<select name="name">(.*?)</select>', page.text, re.S).group(1)
        assert re.findall(r'<option value="([^"]*)"', menu) == ["an"]  # never the admin's own account
        r = await admin.form("/dashboard/accounts/users/role", [("name", "an"), ("role", "editor"), ("ward", "xuan-hoa")])
        assert r.status == 303 and "Đã đổi vai trò của an" in (await admin.get(r.location)).text
        # her open session: an editor of xuan-hoa at her next request, without logging in again
        assert (await an.section("totals")).json()["filters"]["ward"] == "xuan-hoa"
        assert (await an.api_post("/dashboard/api/mark", {"keys": [key], "status": "ignored"})).status == 200

        await admin.get("/dashboard/accounts")
        r = await admin.form("/dashboard/accounts/users/role", {"name": "boss", "role": "viewer"})
        assert r.status == 400 and "chính tài khoản của bạn" in r.text
        r = await admin.form("/dashboard/accounts/users/role", {"name": "an", "role": "boss"})
        assert r.status == 400 and "Vai trò" in r.text
    changes = [e for e in entries(db_target, actor="boss") if e.action == "user.role"]
    assert [(e.target, e.detail) for e in changes] == [("an", {"role": "editor", "wards": ["xuan-hoa"], "was": {"role": "viewer", "wards": []}})]

async def test_api_tokens_read_with_bearer_and_no_csrf_and_are_revoked_at_once(tmp_path, db_target, kb, matcher, events, caplog):
    caplog.set_level(logging.DEBUG)
    async with site(tmp_path, db_target, kb, matcher, events) as base, people(base, 2) as [admin, script]:
        await admin_session(db_target, admin)
        await admin.get("/dashboard/accounts")
        made = await admin.form("/dashboard/accounts/tokens", [("name", "ward-report"), ("role", "viewer"), ("ward", "phuc-yen")])
        assert made.status == 200 and "Mã API ward-report" in made.text
        token = made.secret()
        assert API_TOKEN_RE.fullmatch(token)
        listed = await admin.get("/dashboard/accounts")
        assert token not in listed.text and token[:10] + "…" in listed.text  # the list shows its start only

        bearer = {"Authorization": f"Bearer {token}"}
        assert (await admin.section("totals", headers={"Authorization": "Basic eDp5"})).status == 200  # a proxy's login is no token
        assert (await admin.section("totals", headers={"Authorization": "Bearer dg_wrong"})).status == 401  # a bearer decides, cookie or not
        r = await script.section("totals", headers=bearer)
        assert r.status == 200 and r.json()["filters"]["ward"] == "phuc-yen"  # bound to its ward
        assert not script.cookie  # no session: every call sends the token
        key = await inbox_key(script, bearer)
        r = await script.api_post("/dashboard/api/mark", {"keys": [key], "status": "ignored"}, headers=bearer)
        assert r.status == 403 and r.json() == {"error": "needs the editor role"}  # a viewer's token reads only

        r = await admin.form("/dashboard/accounts/tokens/revoke", {"name": "ward-report"})
        assert r.status == 303 and "Đã thu hồi mã ward-report" in (await admin.get(r.location)).text
        assert (await script.section("totals", headers=bearer)).status == 401
    assert token not in caplog.text
    assert [(e.actor, e.action, e.target) for e in entries(db_target) if e.action.startswith("token.")] == [
        ("boss", "token.revoke", "ward-report"), ("boss", "token.add", "ward-report")]


async def test_a_ward_bound_viewer_sees_only_its_ward(tmp_path, db_target, kb, matcher, events):
    async with site(tmp_path, db_target, kb, matcher, events) as base, people(base, 2) as [bound, admin]:
        make_account(db_target, "phuong", "viewer", ["xuan-hoa"])
        await admin_session(db_target, admin)
        assert (await bound.login("phuong", PASSWORD)).status == 303
        mine = (await bound.section("totals")).json()
        assert mine["filters"]["ward"] == "xuan-hoa"  # no ward asked: its own
        assert mine["data"] == (await admin.section("totals", ward="xuan-hoa")).json()["data"]
        assert mine["data"]["questions"] < (await admin.section("totals")).json()["data"]["questions"]
        for ward in ("phuc-yen", "_"):
            r = await bound.section("totals", ward=ward)
            assert r.status == 403 and r.json() == {"error": "outside your wards"}, ward
        assert (await bound.get("/dashboard/export/by_topic.csv?ward=phuc-yen")).status == 403
        page = await bound.get("/dashboard/?since=&until=&ward=phuc-yen")
        assert page.status == 403 and "chỉ xem được phường/xã của mình" in page.text
        page = await bound.get("/dashboard/?since=&until=")
        menu = re.search(r'<select name="ward">(.*?)</select>', page.text, re.S).group(1)
        assert re.findall(r'<option value="([^"]*)"', menu) == ["xuan-hoa"]  # the menu offers only its ward
        weekly = await bound.get("/dashboard/weekly")
        assert "Phường/xã: xuan-hoa" in weekly.text



async def test_a_ward_bound_official_sees_and_prints_only_its_wards_groups(tmp_path, db_target, kb, matcher, events):
    async with site(tmp_path, db_target, kb, matcher, events) as base, people(base, 2) as [bound, admin]:
        make_account(db_target, "phuong", "viewer", ["xuan-hoa"])
        await admin_session(db_target, admin)
        assert (await bound.login("phuong", PASSWORD)).status == 303
        mine, every = await bound.get("/dashboard/groups?since=&until="), await admin.get("/dashboard/groups?since=&until=")
        assert mine.status == every.status == 200
        assert "/dashboard/groups/tdp-xuan-hoa-2/posters" in mine.text and "/dashboard/groups/tdp-phuc-yen-5/posters" in every.text
        assert "tdp-phuc-yen-5" not in mine.text and "thon-tam-son-1" not in mine.text  # no other ward's links or results
        menu = re.search(r'<select name="ward">(.*?)</select>', every.text, re.S).group(1)
        assert "xuan-hoa" in menu and "phuc-yen" in menu  # an unbound official may pick a ward
        rows = (await bound.get("/dashboard/groups/export/groups.csv?since=&until=")).text.splitlines()
        assert len(rows) > 1 and all(",xuan-hoa," in row for row in rows[1:]), rows
        assert (await bound.get("/dashboard/groups/export/groups.csv?since=&until=&ward=phuc-yen")).status == 403
        assert (await bound.get("/dashboard/groups/tdp-xuan-hoa-2/poster/eid-activate")).status == 200
        for path in ("/poster/eid-activate", "/posters", "/poster/eid-activate.pdf", "/posters.pdf", "/qr/menu.png?kind=web"):
            r = await bound.get("/dashboard/groups/tdp-phuc-yen-5" + path)
            assert r.status == 403, path
        page = await bound.get("/dashboard/groups/tdp-phuc-yen-5/posters")
        assert "thuộc phường/xã khác" in page.text
        assert (await admin.get("/dashboard/groups/tdp-phuc-yen-5/poster/eid-activate")).status == 200

# -- sessions in the database --------------------------------------------------------------------------------------

async def test_sessions_survive_a_restart_and_the_tokens_sessions_end_with_the_token(tmp_path, db_target, kb, matcher):
    make_account(db_target, "lan", "editor")
    async with site(tmp_path, db_target, kb, matcher) as base, people(base, 2) as [lan, operator]:
        assert (await lan.login("lan", PASSWORD)).status == 303 and (await operator.token_login()).status == 303
        cookies = lan.cookie, operator.cookie
    for token, operator_status in ((TOKEN, 200), ("another-token", 401)):
        async with site(tmp_path, db_target, kb, matcher, dashboard_token=token) as base, people(base, 2) as [lan, operator]:
            for person, cookie in zip((lan, operator), cookies):
                person.http.cookie_jar.update_cookies({"dg_session": cookie}, URL(base + "/dashboard/"))
            assert (await lan.section()).status == 200  # a second server on the same file knows her session
            assert (await operator.section()).status == operator_status  # a new access token ends the old one's sessions


async def test_a_lost_postgresql_connection_does_not_log_anyone_out(tmp_path, pg_url, kb, matcher, caplog):
    """The PostgreSQL server drops the dashboard's connections (a restart, a failover): the officials'
    next requests are answered as before, their sessions intact, on new connections."""
    make_account(pg_url, "lan", "editor")
    async with site(tmp_path, pg_url, kb, matcher) as base, people(base, 1) as [lan]:
        assert (await lan.login("lan", PASSWORD)).status == 303 and (await lan.section()).status == 200
        with connect(pg_url) as db:
            ended = db.scalar("select count(pg_terminate_backend(pid)) from pg_stat_activity "
                              "where datname = current_database() and pid <> pg_backend_pid()")
        assert ended >= 1
        assert (await lan.section()).status == 200
        assert (await lan.get("/dashboard/password")).status == 200
    assert "the database connection was lost; reconnecting" in caplog.text


async def test_secrets_are_in_no_byte_of_the_database_and_no_log_line(tmp_path, db_target, kb, matcher, caplog):
    caplog.set_level(logging.DEBUG)
    async with site(tmp_path, db_target, kb, matcher) as base, people(base, 2) as [admin, lan]:
        await admin_session(db_target, admin)
        await admin.get("/dashboard/accounts")
        otp = (await admin.form("/dashboard/accounts/users", {"name": "lan", "role": "viewer"})).secret()
        token = (await admin.form("/dashboard/accounts/tokens", {"name": "script", "role": "viewer"})).secret()
        await lan.login("lan", "a wrong guess of hers")
        await lan.login("lan", otp)
        await lan.change_password(otp, NEW)
        assert (await lan.section(headers={"Authorization": f"Bearer {token}"})).status == 200
        secrets = {otp, NEW, PASSWORD, "a wrong guess of hers", token, lan.cookie, admin.cookie, lan.csrf, TOKEN}
    stored = stored_bytes(db_target)
    for secret in secrets - {lan.csrf, TOKEN}:  # the CSRF token is kept as is (it is not a credential alone)
        assert secret.encode() not in stored, secret
    assert b"$argon2id$" in stored
    for secret in secrets:
        assert secret not in caplog.text, secret
    assert "dashboard login: wrong name or password from 127.0.0.1" in caplog.text


async def test_one_lockout_for_passwords_the_access_token_and_api_tokens(tmp_path, db_target, kb, matcher, events):
    async with site(tmp_path, db_target, kb, matcher, events) as base, people(base, 2) as [guesser, admin]:
        make_account(db_target, "lan", "editor")
        for i in range(LIMIT // 2 - 1):
            assert (await guesser.login("lan", f"guess-{i}")).status == 403
            assert (await guesser.token_login(f"guess-{i}")).status == 403
        assert (await guesser.section(headers={"Authorization": "Bearer dg_guess"})).status == 401
        assert (await guesser.section(headers={"Authorization": "Bearer"})).status == 401  # a malformed bearer: a guess too
        assert (await guesser.section(headers={"Authorization": "Basic eDp5"})).status == 401  # not a token (a proxy's login): no guess
        # ten wrong guesses, spread over three ways in: locked out of all of them, right secrets included
        page = await guesser.login("lan", PASSWORD)
        assert page.status == 429 and 1 <= int(page.headers["Retry-After"]) <= 60 and "Thử sai quá nhiều lần" in page.text
        assert (await guesser.token_login()).status == 429
        r = await guesser.section(headers={"Authorization": "Bearer dg_anything"})
        assert r.status == 429 and r.json()["error"] == "too many failed attempts" and r.headers["Retry-After"]
        assert (await guesser.send("POST", "/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})).status == 429
        assert not guesser.cookie
    failed = [e for e in entries(db_target) if e.action == "login.failed"]
    assert len(failed) == 2 * (LIMIT // 2 - 1) and {e.detail["method"] for e in failed} == {"password", "token"}
    assert all(e.detail["client"] == "127.0.0.1" and "guess" not in json.dumps(e.detail) for e in failed)


async def test_the_password_login_refuses_a_post_from_another_site(tmp_path, db_target, kb, matcher):
    make_account(db_target, "lan", "editor")
    async with site(tmp_path, db_target, kb, matcher) as base, people(base, 1) as [lan]:
        for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {}):
            r = await lan.send("POST", "/dashboard/login", data={"name": "lan", "password": PASSWORD}, headers=headers)
            assert r.status == 403 and not lan.cookie, headers
        assert (await lan.login("lan", PASSWORD)).status == 303


# -- the audit log --------------------------------------------------------------------------------------------------

async def test_admins_read_the_audit_log_newest_first_by_actor_and_as_csv(tmp_path, db_target, kb, matcher, events):
    async with site(tmp_path, db_target, kb, matcher, events) as base, people(base, 2) as [admin, binh]:
        await admin_session(db_target, admin)
        make_account(db_target, "binh", "editor")
        await binh.login("binh", "not it")
        await binh.login("binh", PASSWORD)
        key = await inbox_key(binh)
        await binh.get("/dashboard/password")  # a page with the session's CSRF token, as the browser has it
        assert (await binh.api_post("/dashboard/api/mark", {"keys": [key], "status": "ignored"})).status == 200

        page = await admin.get("/dashboard/audit")
        assert page.status == 200 and "Nhật ký thay đổi" in page.text
        actions = re.findall(r'<tr data-action="([^"]+)">', page.text)
        assert actions[:5] == ["inbox.mark", "login", "login.failed", "user.password", "user.add"]  # newest first
        assert "Đánh dấu hộp câu hỏi" in page.text and "status: ignored" in page.text and "(không rõ)" in page.text
        assert '<option value="binh"' in page.text

        mine = await admin.get("/dashboard/audit?actor=binh")
        assert re.findall(r'<tr data-action="([^"]+)">', mine.text) == ["inbox.mark", "login", "user.password"]
        csv = await admin.get("/dashboard/audit.csv?actor=binh")
        assert csv.status == 200 and csv.headers["Content-Type"].startswith("text/csv")
        lines = csv.text.lstrip("\ufeff").splitlines()
        assert lines[0] == "time,actor,action,target,detail" and len(lines) == 4 and ",binh,inbox.mark," in lines[1]
        assert (await admin.get("/dashboard/audit?limit=lots")).status == 200  # a bad limit is the default
        assert 'href="/dashboard/accounts"' in page.text and 'href="/dashboard/audit"' in page.text  # in an admin's top bar
