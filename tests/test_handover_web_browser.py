"""Asking an official on the web chat, in real Chromium (webutil.launch_chromium): the citizen hands a
question over in the page and reads the ward official's answer there; an official's reply appears in the
open page without a reload, it is there when the citizen comes back with the same session, and a hidden tab does
not poll (it looks at once when shown again).

The page looks every 20 s; Playwright's clock (page.clock) moves the page's timers, so no test waits 20 s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from analytics.accounts import Accounts, connect
from bot import present
from handoverutil import Handover, open_ticket, serve_handover
from webutil import app_settings, launch_chromium, needs_chromium

PHONE = {"width": 390, "height": 844}
SALT = "t"
ANSWER = "Chị mang CCCD đến bộ phận một cửa của phường vào sáng thứ Hai, cán bộ sẽ kích hoạt giúp chị."
PENDING = "/api/chat/pending"

pytestmark = needs_chromium
async_api = pytest.importorskip("playwright.async_api", reason="needs the playwright Python package")
expect = async_api.expect
expect.set_options(timeout=5_000)


@pytest.fixture
async def site(tmp_path, kb, matcher) -> AsyncIterator[Handover]:
    async with serve_handover(app_settings(tmp_path), kb, matcher, tmp_path) as handover:
        yield handover


@pytest.fixture
async def context() -> AsyncIterator[Any]:
    """A phone's browser (one profile: its localStorage keeps the session across pages)."""
    async with async_api.async_playwright() as playwright:
        chromium = await launch_chromium(playwright)
        try:
            yield await chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        finally:
            await chromium.close()


async def open_chat(context: Any, site: Handover) -> tuple[Any, list[str]]:
    """A new tab on the chat, its timers on Playwright's clock; returns it and the pending looks it makes."""
    page = await context.new_page()
    looks: list[str] = []
    page.on("request", lambda request: looks.append(request.url) if PENDING in request.url else None)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.clock.install()
    await page.goto(site.server.url + "/")
    await expect(page.locator(".msg.bot").first).to_be_visible()  # the welcome
    page.errors = errors  # type: ignore[attr-defined]
    return page, looks


async def session_of(page: Any) -> str:
    return await page.evaluate("localStorage.getItem('digiguide.session')")


async def set_visibility(page: Any, state: str) -> None:
    await page.evaluate(
        """state => {
            Object.defineProperty(document, "visibilityState", {configurable: true, get: () => state});
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        state,
    )


async def test_an_officials_reply_appears_in_the_open_chat_without_a_reload(site, context, kb):
    page, looks = await open_chat(context, site)
    await page.evaluate("window.sameDocument = true")
    ticket = open_ticket(site.tickets, SALT, "web", await session_of(page))
    entry = next(iter(kb.faqs.values()))
    _message, outbox_id = site.tickets.reply(ticket.id, "Cán bộ Lan", ANSWER, entry_id=entry.id)

    async with page.expect_response(lambda r: PENDING in r.url):
        await page.clock.fast_forward(20_000)  # the page's next look
    arrival = page.locator(".msg.bot", has_text=ANSWER)
    await expect(arrival).to_have_count(1)
    await expect(arrival).to_contain_text(ticket.code)
    assert await page.evaluate("window.sameDocument === true")  # the same page, not reloaded
    assert site.tickets.delivery(outbox_id) == "sent"  # the official sees it was shown

    async with page.expect_response(lambda r: PENDING in r.url):
        await page.clock.fast_forward(20_000)
    await expect(arrival).to_have_count(1)  # shown once

    await arrival.get_by_role("button", name=present.entry_title(entry, "vi")).click()  # the attached entry
    first_line = present.faq_answer(kb, entry, "vi").text.splitlines()[0]
    await expect(page.locator(".msg.bot").last).to_contain_text(first_line)
    assert len(looks) >= 2 and page.errors == []


async def test_a_returning_citizen_finds_the_reply_when_the_page_opens(site, context):
    page, _looks = await open_chat(context, site)
    session = await session_of(page)
    await page.close()  # the citizen left before the official answered
    ticket = open_ticket(site.tickets, SALT, "web", session)
    site.tickets.reply(ticket.id, "Cán bộ Lan", ANSWER)

    page, looks = await open_chat(context, site)  # same phone, same session, no timer moved
    assert await session_of(page) == session
    await expect(page.locator(".msg.bot").last).to_contain_text(ANSWER)  # after the welcome, at once
    assert await page.locator(".msg.bot", has_text=ANSWER).count() == 1
    assert len(looks) == 1


async def test_a_hidden_tab_does_not_poll_and_looks_at_once_when_shown(site, context):
    page, looks = await open_chat(context, site)
    await set_visibility(page, "hidden")
    await page.clock.fast_forward(120_000)  # six looks' worth of time in the background
    assert looks == []

    ticket = open_ticket(site.tickets, SALT, "web", await session_of(page))
    site.tickets.reply(ticket.id, "Cán bộ Lan", ANSWER)
    async with page.expect_response(lambda r: PENDING in r.url):
        await set_visibility(page, "visible")
    await expect(page.locator(".msg.bot").last).to_contain_text(ANSWER)
    assert len(looks) == 1


async def test_a_citizen_hands_a_question_over_in_the_page_and_reads_the_officials_answer(site, context, kb, tmp_path):
    """The whole web side in the page: the fallback's button, the ward, what is sent, "Gửi", the code;
    the official of that ward answers through the dashboard's API; the answer appears in the page."""
    page, _looks = await open_chat(context, site)

    async def bot_says() -> Any:
        return page.locator(".msg.bot").last

    await page.locator("#q").fill("vneid hang hai va hang mot, sdt 0912345678")
    await page.locator("#send").click()
    await (await bot_says()).get_by_role("button", name=kb.button("ask_official", "vi")).click()
    await (await bot_says()).get_by_role("button", name="phường Phúc Yên").click()
    confirm = await bot_says()
    await expect(confirm).to_contain_text("Mình sẽ gửi câu hỏi này cho cán bộ phường Phúc Yên")
    await expect(confirm).to_contain_text("<phone>")  # what is sent is what the citizen sees: redacted
    assert "0912345678" not in await confirm.text_content()
    await page.screenshot(path=tmp_path / "handover_confirm.png")
    await confirm.get_by_role("button", name=kb.button("send", "vi")).click()
    sent = await bot_says()
    await expect(sent).to_contain_text("Mã câu hỏi của bạn: #")
    code = (await sent.text_content()).split("Mã câu hỏi của bạn: ", 1)[1][:5]

    with connect(site.ctx.settings.database) as db:
        token = Accounts(db).add_token("phuc-yen-desk", "editor", ["phuc-yen"], actor="cli")
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(site.server.url + "/dashboard/api/tickets?status=open", headers=headers) as r:
            [ticket] = [t for t in (await r.json())["tickets"] if t["code"] == code]
        async with http.post(site.server.url + f"/dashboard/api/tickets/{ticket['id']}/reply", json={"text": ANSWER}, headers=headers) as r:
            assert r.status == 200 and (await r.json())["delivery"] == "queued"  # the page has not fetched it yet
    async with page.expect_response(lambda r: PENDING in r.url):
        await page.clock.fast_forward(20_000)
    await expect(page.locator(".msg.bot", has_text=ANSWER)).to_contain_text(code)
    await page.screenshot(path=tmp_path / "handover_answer.png")
    assert site.tickets.get(ticket["id"]).messages[-1].delivery == "sent" and page.errors == []
