"""The content editors' API and pages over HTTP (the real server app on aiohttp's test server, a copy of
the content, a real SQLite database with an event store as `serve` has): what an editor, a viewer and a
script notice.

- reading and searching entries; a viewer reads but gets 403 for every edit, and pages without controls;
- a save is `bot check`ed: 422 with each problem at its field, nothing written; the bot answers from a
  published edit at once (ChatService.reload awaited); two editors from one version: 409 for the second;
- the history (who, when, diff), revert, and the audit rows of every publish and revert;
- create, retire, restore; locality values; try / preview / impact on drafts; the inbox pre-fill and the
  clusters a publish resolves; no bad input makes a 500.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from analytics.web.auth import AUTH
from analytics.web.common import DASHBOARD
from analytics.web.words import CONTENT, T
from bot.content_edit import ContentRepo, Draft, try_question
from bot.content_edit.impact import editor_items
from contentutil import ContentServer, bearer, content_server, resolve

ENTRY, FILE = "eid-levels", "faq/eid.yaml"
PHRASING = "vneid hang hai va hang mot"  # the bot falls back on it today (tests/test_content_browser.py)
API = "/dashboard/api/content"
VIEWER, EDITOR = bearer("viewer-token"), bearer("editor-token")


@pytest.fixture
async def server(tmp_path, content_copy, matcher) -> AsyncIterator[ContentServer]:
    s = content_server(tmp_path, content_copy, matcher)
    s.app[AUTH].resolve_token = resolve
    yield s
    s.close()


@pytest.fixture
async def client(server) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(server.app)) as c:
        yield c


def origin(client: TestClient) -> str:
    return str(client.make_url("/")).rstrip("/")


def page_data(page: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="content-data">(.*?)</script>', page, re.S).group(1))


async def login(client: TestClient) -> dict[str, str]:
    """The access-token login (as tests/test_dashboard.py's); returns the headers a page's script sends."""
    r = await client.post("/dashboard/login", data={"token": "tok", "next": "/dashboard/content"}, headers={"Origin": origin(client)}, allow_redirects=False)
    assert r.status == 303, await r.text()
    data = page_data(await (await client.get(f"/dashboard/content/faq/{ENTRY}")).text())
    return {"Origin": origin(client), "X-CSRF-Token": data["csrf"]}


async def get_entry(client: TestClient, kind: str = "faq", entry_id: str = ENTRY, headers: dict | None = None) -> dict:
    r = await client.get(f"{API}/{kind}/{entry_id}", headers=headers or EDITOR)
    assert r.status == 200, await r.text()
    return await r.json()


async def chat(client: TestClient, text: str, session: str) -> str:
    r = await client.post("/api/chat", json={"session": session, "text": text})
    assert r.status == 200, await r.text()
    return (await r.json())["replies"][0]["text"]


async def put(client: TestClient, entry: dict, version: str, headers: dict | None = None, **extra):
    return await client.put(f"{API}/faq/{ENTRY}", json={"entry": entry, "version": version, **extra}, headers=headers or EDITOR)


# -- reading ------------------------------------------------------------------------------------------------------

async def test_read_and_search(client, server):
    got = await get_entry(client, headers=VIEWER)
    assert got["entry"] == ContentRepo(server.content).get("faq", ENTRY) and got["version"] == server.kb.version
    assert got["file"] == FILE and got["retired"] is False
    assert (await client.get(f"{API}/faq/no-such-entry", headers=VIEWER)).status == 404
    assert (await client.get(f"{API}/guide/{ENTRY}", headers=VIEWER)).status == 404  # an FAQ id is not a guide
    r = await client.get(f"{API}/entries", params={"q": "QUÊN mat khau"}, headers=VIEWER)
    found = (await r.json())["entries"]
    assert "eid-forgot-password" in [e["id"] for e in found] and all("id" in e and "review_state" in e for e in found)
    r = await client.get(f"{API}/entries", params={"kind": "guide", "topic": "eid"}, headers=VIEWER)
    guides = (await r.json())["entries"]
    assert guides and {(e["kind"], e["topic"]) for e in guides} == {("guide", "eid")}
    assert (await client.get(f"{API}/entries", params={"review": "stale"}, headers=VIEWER)).status == 400
    # the list page searches the same way, and links each row to its editor
    page = await (await client.get("/dashboard/content", params={"q": "quen mat khau vneid", "kind": "faq"}, headers=VIEWER)).text()
    assert 'href="/dashboard/content/faq/eid-forgot-password"' in page and "/dashboard/content/guide/" not in page


async def test_a_viewer_reads_but_may_not_edit(client, server):
    original = (server.content / FILE).read_text()
    got = await get_entry(client, headers=VIEWER)
    entry = {**got["entry"], "questions": {**got["entry"]["questions"], "vi": [*got["entry"]["questions"]["vi"], PHRASING]}}
    draft = {"kind": "faq", "id": ENTRY, "entry": entry}
    refused = [
        ("PUT", f"{API}/faq/{ENTRY}", {"entry": entry, "version": got["version"]}), ("POST", f"{API}/faq", {"entry": entry, "version": got["version"]}),
        ("POST", f"{API}/faq/{ENTRY}/retire", {"version": got["version"]}), ("POST", f"{API}/check", draft), ("POST", f"{API}/preview", draft),
        ("POST", f"{API}/try", {"text": PHRASING}), ("POST", f"{API}/impact", draft), ("PUT", f"{API}/locality", {"version": got["version"], "set": {"hotlines.vneid.number": "1"}}),
        ("POST", f"{API}/revisions/1/revert", {}), ("GET", f"{API}/prefill?question=x", None),
    ]
    for method, path, body in refused:
        r = await client.request(method, path, json=body, headers=VIEWER)
        assert r.status == 403 and (await r.json()) == {"error": "needs the editor role"}, (method, path)
    assert (server.content / FILE).read_text() == original
    # the pages: read-only, no edit control, no new entry
    page = await (await client.get(f"/dashboard/content/faq/{ENTRY}", headers=VIEWER)).text()
    assert page_data(page)["can_edit"] is False and 'id="btn-publish"' not in page and 'id="tools"' not in page and 'id="read-only"' in page
    assert 'id="new-faq"' not in await (await client.get("/dashboard/content", headers=VIEWER)).text()
    assert (await client.get("/dashboard/content/new", headers=VIEWER)).status == 403
    # nobody at all: 401, for the PUT too
    assert (await client.put(f"{API}/faq/{ENTRY}", json={"entry": entry, "version": got["version"]})).status == 401
    # an editor's bearer call needs no CSRF token; a session's does
    r = await put(client, entry, got["version"])
    assert r.status == 200, await r.text()
    headers = await login(client)
    r = await put(client, entry, (await r.json())["version"], headers={"Origin": headers["Origin"]})
    assert r.status == 403


# -- publishing ----------------------------------------------------------------------------------------------------

async def test_an_invalid_save_names_each_field_and_changes_nothing(client, server):
    original = (server.content / FILE).read_text()
    got = await get_entry(client)
    entry = json.loads(json.dumps(got["entry"]))
    entry["questions"]["vi"] = entry["questions"]["vi"][:2]
    entry["answer"]["en"] = ""
    r = await put(client, entry, got["version"])
    assert r.status == 422
    problems = {p["field"]: p for p in (await r.json())["problems"]}
    assert "at least 4 'vi'" in problems["questions.vi"]["message"] and problems["questions.vi"]["file"] == f"content/{FILE}"
    assert "missing 'en' text" in problems["answer.en"]["message"] and isinstance(problems["answer.en"]["line"], int)
    assert (server.content / FILE).read_text() == original and server.live.version == got["version"]
    # Check says the same without publishing
    r = await client.post(f"{API}/check", json={"kind": "faq", "id": ENTRY, "entry": entry}, headers=EDITOR)
    checked = await r.json()
    assert r.status == 200 and checked["ok"] is False and {p["field"] for p in checked["problems"]} == set(problems)
    # the id cannot change
    r = await put(client, {**got["entry"], "id": "eid-levels-2"}, got["version"])
    assert r.status == 422 and [p["field"] for p in (await r.json())["problems"]] == ["id"]


async def test_a_publish_is_live_at_once_and_a_second_editor_gets_409(client, server):
    assert not (await chat(client, PHRASING, "api-before-0001")).startswith(server.answer_of(ENTRY)[:40])
    got = await get_entry(client)
    first = json.loads(json.dumps(got["entry"]))
    first["questions"]["vi"].append(PHRASING)
    r = await put(client, first, got["version"])
    assert r.status == 200
    published = await r.json()
    assert published["version"] != got["version"] and published["reloaded"] is True and server.live.version == published["version"]
    assert (await chat(client, PHRASING, "api-after-00001")).startswith(server.answer_of(ENTRY)[:40])
    # someone who opened the same version publishes afterwards: refused, nothing overwritten
    second = json.loads(json.dumps(got["entry"]))
    second["questions"]["en"].append("which VNeID level do I need")
    r = await put(client, second, got["version"])
    assert r.status == 409
    body = await r.json()
    assert body["version"] == published["version"] and "changed since you opened it" in body["error"]
    text = (server.content / FILE).read_text()
    assert PHRASING in text and "which VNeID level do I need" not in text


async def test_history_diff_revert_and_the_audit_log(client, server):
    original = (server.content / FILE).read_text()
    got = await get_entry(client)
    entry = json.loads(json.dumps(got["entry"]))
    entry["questions"]["vi"].append(PHRASING)
    assert (await put(client, entry, got["version"])).status == 200  # by the editor's token
    r = await client.get(f"{API}/revisions", params={"kind": "faq", "id": ENTRY}, headers=VIEWER)
    [rev] = (await r.json())["revisions"]
    assert (rev["actor"], rev["action"], rev["entry_id"]) == ("token:binh", "edit", ENTRY) and rev["ts"] > 0 and "before" not in rev
    assert [line for line in rev["diff"].splitlines() if line.startswith(("+ ", "- ", "+  ", "-  "))] == [f"+      - {PHRASING}"]
    full = await (await client.get(f"{API}/revisions/{rev['id']}", headers=VIEWER)).json()
    assert PHRASING in full["after"] and PHRASING not in full["before"]
    assert (await client.get(f"{API}/revisions/999999", headers=VIEWER)).status == 404
    # one click, from a session (CSRF header as the page sends it)
    headers = await login(client)
    r = await client.post(f"{API}/revisions/{rev['id']}/revert", json={}, headers=headers)
    assert r.status == 200, await r.text()
    assert (server.content / FILE).read_text() == original and server.live.version == got["version"]
    assert not (await chat(client, PHRASING, "api-reverted-01")).startswith(server.answer_of(ENTRY)[:40])
    # reverting it again would silently undo the revert: refused
    r = await client.post(f"{API}/revisions/{rev['id']}/revert", json={}, headers=headers)
    assert r.status == 409 and "changed since" in (await r.json())["error"]
    audit = [(actor, action, target) for actor, action, target, _ in server.audit() if action.startswith("content.")]
    assert audit[1] == ("token:binh", "content.publish", f"faq:{ENTRY}") and audit[0][1:] == ("content.revert", f"revision:{rev['id']}")
    detail = next(d for _, action, _, d in server.audit() if action == "content.publish")
    assert detail["revisions"] == [rev["id"]] and detail["changes"] == [{"kind": "faq", "id": ENTRY, "action": "edit"}]


async def test_create_retire_and_restore(client, server):
    version = (await get_entry(client))["version"]
    new = {
        "id": "eid-grade-names", "topic": "eid",
        "questions": {"vi": ["VNeID hạng một, hạng hai là gì?", "hang mot hang hai vneid", "vneid co hang may", "hang cua tai khoan dinh danh"], "en": ["What are VNeID grades?"]},
        "answer": {"vi": "VNeID không chia hạng mà chia mức: mức 1 và mức 2.", "en": "VNeID has levels, not grades: level 1 and level 2."},
        "sources": ["https://vneid.gov.vn"], "reviewed": "2026-12-01",
    }
    r = await client.post(f"{API}/faq", json={"entry": new, "version": version}, headers=EDITOR)
    assert r.status == 201, await r.text()
    created = await r.json()
    assert created["id"] == "eid-grade-names"
    said = await chat(client, "vneid co hang may", "api-create-0001")
    assert said.startswith("VNeID không chia hạng"), (said, created, server.live.version, "eid-grade-names" in server.live.faqs)
    r = await client.post(f"{API}/faq", json={"entry": new, "version": created["version"]}, headers=EDITOR)
    assert r.status == 422 and "already used" in (await r.json())["problems"][0]["message"]
    r = await client.post(f"{API}/faq/eid-grade-names/retire", json={"version": created["version"]}, headers=EDITOR)
    assert r.status == 200
    retired = await r.json()
    assert not (await chat(client, "vneid co hang may", "api-retire-0001")).startswith("VNeID không chia hạng")
    assert (await client.get(f"{API}/faq/eid-grade-names", headers=VIEWER)).status == 404
    kept = await (await client.get(f"{API}/faq/eid-grade-names", params={"retired": "1"}, headers=VIEWER)).json()
    assert kept["retired"] is True and {k: v.strip() for k, v in kept["entry"]["answer"].items()} == new["answer"]  # written as a block
    page = await (await client.get("/dashboard/content/faq/eid-grade-names", headers=EDITOR)).text()
    assert 'id="btn-restore"' in page and 'id="btn-publish"' not in page
    r = await client.post(f"{API}/faq/eid-grade-names/restore", json={"version": retired["version"]}, headers=EDITOR)
    assert r.status == 200
    assert (await chat(client, "vneid co hang may", "api-restore-001")).startswith("VNeID không chia hạng")


async def test_locality_values(client, server):
    got = await (await client.get(f"{API}/locality", headers=VIEWER)).json()
    assert got["locality"]["hotlines"]["vneid"]["number"] == "1900 0368" and got["version"] == server.kb.version
    r = await client.put(f"{API}/locality", json={"version": got["version"], "set": {"hotlines.vneid.number": "1900 0369"}}, headers=EDITOR)
    assert r.status == 200, await r.text()
    version = (await r.json())["version"]
    users = [f for f in server.live.faqs.values() if "1900 0369" in f.answer.vi]
    assert users and not any("1900 0368" in f.answer.vi for f in server.live.faqs.values())
    # the page sends all of it back: a group in a ward that does not exist is refused at its field
    loc = (await (await client.get(f"{API}/locality", headers=VIEWER)).json())["locality"]
    n = len(loc["working_groups"])
    loc["working_groups"].append({"id": "tdp-test-1", "name": {"vi": "Tổ thử", "en": "Test group"}, "ward": "no-such-ward", "code": "ZQ9"})
    r = await client.put(f"{API}/locality", json={"version": version, "locality": loc}, headers=EDITOR)
    assert r.status == 422 and [p["field"] for p in (await r.json())["problems"]] == [f"working_groups.{n}.ward"]
    loc["working_groups"][n]["ward"] = "tam-son"
    r = await client.put(f"{API}/locality", json={"version": version, "locality": loc}, headers=EDITOR)
    assert r.status == 200 and server.live.working_groups["tdp-test-1"].ward == "tam-son"
    revs = (await (await client.get(f"{API}/revisions", params={"kind": "locality"}, headers=VIEWER)).json())["revisions"]
    assert [r["action"] for r in revs] == ["locality", "locality"]


async def test_try_preview_and_impact_on_a_draft(client, server):
    live = await client.post(f"{API}/try", json={"text": "quen mat khau vneid"}, headers=EDITOR)
    assert (await live.json()) == try_question(server.live, "quen mat khau vneid")  # the `ask --json` object
    got = await get_entry(client)
    entry = json.loads(json.dumps(got["entry"]))
    entry["questions"]["vi"].append(PHRASING)
    entry["answer"]["vi"] = entry["answer"]["vi"].rstrip("\n") + "\nGhi nhớ: mức 2 làm tại công an."
    draft = {"kind": "faq", "id": ENTRY, "entry": entry}
    tried = await (await client.post(f"{API}/try", json={**draft, "text": PHRASING}, headers=EDITOR)).json()
    assert (tried["kind"], tried["id"], tried["explain"]["decision"]) == ("faq", ENTRY, "answer")
    shown = await (await client.post(f"{API}/preview", json=draft, headers=EDITOR)).json()
    assert set(shown) == {"telegram", "zalo", "web", "lang"}
    assert "Ghi nhớ: mức 2 làm tại công an." in shown["zalo"][0] and "Gõ số để chọn" in shown["zalo"][0]
    assert "Ghi nhớ" in shown["web"][0]["text"] and shown["telegram"][0]["buttons"]
    english = await (await client.post(f"{API}/preview", json={"kind": "faq", "id": ENTRY, "lang": "en"}, headers=EDITOR)).json()
    assert english["web"][0]["text"].startswith(server.live.faqs[ENTRY].answer.en[:30])
    # impact: a labelled question the live content only suggests for becomes a phrasing of its entry
    engine = server.app[DASHBOARD].ctx.service.engine
    for name, item in editor_items():
        match = engine.matcher.search(item.q)
        if name == "devset" and item.type == "in" and match.kind == "suggest" and match.entry and match.entry.id in item.expect and match.entry.id in server.live.faqs:
            target = ContentRepo(server.content).get("faq", match.entry.id)
            target["questions"][item.lang].append(item.q)
            d = Draft(ContentRepo(server.content))
            d.apply("faq", match.entry.id, target)
            if d.validate().ok:
                break
    else:
        pytest.fail("no suggested question could become a phrasing")
    r = await client.post(f"{API}/impact", json={"kind": "faq", "id": match.entry.id, "entry": target}, headers=EDITOR)
    result = await r.json()
    moved = [m for m in result["moves"] if m["before"] == {"decision": "suggest", "entry": match.entry.id, "label": f"{match.entry.id} (suggest)"} and m["after"]["decision"] == "answer"]
    assert r.status == 200 and moved and moved[0]["better"] >= 1 and moved[0]["summary"].endswith(f"now go{'es' if moved[0]['count'] == 1 else ''} to {match.entry.id} (answer)")
    assert result["questions"] == len(editor_items()) and all(e["set"] != "real-sealed" for m in result["moves"] for e in m["examples"])
    # a draft that does not load cannot be tried or previewed: its problems instead
    broken = {**draft, "entry": {**entry, "answer": {"vi": "", "en": ""}}}
    r = await client.post(f"{API}/preview", json=broken, headers=EDITOR)
    assert r.status == 422 and {p["field"] for p in (await r.json())["problems"]} >= {"answer.vi"}


async def test_from_the_inbox_prefilled_and_resolved_on_publish(client, server):
    for n in range(2):
        assert not (await chat(client, PHRASING, f"api-inbox-000{n}")).startswith(server.answer_of(ENTRY)[:40])
    server.app[DASHBOARD].cache.clear()  # the warmer computed an empty inbox at start
    r = await client.get("/dashboard/api/section/unanswered", params={"since": "", "until": ""}, headers=VIEWER)
    [cluster] = [c for c in (await r.json())["data"] if PHRASING in c["examples"]]
    assert cluster["status"] == "open" and cluster["count"] == 2
    # "add as a phrasing of eid-levels": the editor opens with the question appended
    headers = await login(client)
    page = await client.get(f"/dashboard/content/faq/{ENTRY}", params=[("add", PHRASING), *[("resolves", k) for k in cluster["keys"]]])
    data = page_data(await page.text())
    assert data["entry"]["questions"]["vi"][-1] == PHRASING and data["prefill"]["resolves"] == cluster["keys"]
    r = await put(client, data["entry"], data["version"], headers=headers, resolves=data["prefill"]["resolves"])
    assert r.status == 200
    r = await client.get("/dashboard/api/section/unanswered", params={"since": "", "until": ""}, headers=VIEWER)
    [after] = [c for c in (await r.json())["data"] if c["key"] == cluster["key"]]
    assert (after["status"], after["entry_id"]) == ("resolved", ENTRY)
    # "new entry from this question", and the API's pre-fill
    page = await client.get("/dashboard/content/new", params={"kind": "faq", "question": "bao nhieu tuoi thi dc lam vneid"})
    data = page_data(await page.text())
    assert data["id"] is None and data["entry"]["id"].startswith("eid-bao-nhieu-tuoi") and data["entry"]["questions"]["vi"] == ["bao nhieu tuoi thi dc lam vneid"]
    pre = await (await client.get(f"{API}/prefill", params={"question": "be may tuoi thi lam dinh danh", "entry": "eid-who-eligible"}, headers=EDITOR)).json()
    assert pre["new"] is False and pre["entry"]["questions"]["vi"][-1] == "be may tuoi thi lam dinh danh"
    assert (await client.get(f"{API}/prefill", params={"question": "x", "entry": "no-such-entry"}, headers=EDITOR)).status == 404
    assert (await client.get(f"{API}/prefill", params={"question": "   "}, headers=EDITOR)).status == 400


async def test_bad_input_is_a_4xx_and_changes_nothing(client, server):
    before = {p: p.read_bytes() for p in server.content.rglob("*.yaml")}
    version = (await get_entry(client))["version"]
    entry = (await get_entry(client))["entry"]
    raw = [
        ("PUT", f"{API}/faq/{ENTRY}", b"{not json"), ("PUT", f"{API}/faq/{ENTRY}", b"[" * 50_000), ("POST", f"{API}/try", b"\xff\xfe"),
        ("PUT", f"{API}/faq/{ENTRY}", b"x" * (300 * 1024)),
    ]
    bodies = [
        ("PUT", f"{API}/faq/{ENTRY}", []), ("PUT", f"{API}/faq/{ENTRY}", {"entry": entry}), ("PUT", f"{API}/faq/{ENTRY}", {"entry": entry, "version": 5}),
        ("PUT", f"{API}/faq/{ENTRY}", {"entry": "questions: x", "version": version}), ("PUT", f"{API}/faq/{ENTRY}", {"entry": {}, "version": version}),
        ("PUT", f"{API}/faq/{ENTRY}", {"entry": {**entry, "questions": 5, "answer": [1, None, {"a": []}]}, "version": version}),
        ("PUT", f"{API}/faq/{ENTRY}", {"entry": {**entry, "reviewed": "yesterday", "sources": [{"url": 3}]}, "version": version}),
        ("PUT", f"{API}/faq/{ENTRY}", {"entry": {**entry, "": 1}, "version": version}),
        ("PUT", f"{API}/faq/{ENTRY}", {"entry": entry, "version": version, "resolves": "k"}),
        ("PUT", f"{API}/faq/{'x' * 200}", {"entry": entry, "version": version}), ("PUT", f"{API}/faq/NO_SUCH", {"entry": entry, "version": version}),
        ("POST", f"{API}/faq", {"entry": {**entry, "id": "../../etc"}, "version": version}), ("POST", f"{API}/guide", {"entry": {"id": 7}, "version": version}),
        ("POST", f"{API}/try", {}), ("POST", f"{API}/try", {"text": ""}), ("POST", f"{API}/try", {"text": 12}), ("POST", f"{API}/try", {"text": "x" * 3000}),
        ("POST", f"{API}/try", {"text": "hi", "lang": "fr"}), ("POST", f"{API}/try", {"text": "hi", "entry": [], "kind": "faq"}),
        ("POST", f"{API}/try", {"text": "hi", "entry": entry, "kind": "nope"}), ("POST", f"{API}/preview", {"kind": "faq"}),
        ("POST", f"{API}/preview", {"kind": "faq", "id": "no-such-entry"}), ("POST", f"{API}/check", {"kind": "faq", "id": 5, "entry": entry}),
        ("POST", f"{API}/impact", {"kind": "faq", "id": ENTRY}), ("POST", f"{API}/faq/{ENTRY}/retire", {}),
        ("PUT", f"{API}/locality", {"version": version}), ("PUT", f"{API}/locality", {"version": version, "set": []}),
        ("PUT", f"{API}/locality", {"version": version, "set": {"": 1}}), ("PUT", f"{API}/locality", {"version": version, "set": {"nothing.here.at.all": 1}}),
        ("PUT", f"{API}/locality", {"version": version, "locality": "x"}), ("PUT", f"{API}/locality", {"version": version, "delete": [3]}),
        ("POST", f"{API}/revisions/12345/revert", {}), ("GET", f"{API}/revisions?before=x", None), ("GET", f"{API}/revisions?kind=nope", None),
        ("GET", f"{API}/entries?q=" + "x" * 300, None), ("GET", f"{API}/nope/x", None),
    ]
    for method, path, body in [(m, p, b) for m, p, b in raw] + [(m, p, json.dumps(b).encode()) for m, p, b in bodies if b is not None] + [(m, p, None) for m, p, b in bodies if b is None]:
        r = await client.request(method, path, data=body, headers={**EDITOR, "Content-Type": "application/json"})
        text = await r.text()
        assert 400 <= r.status < 500, (method, path, (body or b"")[:80], r.status, text[:300])
        assert r.content_type == "application/json" or r.status == 404, (path, r.content_type)
    assert {p: p.read_bytes() for p in server.content.rglob("*.yaml")} == before
    assert server.live.version == version


async def test_editors_at_work_never_disturb_the_citizens(client, server):
    """Impact, Try and the publish's warm-up search on the dashboard's threads while the bot answers on
    its own: they never share a matcher (one keeps a scratch array per search), so every citizen still
    gets the right answer."""
    got = await get_entry(client)
    entry = json.loads(json.dumps(got["entry"]))
    entry["questions"]["vi"].append(PHRASING)
    draft = {"kind": "faq", "id": ENTRY, "entry": entry}
    expected = server.answer_of("eid-forgot-password")[:40]

    async def citizens() -> list[str]:
        return [await chat(client, "quen mat khau vneid", f"api-busy-{n:05d}") for n in range(40)]

    work = [client.post(f"{API}/impact", json=draft, headers=EDITOR), client.post(f"{API}/try", json={"text": "quen mat khau vneid"}, headers=EDITOR),
            client.post(f"{API}/try", json={**draft, "text": PHRASING}, headers=EDITOR), put(client, entry, got["version"])]
    answers, *responses = await asyncio.gather(citizens(), *work)
    assert [r.status for r in responses] == [200, 200, 200, 200]
    assert all(a.startswith(expected) for a in answers)


def test_every_word_of_the_content_pages_in_both_languages():
    """The pages' and the script's words come from words.CONTENT: every key they use exists in vi and en
    (a missing one would fail the template, or show "undefined" in the browser)."""
    root = Path(__file__).resolve().parent.parent / "analytics"
    assert set(CONTENT["vi"]) == set(CONTENT["en"]) and all(v.strip() for lang in CONTENT for v in CONTENT[lang].values())
    used = set(re.findall(r"\bT\.(\w+)", (root / "static/content.js").read_text()))
    for name in ("content_list.html", "content_entry.html", "_content_fields.html", "content_locality.html", "content_history.html"):
        used |= set(re.findall(r"\bc\.(\w+)", (root / "templates" / name).read_text()))
    used |= {f"{prefix}_{s}" for prefix in ("kind",) for s in ("faq", "guide")} | {f"state_{s}" for s in ("ok", "due", "expired", "retired", "unknown")}
    assert not used - set(CONTENT["vi"]), used - set(CONTENT["vi"])
    dashboard = set(re.findall(r"\bT\.(\w+)", (root / "static/dashboard.js").read_text()))
    assert {"add_phrasing", "new_entry_from"} <= dashboard and not dashboard - set(T["vi"])
