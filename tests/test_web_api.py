"""The web chat over HTTP: the JSON API contract of DESIGN.md (plus the `start` extension), its refusals,
the rate limit, and the page's offline-and-safe promises (CSP, local assets, no innerHTML)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import PurePosixPath

import pytest
from aiohttp.test_utils import TestClient

from bot import present
from bot.channels import web as webchat
from bot.channels.base import TAP_RATE
from bot.server import CTX
from webutil import client, new_session  # noqa: F401 - `client` is a fixture

STATIC = webchat.STATIC_DIR


async def chat(client: TestClient, status: int = 200, **body) -> dict:
    """POST one message and return the JSON, checking the status on the way."""
    response = await client.post("/api/chat", json=body)
    data = await response.json()
    assert response.status == status, data
    return data


def actions(data: dict) -> list[str]:
    return [b["action"] for r in data["replies"] for b in r["buttons"]]


def texts(data: dict) -> str:
    return "\n".join(r["text"] for r in data["replies"])


# -- the contract ------------------------------------------------------------------------------------------
async def test_question_without_diacritics_gets_the_answer_and_feedback_buttons(client):
    data = await chat(client, session=new_session(), text="quen mat khau vneid")
    assert data["lang"] == "vi"
    assert "Quên mật khẩu" in texts(data)
    assert {"fb:eid-forgot-password:up", "fb:eid-forgot-password:down"} <= set(actions(data))
    for reply in data["replies"]:
        assert all(set(b) == {"label", "action"} for b in reply["buttons"])
        assert reply["buttons"] == [b for row in reply["rows"] for b in row]  # flat list = rows flattened


async def test_plain_start_gives_welcome_and_topic_menu(client, kb):
    data = await chat(client, session=new_session(), start="")
    assert texts(data).startswith(kb.message("welcome", "vi")[:40])
    assert [f"t:{t}" for t in kb.topics] == [a for a in actions(data) if a.startswith("t:")]


async def test_start_payload_opens_the_guide_like_a_deep_link(client, kb):
    data = await chat(client, session=new_session(), start="g-eid-activate")
    assert kb.guides["eid-activate"].title.get("vi") in texts(data)
    assert "g:eid-activate:1" in actions(data)


async def test_unknown_start_payload_falls_back_to_the_welcome(client, kb):
    data = await chat(client, session=new_session(), start="g-no-such-guide")
    assert texts(data).startswith(kb.message("welcome", "vi")[:40])


async def test_tapping_a_suggestion_answers_it(client, matcher):
    session = new_session()
    data = await chat(client, session=session, text="vneid")
    assert "s:1" in actions(data)
    first = matcher.search("vneid").alternatives[0].entry
    picked = await chat(client, session=session, action="s:1")
    assert f"fb:{first.id}:up" in actions(picked) or f"g:{first.id}:1" in actions(picked)


async def test_guide_next_and_back_by_action(client):
    session = new_session()
    step1 = await chat(client, session=session, action="g:eid-activate:1")
    assert re.search(r"Bước 1/\d+", texts(step1))
    assert "g:eid-activate:2" in actions(step1)
    step2 = await chat(client, session=session, action="g:eid-activate:2")
    assert re.search(r"Bước 2/\d+", texts(step2))
    back = await chat(client, session=session, action="g:eid-activate:1")
    assert texts(back) == texts(step1)


async def test_language_switch_answers_in_english(client, kb):
    session = new_session()
    data = await chat(client, session=session, action="l:en")
    assert data["lang"] == "en"
    assert kb.message("lang_set", "en") in texts(data)
    assert "l:vi" in actions(data)


async def test_sessions_are_separate(client):
    english, vietnamese = new_session(), new_session()
    await chat(client, session=english, action="l:en")
    assert (await chat(client, session=vietnamese, action="m"))["lang"] == "vi"


async def test_body_sent_as_text_plain_is_accepted_if_it_is_json(client):
    body = json.dumps({"session": new_session(), "action": "m"})
    response = await client.post("/api/chat", data=body, headers={"Content-Type": "text/plain"})
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"


async def test_health_lists_the_web_channel(client):
    response = await client.get("/healthz")
    assert (await response.json())["channels"]["web"] == "page"


# -- refusals ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body, status, words",
    [
        ("{not json", 400, "JSON"),
        (b"\xff\xfe", 400, "JSON"),
        ("[1, 2]", 400, "object"),
        ('"text"', 400, "object"),
        ('{"text": "hi"}', 400, "session"),
        ('{"session": "short", "text": "hi"}', 400, "session"),
        ('{"session": "has spaces in it", "text": "hi"}', 400, "session"),
        ('{"session": 12345678, "text": "hi"}', 400, "session"),
        ('{"session": "abcdefgh"}', 400, "exactly one"),
        ('{"session": "abcdefgh", "text": "hi", "action": "m"}', 400, "exactly one"),
        ('{"session": "abcdefgh", "text": 42}', 400, "'text' must be a string"),
        ('{"session": "abcdefgh", "action": ["m"]}', 400, "'action' must be a string"),
        ('{"session": "abcdefgh", "action": "' + "x" * 65 + '"}', 400, "64 bytes"),
        ('{"session": "abcdefgh", "text": "' + "a" * 2001 + '"}', 413, "2000"),
    ],
)
async def test_bad_requests_get_a_clear_json_error(client, body, status, words):
    response = await client.post("/api/chat", data=body, headers={"Content-Type": "application/json"})
    assert response.status == status
    assert words in (await response.json())["error"]


async def test_longest_allowed_text_is_answered(client):
    await chat(client, session=new_session(), text="vneid " * 333)  # 1998 characters


async def test_oversized_body_is_refused_by_its_content_length(client):
    body = json.dumps({"session": new_session(), "text": "a" * 20_000})
    response = await client.post("/api/chat", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 413
    assert "KiB" in (await response.json())["error"]


async def test_oversized_chunked_body_is_refused_while_reading(client):
    """No Content-Length to trust: the stream itself is capped."""

    async def chunks():
        yield b'{"session": "abcdefgh", "text": "'
        for _ in range(5):
            yield b"a" * 4096

    response = await client.post("/api/chat", data=chunks(), headers={"Content-Type": "application/json"})
    assert response.status == 413


async def flood(client: TestClient, session: str, count: int, **body) -> list:
    """POST the same message `count` times as fast as the client can; the responses, in order."""
    responses = []
    for _ in range(count):
        response = await client.post("/api/chat", json={"session": session, **body})
        await response.read()
        responses.append(response)
    return responses


async def test_a_flood_of_typed_messages_is_answered_politely_in_the_citizens_language(client, kb):
    session = new_session()
    await chat(client, session=session, action="l:en")  # a tap: it does not use up the typed budget
    responses = await flood(client, session, 2 * webchat.RATE, text="menu")
    statuses = [r.status for r in responses]
    assert statuses[: webchat.RATE] == [200] * webchat.RATE, statuses  # a full burst of typed messages first
    assert 429 in statuses, statuses  # then the limit (no timing assumption: however slow the machine)
    limited = responses[statuses.index(429)]
    assert int(limited.headers["Retry-After"]) >= 1
    data = await limited.json()
    assert data["error"] and data["replies"] == [{"text": kb.message("rate_limited", "en"), "buttons": [], "rows": []}]
    await chat(client, session=new_session(), text="menu")  # other citizens are not affected


async def test_tapping_briskly_through_a_guide_after_typing_is_never_told_to_slow_down(client, kb):
    """A poster's link, a few typed questions, then 20 quick taps back and forth through the guide: every
    tap gets its guide page (with one budget for all, the 13th message in 30 s was refused)."""
    guide = kb.guides["eid-activate"]
    session = new_session()
    await chat(client, session=session, start="g-eid-activate")
    for question in ("kich hoat vneid", "menu", "tro giup"):
        await chat(client, session=session, text=question)
    total = len(guide.steps)
    walk = ([*range(1, total + 1), *range(total - 1, 1, -1)] * 20)[:20]
    for step in walk:
        data = await chat(client, session=session, action=f"g:eid-activate:{step}")  # 200, never 429
        assert texts(data) == present.guide_page(kb, guide, step, "vi").text
        assert kb.message("rate_limited", "vi") not in texts(data)


async def test_taps_still_have_a_limit_so_a_script_cannot_flood(client, kb):
    session = new_session()
    responses = await flood(client, session, 2 * TAP_RATE, action="m")
    statuses = [r.status for r in responses]
    assert statuses[:TAP_RATE] == [200] * TAP_RATE, statuses
    assert 429 in statuses, statuses
    limited = responses[statuses.index(429)]
    assert int(limited.headers["Retry-After"]) >= 1
    assert (await limited.json())["replies"][0]["text"] == kb.message("rate_limited", "vi")
    await chat(client, session=session, text="menu")  # typing is counted apart: still answered


async def test_engine_failure_is_a_polite_500_without_user_text_in_the_log(client, kb, caplog, monkeypatch):
    service = client.server.app[CTX].service

    async def broken(incoming):
        raise RuntimeError(f"cannot handle {incoming.text}")

    monkeypatch.setattr(service, "handle", broken)
    with caplog.at_level(logging.ERROR, logger="digiguide.web"):
        data = await chat(client, 500, session=new_session(), text="my secret 0912345678")
    assert data["replies"][0]["text"] == kb.message("error", "vi")
    assert "RuntimeError" in caplog.text and "secret" not in caplog.text and "0912345678" not in caplog.text


async def test_markup_in_a_question_is_never_echoed_back(client):
    data = await chat(client, session=new_session(), text="<script>alert(1)</script> <img src=x onerror=alert(1)>")
    assert "<script" not in json.dumps(data) and "onerror" not in json.dumps(data)


# -- the page ----------------------------------------------------------------------------------------------
def local_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]*)"', html)


async def test_page_has_strict_csp_and_only_local_assets(client):
    response = await client.get("/")
    assert response.status == 200 and response.content_type == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-cache"
    html = await response.text()
    assert '<html lang="vi">' in html
    urls = local_urls(html)
    assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    assert "http" not in " ".join(urls)
    assert "__ASSET_VERSION__" not in html
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="' in attrs and not body.strip() for attrs, body in scripts)  # no inline script
    assert re.search(r'<label for="q"', html) and 'aria-live="polite"' in html


async def test_assets_are_served_with_their_types_and_cache_headers(client):
    html = await (await client.get("/")).text()
    expected = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    for url in set(local_urls(html)):
        response = await client.get(url)
        assert response.status == 200, url
        assert response.content_type == expected[PurePosixPath(url.split("?")[0]).suffix], url
        assert "max-age" in response.headers["Cache-Control"] and "Content-Security-Policy" in response.headers
        again = await client.get(url, headers={"If-None-Match": response.headers["ETag"]})
        assert again.status == 304


@pytest.mark.parametrize("path", ["/web/nothing.js", "/web/index.html", "/web/..%2Fweb.py", "/web/"])
async def test_unknown_assets_are_404(client, path):
    assert (await client.get(path)).status == 404


def test_page_scripts_never_parse_text_as_html():
    script = (STATIC / "app.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script, sink
    assert "textContent" in script and "createTextNode" in script and "createElement" in script
    assert 'fetch("/api/chat"' in script  # same origin only


def test_static_files_fetch_nothing_from_the_internet():
    css = (STATIC / "style.css").read_text(encoding="utf-8")
    assert "@import" not in css and "url(" not in css and "@font-face" not in css
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    assert "http" not in html
