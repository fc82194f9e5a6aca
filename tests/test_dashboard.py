"""The officials' dashboard over HTTP (the real server app, aiohttp's test client): login and sessions, that no
page, API or export is reachable without them, CSRF and same-origin checks on every POST, CSV exports that
hold the figures of a generated data set, filters, and the unanswered inbox's marks. The tests on the server
run on both engines (conftest's db_target: an SQLite file, or PostgreSQL as DIGIGUIDE_DATABASE_URL gives it)."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import re
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from analytics.store import connect, write_batch
from analytics.web import common as dashboard
from analytics.web.auth import safe_next
from analytics.formatting import csv_cell
from analytics.web.overview import SECTIONS
from analytics.web.weekly import default_week, parse_week
from analytics_data import VIETNAM, cluster_of, day_of, generate_events, summarise, write
from bot.engine import Engine, Event
from bot.server import build_app
from bot.service import ChatService
from bot.state import SqliteStateStore
from webutil import app_settings

TOKEN = "a-long-dashboard-token"
EVIL = "https://evil.example"


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return generate_events(n_users=300, days=21, seed=5)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, events) -> Path:
    """The generated events in an SQLite database, built once; each SQLite test gets a copy."""
    path = tmp_path_factory.mktemp("dash") / "seed.db"
    with connect(path) as db:
        write(db, events)
    return path


def seed(where: str, seeded: Path, events: list[Event]) -> str:
    """The generated events in the database `where` (a db_target): a copy of the seeded file, or written anew
    into the PostgreSQL database (a second or so)."""
    if where.startswith("postgresql://"):
        with connect(where) as db:
            write(db, events)
    else:
        src, dst = sqlite3.connect(seeded), sqlite3.connect(where)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
    return where


@pytest.fixture
def dash_db(db_target, seeded, events) -> str:
    """This test's database, on either engine, with the generated events."""
    return seed(db_target, seeded, events)


def make_dashboard_app(tmp_path: Path, kb, matcher, where: Path | str | None, token: str = TOKEN) -> web.Application:
    """The server's app on the database `where` (None: an empty SQLite file in tmp_path)."""
    settings = app_settings(tmp_path, db=where if where is not None else tmp_path / "analytics.db", dashboard_token=token)
    service = ChatService(Engine(kb, SqliteStateStore(tmp_path / "state.db"), "t", matcher=matcher))
    return build_app(settings, service)


@pytest.fixture
async def client(tmp_path, kb, matcher, dash_db) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(make_dashboard_app(tmp_path, kb, matcher, dash_db))) as c:
        yield c


def origin(client: TestClient) -> str:
    return str(client.make_url("/")).rstrip("/")


async def login(client: TestClient, token: str = TOKEN) -> str:
    """Log in; returns the session's CSRF token (read from the page, as the browser does)."""
    r = await client.post("/dashboard/login", data={"token": token, "next": "/dashboard/"}, headers={"Origin": origin(client)}, allow_redirects=False)
    assert r.status == 303, await r.text()
    page = await (await client.get("/dashboard/?since=&until=")).text()
    return page_data(page)["csrf"]


def page_data(page: str) -> dict:
    block = re.search(r'<script type="application/json" id="dash-data">(.*?)</script>', page, re.S)
    return json.loads(block.group(1))


async def section(client: TestClient, name: str, **query) -> object:
    r = await client.get(f"/dashboard/api/section/{name}", params=query)
    assert r.status == 200, await r.text()
    return (await r.json())["data"]


async def csv_rows(client: TestClient, name: str, **query) -> list[dict]:
    r = await client.get(f"/dashboard/export/{name}.csv", params=query)
    assert r.status == 200, await r.text()
    assert r.headers["Content-Type"].startswith("text/csv")
    assert r.headers["Content-Disposition"].startswith("attachment;")
    body = await r.read()
    assert body.startswith("\ufeff".encode())  # Excel needs the BOM to read UTF-8
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


async def mark(client: TestClient, body: dict, csrf: str | None, headers: dict | None = None):
    h = {"Origin": origin(client), **({"X-CSRF-Token": csrf} if csrf else {}), **(headers or {})}
    return await client.post("/dashboard/api/mark", data=json.dumps(body), headers={"Content-Type": "application/json", **h})


def written_behind_its_back(client: TestClient) -> None:
    """The dashboard serves computed sections for up to CACHE_TTL seconds, so new events show that much
    later (a mark shows at once: it clears the cache). A test that writes events itself drops the cache."""
    client.server.app[dashboard.DASHBOARD].cache.clear()


def marks_in(client: TestClient) -> list[tuple]:
    with connect(client.server.app[dashboard.DASHBOARD].ctx.settings.database) as db:
        return [tuple(row) for row in db.execute("select question_key, status, entry_id from cluster_marks order by 1")]


# -- nothing without a session --------------------------------------------------------------------------------

PAGES = ["/dashboard", "/dashboard/", "/dashboard/?topic=eid", "/dashboard/weekly", "/dashboard/weekly?week=2025-W11", "/dashboard/review", "/dashboard/nope", "/dashboard/logout"]
PAGES += ["/dashboard/groups", "/dashboard/groups/tdp-phuc-yen-5/posters", "/dashboard/groups/tdp-phuc-yen-5/poster/eid-activate"]  # analytics/web/groups.py, poster_pages.py
DATA = [f"/dashboard/api/section/{s}" for s in SECTIONS] + [f"/dashboard/export/{s}.csv" for s in SECTIONS] + ["/dashboard/api/section/nope", "/dashboard/api/x", "/dashboard/export/x.csv", "/dashboard/api/review"]
DATA += [
    "/dashboard/groups/export/groups.csv", "/dashboard/groups/fonts/DejaVuSans.ttf", "/dashboard/groups/tdp-phuc-yen-5/posters.pdf",
    "/dashboard/groups/tdp-phuc-yen-5/poster/eid-activate.pdf", "/dashboard/groups/tdp-phuc-yen-5/qr/eid-activate.png",
]
POSTS = ["/dashboard/api/mark", "/dashboard/logout", "/dashboard/", "/dashboard/api/section/totals"]
# analytics/web/login.py, accounts_page.py, audit_page.py
PAGES += ["/dashboard/first-admin", "/dashboard/password", "/dashboard/accounts", "/dashboard/audit", "/dashboard/audit?actor=lan"]
DATA += ["/dashboard/audit.csv"]
POSTS += ["/dashboard/first-admin", "/dashboard/password"] + [f"/dashboard/accounts/{p}" for p in ("users", "users/disable", "users/enable", "users/reset", "users/role", "tokens", "tokens/revoke")]
# analytics/web/content.py, content_api.py (their PUTs without a session: tests/test_content_api.py)
PAGES += [f"/dashboard/content{p}" for p in ("", "/new", "/locality", "/history", "/faq/eid-levels")]
DATA += [f"/dashboard/api/content/{p}" for p in ("entries", "locality", "prefill", "revisions", "revisions/1", "faq/eid-levels")]
POSTS += [f"/dashboard/api/content/{p}" for p in ("check", "preview", "try", "impact", "faq", "faq/eid-levels/retire", "faq/eid-levels/restore", "revisions/1/revert")]
# analytics/web/tickets.py (questions to officials)
PAGES += ["/dashboard/tickets", "/dashboard/tickets?status=closed"]
DATA += ["/dashboard/tickets/export/summary.csv", "/dashboard/api/tickets", "/dashboard/api/tickets?status=answered", "/dashboard/api/tickets/1"]
POSTS += [f"/dashboard/{api}tickets/1/{action}" for api in ("", "api/") for action in ("take", "reply", "close")]
# analytics/web/advice_page.py (outreach advice)
PAGES += ["/dashboard/outreach", "/dashboard/outreach?ward=xuan-hoa", "/dashboard/outreach/sheet?ward=xuan-hoa&guide=eid-activate"]
DATA += ["/dashboard/outreach/export.csv"]
POSTS += ["/dashboard/outreach/produce"]


async def test_every_route_needs_a_session(client):
    covered = set()
    for cookie in (None, "forged-session-id"):
        client.session.cookie_jar.clear()
        if cookie:
            client.session.cookie_jar.update_cookies({"dg_session": cookie}, client.make_url("/dashboard/"))
        for path in PAGES:
            r = await client.get(path, allow_redirects=False)
            assert r.status == 302, path
            location = r.headers["Location"]
            assert location.startswith("/dashboard/login?next="), (path, location)
        for path in DATA:
            r = await client.get(path, allow_redirects=False)
            assert r.status == 401, path
            assert "question" not in await r.text()
        for path in POSTS:
            r = await client.post(path, data=b"{}", headers={"Origin": origin(client)}, allow_redirects=False)
            assert r.status == 401, path
        covered |= {re.sub(r"\?.*", "", p) for p in PAGES + DATA + POSTS}
    # every dashboard route of the app is among those checked (a new route must be added above)
    for resource in client.server.app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter")
        if path.startswith("/dashboard") and path not in ("/dashboard/login", "/dashboard/static/{name}"):
            concrete = path.replace("{name}", "totals").replace("{tail:.*}", "nope").replace("{tail}", "nope")
            concrete = concrete.replace("{group}", "tdp-phuc-yen-5").replace("{guide}", "eid-activate").replace("{section}", "groups").replace("{font}", "DejaVuSans")
            concrete = concrete.replace("{kind}", "faq").replace("{id}", "eid-levels").replace("{rev}", "1")
            concrete = concrete.replace("{ticket}", "1").replace("{table}", "summary")
            assert concrete in covered or concrete.replace("totals", "x") in covered, path
    # what stays public: the login form and the static files (code, no data)
    assert (await client.get("/dashboard/login")).status == 200
    assert (await client.get("/dashboard/static/dashboard.css")).status == 200


async def test_login_sets_a_strict_httponly_cookie(client):
    r = await client.post("/dashboard/login", data={"token": "wrong"}, headers={"Origin": origin(client)}, allow_redirects=False)
    assert r.status == 403 and "Set-Cookie" not in r.headers
    assert "Mã truy cập không đúng" in await r.text()
    r = await client.post("/dashboard/login", data={"token": TOKEN[:-1] + "X"}, headers={"Origin": origin(client)}, allow_redirects=False)
    assert r.status == 403

    r = await client.post("/dashboard/login", data={"token": TOKEN, "next": "/dashboard/weekly?week=2025-W11"}, headers={"Origin": origin(client)}, allow_redirects=False)
    # no admin account yet: the token login offers to create the first one, then goes where it was asked
    assert r.status == 303 and r.headers["Location"] == "/dashboard/first-admin?next=/dashboard/weekly?week%3D2025-W11"
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("dg_session=")
    attrs = {a.strip().split("=")[0].lower(): a.strip() for a in cookie.split(";")[1:]}
    assert "httponly" in attrs and attrs["samesite"] == "SameSite=Strict" and attrs["path"] == "Path=/dashboard"
    assert "secure" not in attrs  # plain http here; see the https test
    sid = cookie.split(";")[0].split("=", 1)[1]
    assert len(sid) >= 40
    assert (await client.get("/dashboard/api/section/totals")).status == 200
    # logged in, the login page sends you on
    r = await client.get("/dashboard/login", allow_redirects=False)
    assert r.status == 302 and r.headers["Location"] == "/dashboard/"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "/dashboardx/../../x", "/other", "/dashboard/\nSet-Cookie:x"])
def test_no_open_redirect_after_login(target):
    assert safe_next(target) == "/dashboard/"


async def test_secure_cookie_over_https(tmp_path, kb, matcher):
    app = make_dashboard_app(tmp_path, kb, matcher, None)

    @web.middleware
    async def as_if_https(request, handler):  # what a TLS-terminating setup with a trusted scheme gives
        return await handler(request.clone(scheme="https"))

    app.middlewares.append(as_if_https)
    async with TestClient(TestServer(app)) as c:
        host = str(c.make_url("/")).split("//", 1)[1].rstrip("/")
        r = await c.post("/dashboard/login", data={"token": TOKEN}, headers={"Origin": f"https://{host}"}, allow_redirects=False)
        assert r.status == 303
        assert "Secure" in r.headers["Set-Cookie"]


async def test_no_token_configured_means_no_login(tmp_path, kb, matcher):
    async with TestClient(TestServer(make_dashboard_app(tmp_path, kb, matcher, None, token=""))) as c:
        for token in ("", " ", "tok"):
            r = await c.post("/dashboard/login", data={"token": token}, headers={"Origin": origin(c)}, allow_redirects=False)
            assert r.status == 403 and "Set-Cookie" not in r.headers
        assert "chưa được bật" in await (await c.get("/dashboard/login")).text()


async def test_failed_logins_are_throttled(client):
    for _ in range(10):
        r = await client.post("/dashboard/login", data={"token": "guess"}, headers={"Origin": origin(client)}, allow_redirects=False)
        assert r.status == 403
    r = await client.post("/dashboard/login", data={"token": TOKEN}, headers={"Origin": origin(client)}, allow_redirects=False)
    assert r.status == 429 and "Set-Cookie" not in r.headers  # not even the right token is tried while blocked
    # the lockout itself (shared with /admin/reload, growing, per client): tests/test_login_security.py


async def test_login_from_another_site_is_refused(client):
    for headers in ({"Origin": EVIL}, {"Origin": "null"}, {"Referer": EVIL + "/page"}, {}):
        r = await client.post("/dashboard/login", data={"token": TOKEN}, headers=headers, allow_redirects=False)
        assert r.status == 403 and "Set-Cookie" not in r.headers, headers


async def test_logout_needs_csrf_and_ends_the_session(client):
    csrf = await login(client)
    r = await client.post("/dashboard/logout", data={"csrf": "nope"}, headers={"Origin": origin(client)}, allow_redirects=False)
    assert r.status == 403
    r = await client.post("/dashboard/logout", data={"csrf": csrf}, headers={"Origin": EVIL}, allow_redirects=False)
    assert r.status == 403
    assert (await client.get("/dashboard/api/section/totals")).status == 200  # still logged in
    r = await client.post("/dashboard/logout", data={"csrf": csrf}, headers={"Origin": origin(client)}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/dashboard/login"
    assert "dg_session=" in r.headers["Set-Cookie"] and "Max-Age=0" in r.headers["Set-Cookie"]
    assert (await client.get("/dashboard/api/section/totals")).status == 401


async def test_a_new_session_id_at_every_login(client):
    await login(client)
    first = client.session.cookie_jar.filter_cookies(client.make_url("/dashboard/"))["dg_session"].value
    await login(client)
    second = client.session.cookie_jar.filter_cookies(client.make_url("/dashboard/"))["dg_session"].value
    assert first != second
    client.session.cookie_jar.update_cookies({"dg_session": first}, client.make_url("/dashboard/"))
    assert (await client.get("/dashboard/api/section/totals")).status == 401


# -- CSRF on marks ---------------------------------------------------------------------------------------------

async def test_forged_posts_change_nothing(client, kb):
    csrf = await login(client)
    top = (await section(client, "unanswered"))[0]
    body = {"keys": top["keys"], "status": "ignored"}
    forged = [
        (None, {}),  # no token
        ("wrong", {}),  # wrong token
        (csrf, {"Origin": EVIL}),  # right token, another site
        (csrf, {"Origin": "null"}),
        (csrf, {"Origin": "http://127.0.0.1.evil.example"}),
    ]
    for token, headers in forged:
        r = await mark(client, body, token, headers)
        assert r.status == 403, (token, headers)
    # no Origin at all: the Referer decides; neither: refused
    url = client.make_url("/dashboard/api/mark")
    plain = {"Content-Type": "application/json", "X-CSRF-Token": csrf}
    r = await client.session.post(url, data=json.dumps(body), headers={**plain, "Referer": EVIL + "/x"}, skip_auto_headers=["Origin"])
    assert r.status == 403
    r = await client.session.post(url, data=json.dumps(body), headers=plain)
    assert r.status == 403
    # a classic cross-site form post (what a hostile page can send with the cookie, were it not SameSite)
    r = await client.post("/dashboard/api/mark", data={"keys": top["key"], "status": "ignored"}, headers={"Origin": EVIL})
    assert r.status == 403
    assert marks_in(client) == []
    assert (await section(client, "unanswered"))[0]["status"] == "open"
    # the same request from our own page works (Referer fallback included)
    r = await client.session.post(url, data=json.dumps(body), headers={**plain, "Referer": origin(client) + "/dashboard/"})
    assert r.status == 200
    assert {k for k, _, _ in marks_in(client)} == set(top["keys"])


# -- figures, filters and CSV ----------------------------------------------------------------------------------

async def test_csv_exports_hold_the_expected_figures(client, events):
    await login(client)
    expected = summarise(events)
    rows = await csv_rows(client, "by_topic")
    assert {r["value"]: int(r["questions"]) for r in rows} == expected["by_topic"]

    rows = await csv_rows(client, "top_questions")
    assert rows and all(int(r["count"]) == expected["top_questions"][r["topic"]][cluster_of(r["key"])] for r in rows)
    for topic, counts in expected["top_questions"].items():
        leader = max(counts, key=counts.get)
        assert any(r["topic"] == topic and r["rank"] == "1" and cluster_of(r["key"]) == leader for r in rows), topic

    rows = await csv_rows(client, "unanswered")
    clusters = expected["unanswered"]
    assert rows[0]["status"] == "open" and int(rows[0]["count"]) == max(c["count"] for c in clusters.values())
    for r in rows:
        c = clusters[cluster_of(r["key"])]
        assert (int(r["count"]), r["first_day"], r["last_day"]) == (c["count"], c["first_day"], c["last_day"])
        assert set(r["examples"].split(" | ")) <= c["texts"]

    rows = await csv_rows(client, "helpfulness")
    for r in rows:
        up, down = expected["helpfulness"][r["entry_id"]]
        assert (int(r["up"]), int(r["down"])) == (up, down) and up + down >= dashboard.MIN_VOTES
    assert [float(r["helpful_share"]) for r in rows] == sorted(float(r["helpful_share"]) for r in rows)

    rows = await csv_rows(client, "funnels")
    for r in rows:
        assert int(r["step_users"]) == expected["funnels"][r["guide_id"]][int(r["step"])]

    rows = await csv_rows(client, "daily", since="2025-03-10", until="2025-03-16")
    week = summarise(events, since="2025-03-10", until="2025-03-16")["daily"]
    assert {(r["period"], r["topic"]): int(r["questions"]) for r in rows if int(r["questions"])} == week

    totals = (await csv_rows(client, "totals", channel="zalo"))[0]
    assert int(totals["questions"]) == summarise(events, channel="zalo")["totals"]["questions"]
    for name in SECTIONS:  # every table downloads
        await csv_rows(client, name, topic="eid")


async def test_filters_change_the_numbers(client, events):
    await login(client)
    everything = (await section(client, "totals"))["questions"]
    assert everything == summarise(events)["totals"]["questions"]
    cases = [
        {"channel": "zalo"}, {"topic": "bills"}, {"ward": "hai-chau"}, {"since": "2025-03-10", "until": "2025-03-16"},
        {"channel": "telegram", "topic": "eid", "since": "2025-03-05"},
    ]
    for query in cases:
        got = await section(client, "totals", **query)
        want = summarise(events, **query)["totals"]
        assert got["questions"] == want["questions"] < everything, query
        assert got["unique_users"] == want["unique_users"], query
    # "_" selects "not set": questions without a topic (fallbacks), people without a ward
    no_topic = await section(client, "by_topic", topic="_")
    assert [r["value"] for r in no_topic] == [""] and no_topic[0]["questions"] == summarise(events)["by_topic"][""]
    assert (await section(client, "totals", ward="_"))["questions"] == summarise(events, ward="")["totals"]["questions"]
    # the series follow the filter too
    daily = await section(client, "daily", topic="qr", since="2025-03-10", until="2025-03-12")
    assert {p["topic"] for p in daily} == {"qr"} and [p["period"] for p in daily] == ["2025-03-10", "2025-03-11", "2025-03-12"]
    # bad filters are refused with a reason
    for query in ({"since": "yesterday"}, {"since": "2025-03-10", "until": "2025-03-01"}, {"ward": "x" * 65}):
        r = await client.get("/dashboard/api/section/totals", params=query)
        assert r.status == 400 and "error" in await r.json()
    assert (await client.get("/dashboard/api/section/secrets")).status == 404


async def test_page_defaults_to_the_last_four_weeks_with_data(client, events):
    await login(client)
    r = await client.get("/dashboard/?topic=eid", allow_redirects=False)
    last = max(day_of(e) for e in events)
    first = (dt.date.fromisoformat(last) - dt.timedelta(days=27)).isoformat()
    assert r.status == 302 and r.headers["Location"] == f"/dashboard/?since={first}&until={last}&topic=eid"
    page = await (await client.get(r.headers["Location"])).text()
    assert f'value="{first}"' in page and f'href="/dashboard/export/top_questions.csv?since={first}&amp;until={last}&amp;topic=eid"' in page
    data = page_data(page)
    assert data["query"] == f"since={first}&until={last}&topic=eid" and data["period"] == "day"
    assert set(data["topics"]) == {"eid", "portal", "fees", "bills", "qr", "safety", "signature"}
    # a bad filter in the page: said in words, nothing loaded
    page = await (await client.get("/dashboard/?since=soon&until=")).text()
    assert "Bộ lọc không hợp lệ" in page and page_data(page)["error"] is True


# -- the unanswered inbox --------------------------------------------------------------------------------------

async def test_marks_persist_and_apply_to_new_questions(client, kb):
    csrf = await login(client)
    inbox = await section(client, "unanswered")
    gold, second = inbox[0], inbox[1]
    assert gold["status"] == second["status"] == "open"
    entry = next(iter(kb.faqs))

    # refused: resolved needs a real entry; keys must be keys
    for body in ({"keys": gold["keys"], "status": "resolved"}, {"keys": gold["keys"], "status": "resolved", "entry_id": "no-such-entry"},
                 {"keys": [], "status": "ignored"}, {"keys": "abc", "status": "ignored"}, {"keys": gold["keys"], "status": "deleted"}, [1, 2]):
        assert (await mark(client, body, csrf)).status == 400, body
    r = await client.post("/dashboard/api/mark", data=b"{not json", headers={"Origin": origin(client), "X-CSRF-Token": csrf})
    assert r.status == 400

    r = await mark(client, {"keys": gold["keys"], "status": "resolved", "entry_id": entry}, csrf)
    assert r.status == 200 and (await r.json())["keys"] == len(gold["keys"])
    r = await mark(client, {"keys": second["keys"], "status": "ignored"}, csrf)
    assert r.status == 200

    inbox = await section(client, "unanswered")
    resolved = [c for c in inbox if c["key"] == gold["key"]]
    assert resolved and resolved[0]["status"] == "resolved" and resolved[0]["entry_id"] == entry
    assert resolved[0]["entry_title"] == kb.faqs[entry].title("vi")
    assert second["key"] not in {c["key"] for c in inbox}  # ignored: hidden
    assert [c["status"] for c in inbox] == sorted((c["status"] for c in inbox), key=["open", "resolved"].index)
    shown = await section(client, "unanswered", ignored="1")
    assert [c["status"] for c in shown if c["key"] == second["key"]] == ["ignored"]

    # a citizen asks the resolved question again, two days after the mark: same group, still resolved, counted
    with connect(client.server.app[dashboard.DASHBOARD].ctx.settings.database) as db:
        later = time.time() + 2 * 86400
        write_batch(db, [Event(ts=later, channel="web", user="u-new", lang="vi", kind="fallback", question=gold["examples"][0], question_key=gold["key"])])
    written_behind_its_back(client)
    again = [c for c in await section(client, "unanswered") if c["key"] == gold["key"]][0]
    assert again["status"] == "resolved" and again["count"] == gold["count"] + 1 and again["after_mark"] == 1
    rows = await csv_rows(client, "unanswered")
    assert [(r["status"], r["entry_id"], r["after_mark"]) for r in rows if r["key"] == gold["key"]] == [("resolved", entry, "1")]

    # reopened: open again, marks gone
    r = await mark(client, {"keys": gold["keys"], "status": "open"}, csrf)
    assert r.status == 200
    assert [c["status"] for c in await section(client, "unanswered") if c["key"] == gold["key"]] == ["open"]
    assert {k for k, _, _ in marks_in(client)} == set(second["keys"])


# -- escaping, headers, language, weekly ----------------------------------------------------------------------

async def test_citizen_text_is_escaped_everywhere(client):
    await login(client)
    ts = dt.datetime(2025, 3, 20, 10, tzinfo=VIETNAM).timestamp()
    nasty = [("</script><script>alert(1)</script>", "alert script"), ('=HYPERLINK("http://evil.example","x")', "=hyperlink evil")]
    with connect(client.server.app[dashboard.DASHBOARD].ctx.settings.database) as db:
        write_batch(db, [Event(ts=ts + i, channel="web", user=f"x{i}", lang="vi", kind="fallback", question=q, question_key=k) for i in range(40) for q, k in nasty])
    written_behind_its_back(client)
    weekly = await (await client.get("/dashboard/weekly?week=2025-W12")).text()
    assert "<script>alert" not in weekly and "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in weekly
    page = await (await client.get("/dashboard/?since=&until=&ward=%3C%2Fscript%3E%3Cb%3E")).text()
    assert "</script><b>" not in page and page_data(page)["query"] == "since=&until=&ward=%3C%2Fscript%3E%3Cb%3E"
    rows = await csv_rows(client, "unanswered")
    cells = [v for r in rows for v in r.values() if v]
    assert not any(v.startswith(("=", "+", "@")) for v in cells)
    assert any(v.startswith("'=HYPERLINK") for v in cells) and any(v == "'=hyperlink evil" for v in cells)
    assert csv_cell("-1") == "'-1" and csv_cell(-1) == -1 and csv_cell(None) == ""


async def test_security_headers(client):
    await login(client)
    for path in ("/dashboard/?since=&until=", "/dashboard/weekly", "/dashboard/api/section/totals", "/dashboard/export/totals.csv", "/dashboard/login"):
        r = await client.get(path)
        assert r.status == 200, path
        assert "script-src 'self'" in r.headers["Content-Security-Policy"] and "unsafe-inline" not in r.headers["Content-Security-Policy"]
        assert r.headers["Cache-Control"] == "no-store" and r.headers["X-Frame-Options"] == "DENY", path
        assert r.headers["Referrer-Policy"] == "same-origin" and r.headers["X-Content-Type-Options"] == "nosniff"
    page = await (await client.get("/dashboard/?since=&until=")).text()
    assert "<script>" not in page and " style=" not in page and "http://" not in page and "https://" not in page  # no CDN
    chart = await client.get("/dashboard/static/chart.umd.min.js")
    assert chart.status == 200 and chart.headers["Content-Type"].startswith("text/javascript")
    assert (await chart.text()).startswith("/*!\n * Chart.js v4.") and "MIT" in (await chart.text())[:200]
    again = await client.get("/dashboard/static/chart.umd.min.js", headers={"If-None-Match": chart.headers["ETag"]})
    assert again.status == 304
    assert (await client.get("/dashboard/static/VENDORED.md")).status == 404


async def test_english_switch_is_remembered(client):
    await login(client)
    r = await client.get("/dashboard/weekly?lang=en")
    assert 'lang="en"' in await r.text() and "Weekly summary" in await r.text()
    assert "dg_lang=en" in r.headers["Set-Cookie"]
    page = await (await client.get("/dashboard/?since=&until=")).text()
    assert '<html lang="en"' in page and page_data(page)["t"]["inbox"] == "Unanswered questions inbox"
    top = await section(client, "helpfulness")
    assert all(r["title"] is None or not re.search("[ảẩắ]", r["title"]) for r in top)
    page = await (await client.get("/dashboard/?since=&until=&lang=vi")).text()
    assert '<html lang="vi"' in page and "Hộp câu hỏi chưa trả lời được" in page


async def test_weekly_summary(client, events):
    await login(client)
    r = await client.get("/dashboard/weekly?week=2025-W11&ward=hai-chau")
    page = await r.text()
    assert r.status == 200 and "Tóm tắt tuần 2025-W11" in page and "10/03/2025 – 16/03/2025" in page and "Phường/xã: hai-chau" in page
    want = summarise(events, since="2025-03-10", until="2025-03-16", ward="hai-chau")["totals"]["questions"]
    assert re.search(rf'class="kpi-value">{want:,}<'.replace(",", "."), page)
    assert "@page" not in page and "<style" not in page  # print rules live in the stylesheet
    assert (await client.get("/dashboard/weekly?week=2025-W99")).status == 400
    assert (await client.get("/dashboard/weekly?week=last")).status == 400
    r = await client.get("/dashboard/weekly")  # default: the data ends before last week, so its last week
    assert "Tóm tắt tuần 2025-W12" in await r.text()


def test_weeks():
    assert parse_week("2025-W10") == dt.date(2025, 3, 3)
    assert default_week("2025-03-23", today=dt.date(2026, 1, 7)) == dt.date(2025, 3, 17)
    assert default_week("2026-01-07", today=dt.date(2026, 1, 7)) == dt.date(2025, 12, 29)  # last complete week
    assert default_week(None, today=dt.date(2026, 1, 7)) == dt.date(2025, 12, 29)


async def test_queries_run_off_the_event_loop(client, monkeypatch):
    csrf = await login(client)
    threads = []
    real = dashboard.connect

    def spy(path):
        threads.append(threading.current_thread().name)
        return real(path)

    monkeypatch.setattr(dashboard, "connect", spy)
    monkeypatch.setattr(client.server.app[dashboard.DASHBOARD].cache, "ttl", 0)  # every route queries the database
    for path in ("/dashboard/?since=&until=", "/dashboard/weekly", "/dashboard/api/section/unanswered", "/dashboard/export/by_topic.csv"):
        assert (await client.get(path)).status == 200
    assert (await mark(client, {"keys": ["gia vang"], "status": "ignored"}, csrf)).status == 200
    assert len(threads) >= 6 and all(name.startswith("dashboard") for name in threads), threads


# -- the cache of computed sections and its warmer -----------------------------------------------------------

async def test_cache_single_flight_freshness_bound_and_clear():
    cache = dashboard.ResultCache(ttl=60, size=2)
    calls: list[str] = []
    release = asyncio.Event()

    async def compute(value: str) -> str:
        calls.append(value)
        await release.wait()
        return value

    waiting = [asyncio.ensure_future(cache.get("a", lambda: compute("A"))) for _ in range(5)]
    await asyncio.sleep(0.01)
    release.set()
    assert await asyncio.gather(*waiting) == ["A"] * 5 and calls == ["A"]  # five requests, one computation
    assert await cache.get("a", lambda: compute("A2")) == "A" and calls == ["A"]  # fresh: from memory
    await cache.get("b", lambda: compute("B"))
    await cache.get("c", lambda: compute("C"))
    assert len(cache) == 2 and await cache.get("a", lambda: compute("A3")) == "A3"  # bounded: "a" was the oldest
    assert await cache.refresh("a", lambda: compute("A4")) == "A4" and await cache.get("a", lambda: compute("A5")) == "A4"

    # cleared while computing (a mark): those waiting get that result, the cache does not keep it, and whoever
    # asks after the clear does not join the old computation
    release.clear()
    before = asyncio.ensure_future(cache.get("d", lambda: compute("D-old")))
    await asyncio.sleep(0.01)
    cache.clear()
    after = asyncio.ensure_future(cache.get("d", lambda: compute("D-new")))
    await asyncio.sleep(0.01)
    release.set()
    assert await before == "D-old" and await after == "D-new"
    assert await cache.get("d", lambda: compute("D-3")) == "D-new"
    assert await cache.get("a", lambda: compute("A6")) == "A6"  # the clear dropped it
    cache.invalidate(lambda key: key == "d")  # only the matching results
    assert len(cache) == 1 and await cache.get("a", lambda: compute("A7")) == "A6"
    assert await cache.get("d", lambda: compute("D-4")) == "D-4"

    async def failing() -> str:
        raise sqlite3.OperationalError("database is locked")

    with pytest.raises(sqlite3.OperationalError):  # a failure is not kept
        await cache.get("e", failing)
    assert await cache.get("e", lambda: compute("E")) == "E"

    short = dashboard.ResultCache(ttl=0.05)
    assert await short.get("x", lambda: compute("X1")) == "X1"
    await asyncio.sleep(0.1)
    assert await short.get("x", lambda: compute("X2")) == "X2"  # expired
    off = dashboard.ResultCache(ttl=0)
    assert [await off.get("x", lambda: compute(v)) for v in ("1", "2")] == ["1", "2"] and len(off) == 0
    env = "DIGIGUIDE_DASHBOARD_CACHE_TTL"
    assert dashboard.cache_ttl({}) == dashboard.CACHE_TTL and dashboard.cache_ttl({env: "0"}) == 0 and dashboard.cache_ttl({env: "5"}) == 5
    assert dashboard.cache_ttl({env: "soon"}) == dashboard.CACHE_TTL


async def test_standard_views_are_kept_warm_and_a_mark_drops_the_inbox(client, monkeypatch):
    dash = client.server.app[dashboard.DASHBOARD]
    assert dash.warmer is not None and not dash.warmer.done()  # started with the app
    for _ in range(400):  # its first pass: the filter menus, then every section of both views
        if len(dash.cache) >= 1 + 2 * len(SECTIONS):
            break
        await asyncio.sleep(0.05)
    csrf = await login(client)
    r = await client.get("/dashboard/", allow_redirects=False)
    default = dict(re.findall(r"(since|until)=([\d-]+)", r.headers["Location"]))
    assert len(default) == 2
    opened = []
    real = dashboard.connect
    monkeypatch.setattr(dashboard, "connect", lambda path: opened.append(path) or real(path))
    # the default range, all time (no dates, or empty ones: the same filters), pages, sections and CSV
    for query in (default, {"since": "", "until": ""}, {}):
        assert (await client.get("/dashboard/", params=query or {"since": ""})).status == 200
        for name in SECTIONS:
            await section(client, name, **query)
        await csv_rows(client, "unanswered", **query)
    assert opened == []  # all from memory

    top = (await section(client, "unanswered"))[0]
    assert (await mark(client, {"keys": top["keys"], "status": "ignored"}, csrf)).status == 200
    opened.clear()  # the mark's own write
    await section(client, "totals")
    assert opened == []  # the other sections do not read the marks: still from memory
    assert top["key"] not in {c["key"] for c in await section(client, "unanswered")}  # at once
    assert len(opened) == 1  # the inbox, computed again


async def test_the_warmer_stops_with_the_app_and_no_cache_means_no_warmer(tmp_path, kb, matcher, seeded, events, monkeypatch):
    """The warmer's life with the app's (SQLite only: what it reads is the sections', tested on both engines)."""
    app = make_dashboard_app(tmp_path, kb, matcher, seed(str(tmp_path / "analytics.db"), seeded, events))
    async with TestClient(TestServer(app)):
        warmer = app[dashboard.DASHBOARD].warmer
        assert warmer is not None and not warmer.done()
    assert warmer.cancelled() and app[dashboard.DASHBOARD].warmer is None

    monkeypatch.setenv("DIGIGUIDE_DASHBOARD_CACHE_TTL", "0")
    (tmp_path / "off").mkdir()
    app = make_dashboard_app(tmp_path / "off", kb, matcher, seed(str(tmp_path / "off" / "analytics.db"), seeded, events))
    async with TestClient(TestServer(app)) as c:
        dash = app[dashboard.DASHBOARD]
        await login(c)
        assert (await section(c, "totals"))["questions"] > 0
        assert dash.warmer is None and len(dash.cache) == 0
