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

from bot import present
from bot.channels.web import reply_json
from bot.present import entry_title
from bot.replies import Reply
from webutil import launch_chromium, make_app, needs_chromium, running_server

PHONE = {"width": 390, "height": 844}
SMALL_PHONE = {"width": 360, "height": 640}  # a cheap Android phone

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


async def new_phone(browser, site: str, viewport: dict[str, int] = PHONE) -> Phone:
    """A fresh phone (its own storage: a first visit) on `site`, recording dialogs and script errors."""
    context = await browser.new_context(viewport=viewport, device_scale_factor=2, is_mobile=True, has_touch=True)
    result = Phone(await context.new_page(), site)

    async def on_dialog(dialog) -> None:  # an alert() here would mean injected script ran
        result.dialogs.append(dialog.message)
        await dialog.dismiss()

    result.page.on("dialog", on_dialog)
    result.page.on("pageerror", lambda error: result.errors.append(str(error)))
    return result


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with async_api.async_playwright() as playwright:
        chromium = await launch_chromium(playwright)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def phone(browser, site) -> AsyncIterator[Phone]:
    result = await new_phone(browser, site)
    yield result
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


async def test_guide_steps_english_and_hotline(phone, kb, tmp_path):
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
    await page.screenshot(path=tmp_path / "webchat.png")
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


# -- what a poster's link shows first, on a small phone -----------------------------------------------------
IN_VIEW = """([needle, nth]) => {
  // The first line of `needle` inside the nth bot message: is it on screen, inside the chat area (between
  // the header and the composer), without the citizen scrolling?
  const bubble = document.querySelectorAll(".msg.bot")[nth < 0 ? document.querySelectorAll(".msg.bot").length + nth : nth];
  const text = bubble && bubble.querySelector(".text");
  if (!text) return "no such message";
  const at = text.textContent.indexOf(needle);
  if (at < 0) return "text not in the message";
  const walker = document.createTreeWalker(text, NodeFilter.SHOW_TEXT);
  let node, offset = at;
  while ((node = walker.nextNode()) && offset >= node.length) offset -= node.length;
  const range = document.createRange();
  range.setStart(node, offset);
  range.setEnd(node, Math.min(node.length, offset + needle.length));
  const box = range.getClientRects()[0];
  const area = document.getElementById("main").getBoundingClientRect();
  const ok = box && box.top >= Math.max(0, area.top) && box.bottom <= Math.min(window.innerHeight, area.bottom);
  return ok ? true : `at ${box && Math.round(box.top)}..${box && Math.round(box.bottom)}, chat area ${Math.round(area.top)}..${Math.round(area.bottom)}`;
}"""


async def assert_in_view(page, needle: str, nth: int = -1) -> None:
    """`needle` (its first line) is on screen in the nth bot message: waited for, never slept for."""
    try:
        await page.wait_for_function(f"(arg) => ({IN_VIEW})(arg) === true", arg=[needle, nth], timeout=5_000)
    except async_api.TimeoutError:
        where = await page.evaluate(IN_VIEW, [needle, nth])
        raise AssertionError(f"{needle!r} is not on screen: {where}") from None


def guide_title_line(guide) -> str:
    return "📘 " + guide.title.get("vi")


async def open_small_phone(browser, site: str, path: str) -> Phone:
    phone = await new_phone(browser, site, SMALL_PHONE)
    await phone.open(path)
    return phone


async def test_a_posters_guide_is_in_view_on_arrival_on_a_small_phone(browser, site, kb):
    """A citizen scans a poster: on a 360x640 phone the guide it promised is on screen at once (its title
    line between header and composer), with or without a working group in the link. The guides with the
    longest and the shortest overview stand for all: what the page does depends only on their height."""
    group = next(iter(kb.working_groups))
    phone = await new_phone(browser, site, SMALL_PHONE)
    page = phone.page
    by_length = sorted(kb.guides.values(), key=lambda g: len(present.guide_page(kb, g, 0, "vi").text))
    payloads = [(f"g-{g.id}", g) for g in (by_length[-1], by_length[0])] + [(f"g-eid-activate__{group}", kb.guides["eid-activate"])]
    for payload, guide in payloads:
        await phone.open("/web/icon.svg")  # same origin, no chat: forget the last visit (a new citizen)
        await page.evaluate("window.localStorage.clear()")
        await phone.open(f"/?start={payload}")
        await expect(last_bot(page)).to_contain_text(guide.title.get("vi"))
        await assert_in_view(page, guide_title_line(guide))
    assert phone.errors == [], phone.errors


async def test_arrival_behind_the_full_welcome_menu_still_shows_the_guide_first(browser, site, kb):
    """Whatever greeting the engine sends first (today's full welcome with every topic button is the longest),
    the page leads with the promised guide; the greeting stays one swipe up."""
    guide = kb.guides["eid-activate"]
    welcome = present.menu(kb, "vi", kb.message("welcome", "vi"))
    arrival = [reply_json(welcome), reply_json(present.guide_page(kb, guide, 0, "vi"))]

    async def answer_start(route) -> None:
        if '"start"' in (route.request.post_data or ""):
            await route.fulfill(json={"replies": arrival, "lang": "vi"})
        else:
            await route.continue_()

    phone = await new_phone(browser, site, SMALL_PHONE)
    page = phone.page
    await page.route("**/api/chat", answer_start)
    await phone.open(f"/?start=g-{guide.id}")
    await expect(last_bot(page)).to_contain_text(guide.title.get("vi"))
    await assert_in_view(page, guide_title_line(guide))
    await expect(last_bot(page).get_by_role("button", name=kb.button("begin", "vi"))).to_be_attached()
    assert await page.locator("#main").evaluate("m => m.scrollTop") > 0  # the welcome is above, not gone
    await expect(page.locator(".msg.bot").first).to_contain_text(kb.message("welcome", "vi")[:40])

    # From here on the conversation scrolls as always: each new page is read from its first line.
    await page.unroute("**/api/chat")
    await tap(page, kb.button("begin", "vi"))
    await expect(last_bot(page)).to_contain_text(re.compile(r"Bước 1/\d+"))
    await assert_in_view(page, "Bước 1/")
    assert phone.errors == [], phone.errors


async def test_a_plain_visit_still_starts_with_the_welcome(browser, site, kb):
    phone = await open_small_phone(browser, site, "/")
    await expect(last_bot(phone.page)).to_contain_text(kb.message("welcome", "vi")[:40])
    await assert_in_view(phone.page, kb.message("welcome", "vi")[:20], 0)
    assert await phone.page.locator("#main").evaluate("m => m.scrollTop") == 0
    assert phone.errors == [], phone.errors


# -- phone numbers call when tapped -------------------------------------------------------------------------
CALLS = (
    "Gọi 1900 0368 (VNeID), 1800 1096 hoặc 19006769. Báo lừa đảo tới 156 / 5656.\n"
    "Di động của cán bộ: 0912 345 678 hoặc +84 912 345 678. Khẩn cấp gọi 113 hoặc 115.\n"
    "• 114: cứu hỏa, miễn phí\n"
    "Not phones: phí 10.000.000 đồng, năm 2025, hạn 15/12/2025, số định danh 001203012345, "
    "Điều 113, Quyết định 2345/QĐ-NHNN, NAPAS 247, 24/7, mật khẩu Hoa@Sen1975, 8.000 đồng/phút, "
    "đầu số 1800 là miễn phí, https://dichvucong.gov.vn/p/huong-dan-114.html hoặc gọi 1800 1096."
)
CALLED = [  # (as written, href) in order
    ("1900 0368", "tel:19000368"), ("1800 1096", "tel:18001096"), ("19006769", "tel:19006769"),
    ("156", "tel:156"), ("5656", "tel:5656"), ("0912 345 678", "tel:0912345678"),
    ("+84 912 345 678", "tel:+84912345678"), ("113", "tel:113"), ("115", "tel:115"), ("114", "tel:114"),
    ("1800 1096", "tel:18001096"),
]


async def tel_links(message) -> list[tuple[str, str]]:
    return [(await a.text_content(), await a.get_attribute("href")) for a in await message.locator("a[href^='tel:']").all()]


async def test_phone_numbers_in_a_reply_are_tap_to_call_and_nothing_else_is(phone):
    page = phone.page

    async def answer(route) -> None:
        if '"text"' in (route.request.post_data or ""):
            await route.fulfill(json={"replies": [{"text": CALLS, "buttons": [], "rows": []}], "lang": "vi"})
        else:
            await route.continue_()

    await page.route("**/api/chat", answer)
    await phone.open()
    await ask(page, "so dien thoai")
    message = last_bot(page)
    await expect(message.locator("a.tel")).to_have_count(len(CALLED))
    assert await message.locator(".text").text_content() == CALLS  # every character as sent, links included
    assert await tel_links(message) == CALLED
    assert [await a.get_attribute("href") for a in await message.locator("a:not([href^='tel:'])").all()] == [
        "https://dichvucong.gov.vn/p/huong-dan-114.html"
    ]
    for link in await message.locator("a.tel").all():  # big enough to hit with a thumb, never split in two
        box = await link.bounding_box()
        assert box and box["height"] >= 24, await link.text_content()
        assert await link.evaluate("a => a.getClientRects().length") == 1, await link.text_content()


async def test_the_hotline_list_calls_each_hotline(phone, kb):
    page = await phone.open()
    await expect(last_bot(page)).to_contain_text(kb.message("welcome", "vi")[:40])
    await page.locator("#hotline").click()
    message = last_bot(page)
    await expect(message).to_contain_text(kb.message("hotlines", "vi")[:30])
    listed = [h["number"] for h in kb.locality["hotlines"].values() if isinstance(h, dict) and h["number"] in kb.message("hotlines", "vi")]
    expected = {f"tel:{re.sub(r'[^0-9]', '', n)}" for number in listed for n in number.split("/")}
    assert len(listed) >= 4 and {href for _text, href in await tel_links(message)} == expected
    assert await message.locator(".text").text_content() == kb.message("hotlines", "vi")


# -- after feedback: whatever the reply carries is on the page ---------------------------------------------
async def feedback(page, label: str) -> dict:
    """Tap a feedback button; the reply as the API sent it (the page must show exactly that)."""
    async with page.expect_response("**/api/chat") as answer:
        await tap(page, label)
    return await (await answer.value).json()


async def assert_shows(message, reply: dict) -> None:
    """`message` is a live locator (the last bot message): wait until it is this reply's, since the page may
    still be drawing it when the answer has arrived, then check it is shown whole."""
    await expect(message).to_be_visible()
    await expect(message.locator(".text")).to_have_text(reply["text"], use_inner_text=False)
    for row in reply["rows"]:
        for button in row:
            await expect(message.get_by_role("button", name=button["label"], exact=True)).to_be_visible()
    for number in re.findall(r"1[89]00 \d{4}", reply["text"]):
        await expect(message.locator(f"a[href='tel:{number.replace(' ', '')}']")).to_have_text(number)


async def test_feedback_replies_show_their_buttons_and_call_links(phone, kb):
    page = await phone.open()
    await ask(page, "quen mat khau vneid")
    await expect(last_bot(page)).to_contain_text("Quên mật khẩu")
    up = await feedback(page, kb.button("helpful", "vi"))
    [reply] = up["replies"]
    await assert_shows(last_bot(page), reply)
    await expect(page.locator("#log .choices")).to_have_count(1 if reply["rows"] else 0)

    await ask(page, "quen mat khau vneid")
    await expect(last_bot(page)).to_contain_text("Quên mật khẩu")
    down = await feedback(page, kb.button("not_helpful", "vi"))
    [reply] = down["replies"]
    await assert_shows(last_bot(page), reply)


async def test_a_feedback_reply_with_the_menu_and_a_hotline_is_shown_whole(phone, kb):
    """The engine's 👎 carries the menu and the topic's hotline: the page shows the buttons to tap and the
    number to call (a canned reply, so this holds whatever the engine sends today)."""
    page = phone.page
    text = kb.message("feedback_up", "vi") + " Cần gấp: gọi tổng đài VNeID 1900 0368 hoặc báo lừa đảo tới 156 / 5656."
    canned = reply_json(Reply(text, present.menu_buttons(kb, "vi")))

    async def answer(route) -> None:
        if '"fb:' in (route.request.post_data or ""):
            await route.fulfill(json={"replies": [canned], "lang": "vi"})
        else:
            await route.continue_()

    await page.route("**/api/chat", answer)
    await phone.open()
    await ask(page, "quen mat khau vneid")
    await expect(last_bot(page)).to_contain_text("Quên mật khẩu")
    await tap(page, kb.button("not_helpful", "vi"))
    message = last_bot(page)
    await assert_shows(message, canned)
    assert await tel_links(message) == [("1900 0368", "tel:19000368"), ("156", "tel:156"), ("5656", "tel:5656")]
    await tap(page, kb.topics["eid"].title.get("vi"))  # the menu it carries works
    await expect(last_bot(page)).to_contain_text(kb.topics["eid"].title.get("vi"))


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
