"""The web chat in a real browser (Debian's Chromium via Playwright) on a phone-sized screen, as an older
citizen would use it: read the welcome, type without diacritics, tap suggestions, walk a guide, switch
language, find the hotline, and never have typed markup turn into HTML.

The browser is the system's /usr/bin/chromium (Playwright's own browser downloads are not used), launched by
webutil.launch_chromium; the server is the real aiohttp app on a loopback port.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.present import entry_title
from webutil import launch_chromium, make_app, needs_chromium, running_server

PHONE = {"width": 390, "height": 844}
SCREENSHOT = "/tmp/webchat.png"

pytestmark = needs_chromium
async_api = pytest.importorskip("playwright.async_api", reason="needs the playwright Python package")
expect = async_api.expect
expect.set_options(timeout=5_000)


@pytest.fixture
async def site(tmp_path, kb, matcher) -> AsyncIterator[str]:
    async with running_server(make_app(tmp_path, kb, matcher)) as url:
        yield url


@dataclass
class Phone:
    """A phone-sized browser tab on the test server, with every JavaScript dialog and error it raised."""

    page: Any
    site: str
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def open(self, path: str = "/") -> Any:
        await self.page.goto(self.site + path)
        return self.page


@pytest.fixture
async def phone(site) -> AsyncIterator[Phone]:
    async with async_api.async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        context = await browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
        result = Phone(await context.new_page(), site)

        async def on_dialog(dialog) -> None:  # an alert() here would mean injected script ran
            result.dialogs.append(dialog.message)
            await dialog.dismiss()

        result.page.on("dialog", on_dialog)
        result.page.on("pageerror", lambda error: result.errors.append(str(error)))
        try:
            yield result
        finally:
            await browser.close()
    assert result.errors == [], result.errors


def last_bot(page):
    return page.locator(".msg.bot").last


async def ask(page, text: str) -> None:
    await page.locator("#q").fill(text)
    await page.locator("#q").press("Enter")


async def tap(page, name: str | re.Pattern) -> None:
    await page.locator(".msg.bot").last.get_by_role("button", name=name).first.click()


async def test_conversation_on_a_phone(phone, kb, matcher):
    page = await phone.open()
    await expect(page.locator(".msg.bot").first).to_contain_text(kb.message("welcome", "vi")[:40])
    for topic in kb.topics.values():
        await expect(page.get_by_role("button", name=topic.title.get("vi"))).to_be_visible()
    await check_readable(page)

    # Typed without diacritics; a slowed server shows the typing indicator first.
    async def slow(route):
        await asyncio.sleep(0.6)
        await route.continue_()

    await page.route("**/api/chat", slow)
    await ask(page, "kich hoat vneid")
    await expect(page.locator("#typing")).to_be_visible()
    await expect(page.locator(".msg.user").last).to_have_text(re.compile("kich hoat vneid"))
    await expect(page.locator("#typing")).to_be_hidden()
    await expect(last_bot(page)).to_contain_text("VNeID")
    await page.unroute("**/api/chat")

    # A one-word question gets suggestions; tapping the first answers it.
    await ask(page, "vneid")
    await expect(last_bot(page)).to_contain_text(kb.message("suggest", "vi"))
    first = matcher.search("vneid").alternatives[0].entry
    await tap(page, entry_title(first, "vi"))
    await expect(page.locator(".msg.user").last).to_have_text(re.compile(re.escape(entry_title(first, "vi"))))
    await expect(last_bot(page)).to_contain_text(first.answer.get("vi")[:30])
    await expect(page.locator("#log .choices")).to_have_count(1)  # older buttons are gone

    # Markup typed by the citizen stays text: no element, no alert.
    markup = "<img src=x onerror=alert(1)>"
    await ask(page, markup)
    await expect(page.locator(".msg.user .text").last).to_have_text(markup)
    await expect(last_bot(page)).to_be_visible()
    await page.wait_for_timeout(200)
    assert await page.locator("#log img").count() == 0
    assert phone.dialogs == []
    await expect(page.locator("#hotline")).to_be_in_viewport()


async def test_guide_steps_english_and_hotline(phone, kb):
    page = await phone.open()
    await tap(page, kb.topics["eid"].title.get("vi"))
    guide = kb.guides["eid-activate"]
    await tap(page, "📘 " + guide.title.get("vi"))
    await expect(last_bot(page)).to_contain_text(guide.title.get("vi"))
    await tap(page, kb.button("begin", "vi"))
    await expect(last_bot(page)).to_contain_text(re.compile(r"Bước 1/\d+"))
    await tap(page, kb.button("next", "vi"))
    await expect(last_bot(page)).to_contain_text(re.compile(r"Bước 2/\d+"))
    await expect(last_bot(page)).to_be_focused()  # the tapped button is gone; focus lands on the new message
    await page.screenshot(path=SCREENSHOT)
    await tap(page, kb.button("prev", "vi"))
    await expect(last_bot(page)).to_contain_text(re.compile(r"Bước 1/\d+"))

    # The header's language switch: English replies, English page chrome, lang attribute.
    await page.locator("#lang").click()
    await expect(last_bot(page)).to_contain_text(kb.message("lang_set", "en"))
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("#lang")).to_have_text("Tiếng Việt")
    await expect(page.get_by_role("button", name=kb.topics["eid"].title.get("en"))).to_be_visible()

    # The hotline stays in view after a long conversation and answers with the helplines.
    hotline = page.locator("#hotline")
    await expect(hotline).to_be_in_viewport()
    await hotline.click()
    await expect(last_bot(page)).to_contain_text(kb.message("hotlines", "en")[:30])


async def test_start_link_opens_the_guide(phone, kb):
    page = await phone.open("/?start=g-eid-activate")
    await expect(last_bot(page)).to_contain_text(kb.guides["eid-activate"].title.get("vi"))
    await expect(last_bot(page).get_by_role("button", name=kb.button("begin", "vi"))).to_be_visible()
    assert "start=" not in page.url  # a reload shows the welcome, not the link again


async def test_lost_connection_offers_retry(phone, kb):
    page = await phone.open()
    await expect(last_bot(page)).to_contain_text(kb.message("welcome", "vi")[:40])
    await page.route("**/api/chat", lambda route: route.abort())  # the phone drops off the network
    await ask(page, "quen mat khau vneid")
    retry = last_bot(page).get_by_role("button", name="Thử lại")
    await expect(retry).to_be_visible()
    await page.unroute("**/api/chat")
    await retry.click()
    await expect(last_bot(page)).to_contain_text("Quên mật khẩu")
    await expect(page.locator("#log").get_by_role("button", name="Thử lại")).to_have_count(0)


async def check_readable(page) -> None:
    """The promises to older readers: 18px text and tap targets of at least 48 px."""
    assert await page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 18
    for button in await page.locator("button:visible").all():
        box = await button.bounding_box()
        assert box and box["height"] >= 48 and box["width"] >= 48, await button.text_content()
    await expect(page.locator("#q")).to_have_accessible_name(re.compile(r"\w"))
