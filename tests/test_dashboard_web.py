"""The dashboard's structure and its access rules beyond the admin login (analytics/web/):

- who may do what: a Principal's role decides (a viewer reads, only an editor or admin marks the inbox),
  through a session or a bearer token (Auth.resolve_token, here a resolver of the test's own; the real
  API tokens: tests/test_accounts_web.py); a bearer call needs no CSRF token, a session's POST does; a
  wrong token is refused even next to a good cookie;
- the code stays as docs/dashboard.md says: no import cycle among the analytics modules, page modules
  never import one another, no HTML written in Python strings, every word in both languages.

The HTTP tests run the real server app (bot.server.build_app) on aiohttp's test server, on a real database
with generated events, on both engines (conftest's db_target: an SQLite file, or PostgreSQL).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from analytics.store import connect
from analytics.web import words
from analytics.web.auth import AUTH, COOKIE, Principal, require
from accountsutil import make_account, session_cookie
from analytics_data import generate_events, write
from webutil import app_settings, make_app

ROOT = Path(__file__).resolve().parent.parent
ANALYTICS = ROOT / "analytics"
PAGES = ("overview", "weekly", "groups", "poster_pages", "login", "accounts_page", "audit_page", "tickets")
TOKENS = {
    "viewer-token": Principal("an", "viewer", ("phuc-yen",), kind="token"),
    "editor-token": Principal("binh", "editor", kind="token"),
}


async def resolve(request, token: str) -> Principal | None:
    return TOKENS.get(token)


@pytest.fixture
async def client(tmp_path, db_target, kb, matcher) -> AsyncIterator[TestClient]:
    with connect(db_target) as db:
        write(db, generate_events(n_users=80, days=7, seed=3))
    app = make_app(tmp_path, kb, matcher, app_settings(tmp_path, db=db_target))
    async with TestClient(TestServer(app)) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def inbox_keys(client: TestClient, headers: dict[str, str]) -> list[str]:
    r = await client.get("/dashboard/api/section/unanswered", params={"since": "", "until": ""}, headers=headers)
    assert r.status == 200, await r.text()
    return [c["key"] for c in (await r.json())["data"]]


async def test_roles_and_bearer_tokens(client):
    client.server.app[AUTH].resolve_token = resolve
    viewer, editor = bearer("viewer-token"), bearer("editor-token")
    keys = await inbox_keys(client, viewer)  # a viewer reads, with no cookie at all
    assert keys
    body = json.dumps({"keys": [keys[0]], "status": "ignored"})
    r = await client.post("/dashboard/api/mark", data=body, headers={**viewer, "Content-Type": "application/json"})
    assert r.status == 403 and (await r.json()) == {"error": "needs the editor role"}  # but may not mark
    assert keys[0] in await inbox_keys(client, viewer)
    # an editor marks; a bearer call has no cookie to forge, so no Origin or CSRF token is asked for
    r = await client.post("/dashboard/api/mark", data=body, headers={**editor, "Content-Type": "application/json"})
    assert r.status == 200 and (await r.json())["status"] == "ignored"
    assert keys[0] not in await inbox_keys(client, viewer)
    # a wrong token is refused, however it is written, and nothing answers for it
    for header in ({"Authorization": "Bearer nope"}, {"Authorization": "Bearer"}, {"Authorization": "Basic eDp5"}):
        r = await client.get("/dashboard/api/section/totals", headers=header)
        assert r.status == 401 and (await r.json()) == {"error": "login required"}, header
    # a page through a bearer token: there is no session, so no logout form either
    page = await client.get("/dashboard/weekly", headers=viewer)
    assert page.status == 200 and 'name="csrf"' not in await page.text()


def login_as(client: TestClient, name: str, role: str) -> None:
    """A real account in the app's database, and a session of it in the client's cookie jar."""
    where = client.server.app[AUTH].store.where
    make_account(where, name, role)
    client.session.cookie_jar.update_cookies({COOKIE: session_cookie(where, name)}, client.make_url("/dashboard/"))


async def test_a_viewer_session_reads_but_does_not_mark(client):
    auth = client.server.app[AUTH]
    login_as(client, "an", "viewer")
    page = await (await client.get("/dashboard/?since=&until=")).text()
    data = json.loads(re.search(r'id="dash-data">(.*?)</script>', page, re.S).group(1))
    csrf = data["csrf"]
    assert csrf and f'name="csrf" value="{csrf}"' in page and data["can_mark"] is False  # the logout form carries it
    key = (await inbox_keys(client, {}))[0]
    origin = str(client.make_url("/")).rstrip("/")
    r = await client.post("/dashboard/api/mark", data=json.dumps({"keys": [key], "status": "ignored"}),
                          headers={"Origin": origin, "X-CSRF-Token": csrf, "Content-Type": "application/json"})
    assert r.status == 403
    assert key in await inbox_keys(client, {})
    # tokens on (the default: the database's API tokens), the header decides: a wrong one is refused, cookie or not
    assert (await client.get("/dashboard/api/section/totals", headers=bearer("nope"))).status == 401
    auth.resolve_token = None  # tokens off: a bearer header changes nothing for the session
    assert (await client.get("/dashboard/api/section/totals", headers=bearer("editor-token"))).status == 200


def test_principal_roles_and_wards():
    """One Principal type (analytics.accounts): require() takes roles, can() actions; a typo in either fails loudly."""
    admin, editor, viewer = Principal("a", "admin"), Principal("e", "editor"), Principal("v", "viewer", ("phuc-yen",))
    assert admin.can("admin") and admin.can("answer") and editor.can("edit") and editor.can("read") and not editor.can("admin") and not viewer.can("answer")
    assert admin.sees_ward("tam-son") and viewer.sees_ward("phuc-yen") and not viewer.sees_ward("tam-son")
    assert not Principal("n", "admin", must_change=True).can("read")  # a one-time password opens nothing
    with pytest.raises(ValueError, match="role"):
        require("boss")
    with pytest.raises(ValueError, match="action"):
        admin.can("editor")


# -- the code as docs/dashboard.md describes it ----------------------------------------------------------------

def analytics_imports() -> dict[str, set[str]]:
    """module -> the analytics modules it imports (at any depth of the file: late imports count too)."""
    graph: dict[str, set[str]] = {}
    for path in ANALYTICS.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                found |= {f"{base}.{a.name}" for a in node.names} | ({base} if node.module else set())  # `from . import x`: x only
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        graph[name] = found
    return {name: {m for m in found if m in graph and m != name} for name, found in graph.items()}


def test_no_import_cycles_and_pages_do_not_import_each_other():
    graph = analytics_imports()
    assert "analytics.web.overview" in graph and "analytics.dashboard" not in graph
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for dep in sorted(graph[name]):
            assert state.get(dep) != "open", "import cycle: " + " -> ".join([*path, name, dep])
            if dep not in state:
                visit(dep, [*path, name])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    for page in PAGES:
        imported = {m.rpartition(".")[2] for m in graph[f"analytics.web.{page}"] if m.startswith("analytics.web.")}
        assert not imported & set(PAGES), (page, imported & set(PAGES))
        assert "analytics.web" not in graph[f"analytics.web.{page}"]  # the package's __init__ imports the pages: not back


def test_no_html_in_python_strings():
    """Markup lives in analytics/templates/ (autoescaped); Python modules only say what goes in."""
    tag = re.compile(r"<(?:div|p|a|span|b|li|ol|ul|table|tr|td|th|section|form|input|button|svg|rect|text|article|h\d)[\s>/]")
    for path in [*(ANALYTICS / "web").glob("*.py"), ANALYTICS / "posters.py"]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(n.body[0].value) for n in ast.walk(tree) if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                      and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                assert not tag.search(node.value), (path.name, node.lineno, node.value[:80])
        assert "html.escape" not in path.read_text(encoding="utf-8"), path.name


def test_every_word_in_both_languages():
    for table in (words.T, words.GROUPS, words.TICKETS):
        assert set(table) == set(words.LANGS)
        assert set(table["vi"]) == set(table["en"])
        assert all(value.strip() for lang in words.LANGS for value in table[lang].values())


async def test_a_page_above_the_callers_role_is_refused_in_words(tmp_path, kb, matcher):
    """What a future admin-only page (accounts) does for a viewer: 403 and a sentence, not a redirect loop."""

    @require("admin", page=True)
    async def accounts(request, who):
        raise AssertionError("a viewer got in")

    app = make_app(tmp_path, kb, matcher)
    app.router.add_get("/dashboard/probe-accounts", accounts)  # a path of its own: matched before the catch-all
    async with TestClient(TestServer(app)) as c:
        assert (await c.get("/dashboard/probe-accounts", allow_redirects=False)).status == 302  # nobody: the login
        login_as(c, "an", "viewer")
        r = await c.get("/dashboard/probe-accounts")
        assert r.status == 403 and "không có quyền" in await r.text() and "script-src 'self'" in r.headers["Content-Security-Policy"]


@pytest.mark.parametrize("content_type, body", [
    ("multipart/form-data; boundary=x", b"--x\r\nbroken"), ("multipart/form-data", b"no boundary"),
    ("application/x-www-form-urlencoded", b"token=%ZZ&csrf=\xff\xfe"),
])
async def test_a_form_that_does_not_parse_is_a_4xx(client, content_type, body):
    """A broken body to the login, the logout or a mark: refused with a reason, never a server error."""
    origin = str(client.make_url("/")).rstrip("/")
    headers = {"Origin": origin, "Content-Type": content_type}
    r = await client.post("/dashboard/login", data=body, headers=headers, allow_redirects=False)
    assert r.status == 400 and "Không đọc được biểu mẫu" in await r.text() and "Set-Cookie" not in r.headers
    r = await client.post("/dashboard/login", data={"token": "tok"}, headers={"Origin": origin}, allow_redirects=False)
    assert r.status == 303  # not counted as a guess
    for path in ("/dashboard/logout", "/dashboard/api/mark"):
        r = await client.post(path, data=body, headers=headers, allow_redirects=False)
        assert r.status == 403 and (await r.json()) == {"error": "forbidden"}, path
    assert (await client.get("/dashboard/api/section/totals")).status == 200  # still logged in
