"""Nobody can guess around the admin token (issue 10 §5), on our real server over loopback HTTP.

Every check of the token (the dashboard's login form, POST /admin/reload) shares one lockout per real
client, and while it lasts even the right token gets 429 with Retry-After. Behind a trusted reverse proxy
the client is the one X-Forwarded-For names, so a guesser is locked out and an official at another
address is not; an X-Forwarded-* header from anybody else is ignored. Only `Authorization: Bearer <token>`
is accepted. Each actor below is its own HTTP client with its own cookies, as two browsers would be. The
tests of the whole server run on both engines (conftest's db_target: the sessions and the audit entries of the
logins are rows); the lockout itself is in memory.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from bot.clientinfo import parse_networks, resolve
from bot.config import Settings, SettingsError
from bot.secrets_guard import LIMIT, SecretThrottle, bearer_credential, client_key
from webutil import app_settings, make_app, running_server

TOKEN = "a-long-admin-token-for-tests"
GUESSER, OFFICIAL = "203.0.113.7", "198.51.100.2"
TOO_MANY_VI = "Thử sai quá nhiều lần"


@dataclass
class Reply:
    status: int
    headers: CIMultiDictProxy[str]
    text: str

    @property
    def cookie(self) -> str:
        """The session cookie the server set ("" for none)."""
        return next((c for c in self.headers.getall("Set-Cookie", []) if c.startswith("dg_session=")), "")


@dataclass
class Actor:
    """One person at one address: their own cookies; `via` is the address a proxy reports for them
    (X-Forwarded-For), plus any other headers they (or the proxy) send."""

    base: str
    via: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    http: aiohttp.ClientSession = field(init=False)

    def __post_init__(self) -> None:
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # unsafe: cookies for an IP host

    def headers(self, **more: str) -> dict[str, str]:
        return {**({"X-Forwarded-For": self.via} if self.via else {}), **self.extra, **more}

    async def send(self, method: str, path: str, **kwargs) -> Reply:
        async with self.http.request(method, self.base + path, allow_redirects=False, **kwargs) as r:
            return Reply(r.status, r.headers, await r.text())

    async def login(self, token: str, origin: str | None = None) -> Reply:
        return await self.send("POST", "/dashboard/login", data={"token": token, "next": "/dashboard/"}, headers=self.headers(Origin=origin or self.base))

    async def reload(self, authorization: str | None) -> Reply:
        return await self.send("POST", "/admin/reload", data=b"", headers=self.headers(**({"Authorization": authorization} if authorization is not None else {})))

    async def section(self) -> Reply:
        return await self.send("GET", "/dashboard/api/section/totals", headers=self.headers())


@asynccontextmanager
async def server(tmp_path: Path, where: str, kb, matcher, trusted: str = "") -> AsyncIterator[str]:
    """Our whole app with TOKEN on the database `where` (db_target), trusting the proxies in `trusted`
    (DIGIGUIDE_TRUSTED_PROXIES syntax)."""
    settings = app_settings(tmp_path, db=where, dashboard_token=TOKEN, trusted_proxies=parse_networks(trusted))
    async with running_server(make_app(tmp_path, kb, matcher, settings)) as base:
        yield base


@asynccontextmanager
async def actors(base: str, *specs: dict) -> AsyncIterator[list[Actor]]:
    people = [Actor(base, **spec) for spec in specs]
    try:
        yield people
    finally:
        for person in people:
            await person.http.close()


def assert_locked_out(reply: Reply) -> None:
    assert reply.status == 429, (reply.status, reply.text[:200])
    assert 1 <= int(reply.headers["Retry-After"]) <= 60  # the first lockout is a minute
    assert not reply.cookie


# -- one lockout for every check of the token --------------------------------------------------------------------

async def test_guesses_on_admin_reload_lock_out_the_right_token_there_and_on_the_login_form(tmp_path, db_target, kb, matcher, caplog):
    caplog.set_level(logging.WARNING)
    async with server(tmp_path, db_target, kb, matcher) as base, actors(base, {}) as [guesser]:
        statuses = [(await guesser.reload(f"Bearer guess-{i}")).status for i in range(LIMIT + 20)]
        assert statuses == [403] * LIMIT + [429] * 20  # 30 guesses, 10 of them compared
        assert_locked_out(await guesser.reload(f"Bearer {TOKEN}"))
        page = await guesser.login(TOKEN)
        assert_locked_out(page)
        assert TOO_MANY_VI in page.text and "1 phút" in page.text
    logged = caplog.text
    assert "guess-" not in logged and TOKEN not in logged  # what was tried is never logged
    assert "admin reload: wrong secret from 127.0.0.1; locked out for 60 s" in logged


async def test_guesses_spread_over_the_login_form_and_admin_reload_share_one_budget(tmp_path, db_target, kb, matcher):
    async with server(tmp_path, db_target, kb, matcher) as base, actors(base, {}) as [guesser]:
        for i in range(LIMIT // 2):
            assert (await guesser.login(f"guess-{i}")).status == 403
            assert (await guesser.reload(f"Bearer guess-{i}")).status == 403
        assert_locked_out(await guesser.login(TOKEN))
        assert_locked_out(await guesser.reload(f"Bearer {TOKEN}"))


# -- behind a reverse proxy: the guesser, not the officials ---------------------------------------------------------

async def test_behind_a_trusted_proxy_the_guesser_is_locked_out_and_an_official_elsewhere_is_not(tmp_path, db_target, kb, matcher):
    async with server(tmp_path, db_target, kb, matcher, trusted="127.0.0.1") as base, actors(base, {"via": GUESSER}, {"via": OFFICIAL}) as [guesser, official]:
        for i in range(LIMIT):
            assert (await guesser.login(f"guess-{i}")).status == 403
        assert_locked_out(await guesser.login(TOKEN))
        assert_locked_out(await guesser.reload(f"Bearer {TOKEN}"))
        logged_in = await official.login(TOKEN)
        assert logged_in.status == 303 and logged_in.cookie
        assert (await official.section()).status == 200


async def test_an_official_logged_in_at_the_guessers_address_keeps_working(tmp_path, db_target, kb, matcher):
    """One office behind one NAT: the lockout guards the token, not the session of an official."""
    async with server(tmp_path, db_target, kb, matcher, trusted="127.0.0.1") as base, actors(base, {"via": GUESSER}, {"via": GUESSER}) as [official, guesser]:
        assert (await official.login(TOKEN)).status == 303
        for i in range(LIMIT):
            await guesser.login(f"guess-{i}")
        assert_locked_out(await guesser.login(TOKEN))
        assert (await official.section()).status == 200
        page = await official.send("GET", "/dashboard/?since=&until=", headers=official.headers())
        assert page.status == 200 and "dash-data" in page.text


@pytest.mark.parametrize("trusted", ["", "10.0.0.0/8"], ids=["no proxy trusted", "another network trusted"])
async def test_x_forwarded_headers_from_an_untrusted_peer_are_ignored(tmp_path, db_target, kb, matcher, trusted):
    """The test client connects from 127.0.0.1, which is not a trusted proxy here: whatever it claims,
    the lockout is keyed on 127.0.0.1 and the browser's scheme stays http (no Secure cookie)."""
    async with server(tmp_path, db_target, kb, matcher, trusted=trusted) as base, actors(base, {"via": OFFICIAL, "extra": {"X-Forwarded-Proto": "https"}}) as [forger]:
        logged_in = await forger.login(TOKEN, origin=base.replace("http://", "https://"))
        assert logged_in.status == 303 and logged_in.cookie and "Secure" not in logged_in.cookie
        for i in range(LIMIT):
            forger.via = f"203.0.113.{i}"  # a new address every time: it buys nothing
            assert (await forger.login(f"guess-{i}")).status == 403
        forger.via = OFFICIAL
        assert_locked_out(await forger.login(TOKEN))


async def test_the_session_cookie_is_secure_when_the_trusted_proxy_says_https(tmp_path, db_target, kb, matcher):
    async with server(tmp_path, db_target, kb, matcher, trusted="127.0.0.1") as base, actors(
        base, {"via": OFFICIAL, "extra": {"X-Forwarded-Proto": "https"}}, {"via": OFFICIAL}
    ) as [over_https, over_http]:
        secure = await over_https.login(TOKEN, origin=base.replace("http://", "https://"))
        assert secure.status == 303 and "Secure" in secure.cookie and "HttpOnly" in secure.cookie
        plain = await over_http.login(TOKEN)
        assert plain.status == 303 and plain.cookie and "Secure" not in plain.cookie


# -- only the standard Authorization header ---------------------------------------------------------------------------

async def test_admin_reload_accepts_only_authorization_bearer_and_counts_other_forms_as_guesses(tmp_path, db_target, kb, matcher):
    malformed = [TOKEN, f"Basic {TOKEN}", f"Bearer{TOKEN}", f"Bearer {TOKEN} {TOKEN}", f"Token {TOKEN}", "Bearer", "Bearer  ", f"{TOKEN} Bearer"]
    async with server(tmp_path, db_target, kb, matcher, trusted="127.0.0.1") as base, actors(base, {"via": GUESSER}, {"via": OFFICIAL}) as [sloppy, admin]:
        for header in malformed + malformed[: LIMIT - len(malformed)]:
            assert (await sloppy.reload(header)).status == 403, header
        assert_locked_out(await sloppy.reload(f"Bearer {TOKEN}"))  # each of those counted as a wrong guess

        for _ in range(LIMIT + 2):
            assert (await admin.reload(None)).status == 403  # no header at all: refused, but no guess made
        done = await admin.reload(f"bearer {TOKEN}")  # the scheme is case-insensitive (RFC 7235)
        assert done.status == 200 and '"ok": true' in done.text


@pytest.mark.parametrize(
    ("header", "credential"),
    [("Bearer abc", "abc"), ("bearer abc", "abc"), ("BEARER  abc", "abc"), ("abc", None), ("Basic abc", None),
     ("Bearer", None), ("Bearer a b", None), ("Bearer\tabc", None), ("", None), (None, None)],
)
def test_bearer_credential_is_the_one_token_after_the_bearer_scheme(header, credential):
    assert bearer_credential(header) == credential


# -- the lockout's rules ------------------------------------------------------------------------------------------------

def fail(throttle: SecretThrottle, key: str, times: int, at: float) -> int:
    locked = 0
    for _ in range(times):
        locked = throttle.failed(key, now=at)
    return locked


def test_a_guesser_who_keeps_guessing_waits_longer_each_time_and_an_official_who_gets_it_right_starts_clean():
    throttle = SecretThrottle(limit=10, per=60, lockout=60, max_lockout=3600)
    assert fail(throttle, "g", 9, at=0) == 0 and throttle.retry_after("g", now=0) == 0
    assert fail(throttle, "g", 1, at=0) == 60
    assert throttle.retry_after("g", now=59.5) == 1 and throttle.retry_after("g", now=60) == 0
    assert fail(throttle, "g", 10, at=60) == 120  # doubled
    assert fail(throttle, "g", 10, at=180) == 240
    now, lengths = 420, []
    while len(lengths) < 5:  # each time the lockout is over, ten more guesses
        lengths.append(fail(throttle, "g", 10, at=now))
        now += lengths[-1]
    assert lengths == [480, 960, 1920, 3600, 3600]  # capped at an hour: about ten guesses an hour
    assert throttle.retry_after("someone else", now=now - 1) == 0

    assert fail(throttle, "official", 9, at=0) == 0
    throttle.succeeded("official")  # a typo or nine, then the right token: the slate is clean
    assert fail(throttle, "official", 9, at=1) == 0


def test_lockouts_are_forgotten_after_a_quiet_day_and_memory_is_bounded():
    throttle = SecretThrottle(limit=2, per=60, lockout=60, forget=86_400, max_keys=100, global_limit=0)
    fail(throttle, "g", 2, at=0)
    fail(throttle, "g", 2, at=100)
    assert throttle.retry_after("g", now=100) == 120
    assert fail(throttle, "g", 2, at=100 + 86_401) == 60  # back to the first lockout's length
    for i in range(1000):  # a thousand addresses within one second
        throttle.failed(f"10.0.{i // 250}.{i % 250}", now=200_000)
    assert len(throttle) == 100
    throttle.failed("10.1.0.1", now=200_061)
    assert len(throttle) == 1  # one failure each, a minute ago: nothing left to remember


def test_many_addresses_guessing_at_once_get_one_guess_each_and_nobody_else_is_refused():
    throttle = SecretThrottle(limit=10, per=60, global_limit=50)
    for i in range(49):
        assert throttle.failed(f"bot-{i}", now=1) == 0  # one guess each: nobody is locked yet...
    assert throttle.failed("bot-49", now=1) == 60  # ...until the 50th within a minute: now one wrong guess locks
    assert throttle.failed("bot-50", now=2) == 60
    assert throttle.retry_after("official", now=2) == 0  # a client with no failure of its own is never refused
    assert throttle.failed("bot-51", now=200) == 0  # the wave is over: the normal budget again


def test_the_lockout_key_is_the_client_address_and_an_ipv6_client_is_keyed_on_its_64():
    assert client_key("203.0.113.7") == "203.0.113.7" and client_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key(None) == client_key("") == "?"


# -- which X-Forwarded-For entry is the client ----------------------------------------------------------------------------



@pytest.mark.parametrize(
    ("peer", "xff", "xfp", "expected"),
    [
        ("127.0.0.1", GUESSER, "https", (GUESSER, "https")),
        ("127.0.0.1", f"1.2.3.4, {GUESSER}", "", (GUESSER, None)),  # what the client wrote itself is not believed
        ("127.0.0.1", f"{GUESSER}, 10.1.2.3", "https, http", (GUESSER, "https")),  # two proxies, each appending
        ("127.0.0.1", f"{GUESSER}, 10.1.2.3", "HTTPS", (GUESSER, "https")),  # the outer proxy set it once
        ("127.0.0.1", "10.9.9.9, 10.1.2.3", "", ("10.9.9.9", None)),  # every hop trusted: the leftmost
        ("127.0.0.1", f"{GUESSER}, unknown", "", ("127.0.0.1", None)),  # garbage stops the walk
        ("127.0.0.1", "[2001:db8::7]:4711", "", ("2001:db8::7", None)),
        ("127.0.0.1", f"{GUESSER}:5555", "gopher", (GUESSER, None)),
        ("127.0.0.1", "", "https", ("127.0.0.1", "https")),  # the proxy host itself (a health check)
        ("::ffff:127.0.0.1", GUESSER, "", (GUESSER, None)),
        ("198.51.100.9", GUESSER, "https", None),  # not a trusted proxy: nothing is believed
    ],
)
def test_the_client_is_the_first_untrusted_address_from_the_right(peer, xff, xfp, expected):
    headers = CIMultiDictProxy(CIMultiDict((k, v) for k, v in (("X-Forwarded-For", xff), ("X-Forwarded-Proto", xfp)) if v))
    forwarded = resolve(peer, headers, parse_networks("127.0.0.1, 10.0.0.0/8"))
    assert (forwarded and (forwarded.remote, forwarded.scheme)) == expected


def test_trusted_proxies_come_from_the_environment_and_a_typo_stops_the_start(tmp_path):
    s = Settings.load(env={"DIGIGUIDE_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8, ::1", "DIGIGUIDE_DB": str(tmp_path / "x.db")}, env_file=None)
    assert s.describe()["trusted_proxies"] == "127.0.0.1/32, 10.0.0.0/8, ::1/128"
    assert Settings.load(env={"DIGIGUIDE_DB": str(tmp_path / "x.db")}, env_file=None).trusted_proxies == ()
    with pytest.raises(SettingsError, match="DIGIGUIDE_TRUSTED_PROXIES: '10.0.0.0/33' is not an IP address or network"):
        Settings.load(env={"DIGIGUIDE_TRUSTED_PROXIES": "127.0.0.1,10.0.0.0/33", "DIGIGUIDE_DB": str(tmp_path / "x.db")}, env_file=None)
