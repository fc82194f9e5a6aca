"""The officials' questions page in a real browser (Debian's Chromium via Playwright), as officials use it:
an editor of Phúc Yên logs in on the login form, sees her ward's question and not Xuân Hòa's, answers it
with an FAQ entry attached, and reads that the answer reached the citizen (the Telegram side got the text
and the entry's button); "save as FAQ" opens the content editor with the question and her answer, and
"add as a phrasing of" that entry publishes it, after which the ticket says it became content. A viewer
of the same ward reads the same page without any control. No CSP violation or script error. The server
runs on a copy of the content (publishing writes into it).

Screenshots for people to look at, in the test's own folder: tickets_editor.png, tickets_viewer.png.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from accountsutil import PASSWORD, make_account
from bot.server import CTX
from contentutil import content_server
from ticketsutil import Clock, confirm, handover, vn
from webutil import launch_chromium, needs_chromium, running_server

DESKTOP = {"width": 1366, "height": 900}
PHUC_YEN_Q = "Con tôi 14 tuổi làm định danh mức 2 ở đâu?"
XUAN_HOA_Q = "Xin hỏi lệ phí cấp lại căn cước ở phường Xuân Hòa"
ANSWER = "Cháu mang căn cước đến công an phường Phúc Yên, sáng thứ Hai đến thứ Sáu."

pytestmark = needs_chromium
async_api = pytest.importorskip("playwright.async_api", reason="needs the playwright Python package")
expect = async_api.expect
expect.set_options(timeout=15_000)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with async_api.async_playwright() as playwright:
        chromium = await launch_chromium(playwright)
        try:
            yield chromium
        finally:
            await chromium.close()


async def log_in(chromium, url: str, name: str, problems: list[str]) -> Any:
    """A fresh browser of one official, logged in on the form the questions page redirects to."""
    context = await chromium.new_context(viewport=DESKTOP)
    page = await context.new_page()
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    await page.goto(url + "/dashboard/tickets")
    assert "/dashboard/login" in page.url
    await page.get_by_label("Tên đăng nhập").fill(name)
    await page.get_by_label("Mật khẩu", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Đăng nhập", exact=True).click()
    await page.wait_for_url("**/dashboard/tickets")
    return page


async def test_an_editor_answers_her_wards_question_and_a_viewer_only_reads(tmp_path, content_copy, matcher, browser):
    server = content_server(tmp_path, content_copy, matcher)
    app = server.app
    h = handover(app, Clock(vn(2026, 12, 7, 8, 0)))
    telegram = h.platform("telegram")
    mine = confirm(h.tickets, h.salt, ward="phuc-yen", question=PHUC_YEN_Q, chat="4242", attempt={"kind": "fallback", "entries": []})
    other = confirm(h.tickets, h.salt, ward="xuan-hoa", channel="zalo", chat="z-9", question=XUAN_HOA_Q)
    h.clock.advance(2 * 3600)
    db = app[CTX].settings.db_path
    make_account(db, "lan", "editor", ["phuc-yen"])
    make_account(db, "an", "viewer", ["phuc-yen"])
    problems: list[str] = []
    try:
        async with running_server(app) as url:
            page = await log_in(browser, url, "lan", problems)
            await expect(page.locator('header nav a[aria-current="page"]')).to_have_text("Hỏi đáp")
            card = page.locator(f"#ticket-{mine.id}")
            await expect(card).to_contain_text(PHUC_YEN_Q)
            await expect(card.locator(".ward")).to_have_text("phường Phúc Yên")
            await expect(card.locator(".age")).to_contain_text("Còn 6 giờ đến hạn")  # 8 office hours promised, 2 gone
            await expect(page.locator(f"#ticket-{other.id}")).to_have_count(0)
            assert XUAN_HOA_Q not in await page.content()

            # she answers with an FAQ entry attached as a button
            await card.get_by_label("Câu trả lời gửi người dân").fill(ANSWER)
            await card.get_by_label("Kèm một mục nội dung (không bắt buộc)").fill("eid-levels")
            await card.get_by_role("button", name="Gửi trả lời").click()
            await page.wait_for_url("**/dashboard/tickets?status=answered**")
            await expect(page.locator("#done")).to_contain_text(f"Đã gửi câu trả lời {mine.code}: đã đến người dân.")
            answered = page.locator(f"#ticket-{mine.id}")
            await expect(answered.locator(".from-official .delivery")).to_have_text("Đã gửi")
            await expect(answered.locator(".from-official .attached")).to_contain_text("Tài khoản định danh mức 1 và mức 2")
            await expect(answered.locator(".taken-by")).to_contain_text("lan")
            await page.screenshot(path=tmp_path / "tickets_editor.png", full_page=True)
            [(item, replies)] = telegram.sent
            assert item.address == "4242" and ANSWER in replies[0].text and replies[0].buttons[0][0].action == "f:eid-levels"

            # "save as FAQ": the content editor opens with her question and answer
            await answered.get_by_role("link", name="Lưu thành câu hỏi mới (FAQ)").click()
            await expect(page.locator("body")).to_have_attribute("data-loaded", "true")
            assert await page.locator("#f-questions-vi").input_value() == PHUC_YEN_Q
            assert await page.locator("#f-answer-vi").input_value() == ANSWER
            await expect(page.locator("#prefill-note")).to_contain_text(mine.code)

            # "add as a phrasing of" the entry she attached: published, the ticket became content
            await page.go_back()
            await page.locator(f"#ticket-{mine.id}").get_by_role("link", name="Thêm làm cách hỏi của mục “Tài khoản định danh mức 1 và mức 2 khác nhau thế nào?”").click()
            await expect(page.locator("body")).to_have_attribute("data-loaded", "true")
            assert (await page.locator("#f-questions-vi").input_value()).splitlines()[-1] == PHUC_YEN_Q
            await expect(page.locator("#prefill-answer")).to_contain_text(ANSWER)
            await page.get_by_role("button", name="Xuất bản").click()
            await expect(page.locator("#edit-status")).to_contain_text("Đã xuất bản")
            assert h.tickets.get(mine.id).content_entry == "eid-levels"
            await page.goto(url + "/dashboard/tickets?status=answered")
            await expect(page.locator(f"#ticket-{mine.id} .became-content")).to_contain_text("Tài khoản định danh mức 1 và mức 2")

            # a viewer of the ward reads the same, without a single control
            viewer = await log_in(browser, url, "an", problems)
            await viewer.get_by_role("link", name="Đã trả lời").click()
            read = viewer.locator(f"#ticket-{mine.id}")
            await expect(read.locator(".from-official .delivery")).to_have_text("Đã gửi")
            await expect(read).to_contain_text(ANSWER)
            for control in ("textarea", "button", "form"):
                await expect(viewer.locator(f"#queue {control}")).to_have_count(0)
            await expect(read.get_by_role("link", name="Lưu thành câu hỏi mới (FAQ)")).to_have_count(0)
            await viewer.screenshot(path=tmp_path / "tickets_viewer.png", full_page=True)
    finally:
        h.close()
        server.close()
    assert problems == [], problems
