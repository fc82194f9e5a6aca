"""Bad input at the doors asking an official added (issue 12), on a server with handover on: forged `h:`
buttons, the whole typed corpus of tests/test_bad_input.py while the bot waits for a question or an
addition, odd sessions on GET /api/chat/pending, and malformed bodies and ids on the tickets API. Each
gets a polite reply or a clear 4xx, never a 5xx, an ERROR line or a traceback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from handoverutil import Handover, open_ticket, serve_handover
from test_bad_input import DASHBOARD_TOKEN, RAW, TEXTS, WRONG_TYPES, dashboard_login, dumps, post, quiet_log, web_answer  # noqa: F401 (quiet_log: a fixture)
from webutil import app_settings, new_session

HANDOVER_ACTIONS = {
    "unknown-verb": "h:zz",
    "ward-unknown": "h:w:hai-chau",
    "ward-superscript": "h:w:²",
    "ward-empty": "h:w:",
    "ward-huge": "h:w:" + "x" * 60,
    "send-without-a-question": "h:ok",
    "add-without-a-ticket": "h:add",
    "withdraw-without-a-ticket": "h:x",
    "notify-without-a-question": "h:notify",
    "trailing-newline": "h:ask\n",
    "colon-only": "h:",
}


@dataclass
class Site:
    handover: Handover
    dashboard: aiohttp.ClientSession
    csrf: str

    @property
    def url(self) -> str:
        return self.handover.server.url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory, kb, matcher) -> AsyncIterator[Site]:
    tmp = tmp_path_factory.mktemp("bad-handover")
    async with serve_handover(app_settings(tmp, dashboard_token=DASHBOARD_TOKEN), kb, matcher, tmp) as handover:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as dashboard:
            yield Site(handover, dashboard, await dashboard_login(dashboard, handover.server.url))


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.mark.parametrize("action", HANDOVER_ACTIONS.values(), ids=HANDOVER_ACTIONS.keys())
async def test_forged_handover_buttons(site, quiet_log, action):
    web_answer(*await post(site, "/api/chat", dumps({"session": new_session(), "action": action})))


@pytest.mark.parametrize("waiting", ["question", "addition"])
@pytest.mark.parametrize("text", TEXTS.values(), ids=TEXTS.keys())
async def test_anything_typed_while_the_bot_waits_for_a_question_or_an_addition(site, quiet_log, text, waiting):
    session = new_session()
    if waiting == "addition":  # a ticket open, and "➕ Bổ sung" tapped
        open_ticket(site.handover.tickets, "t", "web", session)
    web_answer(*await post(site, "/api/chat", dumps({"session": session, "action": "h:add" if waiting == "addition" else "h:ask"})))
    status, data = await post(site, "/api/chat", dumps({"session": session, "text": text}))
    web_answer(status, data)


@pytest.mark.parametrize("query", ["", "session=", "session=short", "session=" + "a" * 200, "session=abcdefgh%0A", "session=abcdefgh%C2%B2", "session=%FF%FE%FD%FC%FB%FA%F9%F8"])
async def test_pending_with_an_odd_session(site, quiet_log, query):
    async with aiohttp.ClientSession() as http, http.get(f"{site.url}/api/chat/pending?{query}") as r:
        data = await r.json()
        assert r.status == 400 and "session" in data["error"], (r.status, data)


def dash_headers(site: Site) -> dict[str, str]:
    return {"Origin": site.url, "X-CSRF-Token": site.csrf}


REPLY_BODIES: dict[str, bytes] = {
    **RAW,
    **{f"text-{k}": dumps({"text": v}) for k, v in WRONG_TYPES.items()},
    **{f"entry-{k}": dumps({"text": "Chị mang căn cước đến phường.", "entry": v}) for k, v in WRONG_TYPES.items() if v is not None},
    "text-empty": dumps({"text": "   "}),
    "text-huge": dumps({"text": "a" * 5000}),
    "entry-unknown": dumps({"text": "Chị mang căn cước đến phường.", "entry": "no-such-entry"}),
}


@pytest.mark.parametrize("body", REPLY_BODIES.values(), ids=REPLY_BODIES.keys())
async def test_a_malformed_reply_changes_nothing(site, quiet_log, body):
    ticket = open_ticket(site.handover.tickets, "t", "web", new_session())
    status, data = await post(site, f"/dashboard/api/tickets/{ticket.id}/reply", body, dash_headers(site), session=site.dashboard)
    assert 400 <= status < 500 and isinstance(data, dict) and data.get("error"), (status, data)
    assert site.handover.tickets.get(ticket.id).messages == ()  # nothing stored, nothing sent


async def test_a_lone_surrogate_in_a_reply_becomes_a_replacement_character(site, quiet_log):
    ticket = open_ticket(site.handover.tickets, "t", "web", new_session())
    status, data = await post(site, f"/dashboard/api/tickets/{ticket.id}/reply", dumps({"text": "Chị \ud800 mang căn cước"}), dash_headers(site), session=site.dashboard)
    assert status == 200, data
    assert site.handover.tickets.get(ticket.id).messages[-1].text == "Chị \ufffd mang căn cước"


@pytest.mark.parametrize("path", ["/dashboard/api/tickets/0/reply", "/dashboard/api/tickets/99999999999/reply", "/dashboard/api/tickets/%C2%B2/reply",
                                  "/dashboard/api/tickets/1x/reply", "/dashboard/api/tickets/99999999999/close", "/dashboard/api/tickets/-1/take"])
async def test_replies_to_tickets_that_do_not_exist(site, quiet_log, path):
    status, data = await post(site, path, dumps({"text": "xin chào"}), dash_headers(site), session=site.dashboard)
    assert status in (400, 404, 405), (status, data)


@pytest.mark.parametrize("query", ["status=nope", "status=%FF", "status=" + "x" * 5000, "ward=%00", "status=open&status=closed"])
async def test_the_ticket_list_with_odd_filters(site, quiet_log, query):
    async with site.dashboard.get(f"{site.url}/dashboard/api/tickets?{query}") as r:
        body: Any = await r.json()
        assert r.status in (200, 400), (r.status, body)
        assert ("tickets" in body) if r.status == 200 else body["error"]
