"""The content editor in a real browser (Debian's Chromium via Playwright), on a copy of the content, as
editors use it: find an entry, add a phrasing the bot does not understand today, preview the answer as
Telegram, Zalo and the web chat show it, try the question and look at the impact, publish, and the web
chat answers it; a second editor who opened the same version gets the conflict; the history shows the
edit with its diff and Revert takes it back; the audit log has both. From the unanswered inbox, "add as
a phrasing of" opens the editor pre-filled and publishing resolves the group; "new entry from this
question" opens a new entry whose problems `bot check` names next to their fields. A viewer reads the
same pages without any edit control, and the API refuses its edits with 403. Every official logs in with
an account of their own on the login form (analytics.accounts), as `python -m analytics users add` makes.

Screenshots for people to look at, in each test's own folder: content_entry.png, content_preview.png,
content_new.png, content_viewer.png, content_locality.png.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from accountsutil import PASSWORD, make_account
from analytics.web.common import DASHBOARD
from bot.content_edit import try_question
from bot.server import CTX
from contentutil import ContentServer, content_server
from webutil import launch_chromium, needs_chromium, running_server

DESKTOP = {"width": 1366, "height": 900}
ENTRY = "eid-levels"
PHRASING = "vneid hang hai va hang mot"  # "VNeID grade two and grade one": the bot falls back on it today

pytestmark = needs_chromium
async_api = pytest.importorskip("playwright.async_api", reason="needs the playwright Python package")
expect = async_api.expect
expect.set_options(timeout=15_000)


@dataclass
class Site:
    url: str
    server: ContentServer

    async def chat(self, text: str, session: str) -> dict:
        async with aiohttp.ClientSession() as http:
            async with http.post(self.url + "/api/chat", json={"session": session, "text": text}) as r:
                assert r.status == 200, await r.text()
                return await r.json()

    def answered_by(self, reply: dict, entry_id: str) -> bool:
        return reply["replies"][0]["text"].startswith(self.server.answer_of(entry_id)[:40])


@pytest.fixture
async def site(tmp_path, content_copy, matcher) -> AsyncIterator[Site]:
    server = content_server(tmp_path, content_copy, matcher)
    try:
        async with running_server(server.app) as url:
            yield Site(url, server)
    finally:
        server.close()


@dataclass
class Browser:
    context: Any
    problems: list[str] = field(default_factory=list)

    async def page(self) -> Any:
        page = await self.context.new_page()
        # CSP violations and script errors show up here; the pages must have none (expected refusals,
        # such as the 409 of a conflict, are taken off by the test that provokes them)
        page.on("console", lambda msg: self.problems.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda error: self.problems.append(str(error)))
        return page


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with async_api.async_playwright() as playwright:
        chromium = await launch_chromium(playwright)
        try:
            yield chromium
        finally:
            await chromium.close()


async def open_context(chromium, **kw) -> Browser:
    return Browser(await chromium.new_context(viewport=DESKTOP, **kw))


async def log_in(b: Browser, site: Site, name: str = "lan", role: str = "editor") -> Any:
    """An official's own account (made as `analytics users add` makes it, password already chosen), logged
    in on the form the content list redirects to; the page is back on the content list."""
    make_account(site.server.app[CTX].settings.db_path, name, role)
    page = await b.page()
    await page.goto(site.url + "/dashboard/content")
    assert "/dashboard/login" in page.url
    await page.get_by_label("Tên đăng nhập").fill(name)
    await page.get_by_label("Mật khẩu", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Đăng nhập", exact=True).click()
    await page.wait_for_url("**/dashboard/content")
    await expect(page.locator("nav .who")).to_have_text(name)
    return page


async def loaded(page) -> None:
    await expect(page.locator("body")).to_have_attribute("data-loaded", "true")


async def test_edit_preview_impact_publish_conflict_and_revert(site, browser, tmp_path):
    # the real matcher, and the web chat, fall back on the phrasing today
    assert try_question(site.server.kb, PHRASING)["kind"] == "fallback"
    before = await site.chat(PHRASING, "browser-before-1")
    assert not site.answered_by(before, ENTRY)
    original = (site.server.content / "faq/eid.yaml").read_text()

    b = await open_context(browser)
    page = await log_in(b, site)
    await page.locator("#q").fill("mức 1 mức 2 khác nhau")
    await page.get_by_role("button", name="Tìm").click()
    await expect(page.locator("#content-list tbody tr")).not_to_have_count(0)
    assert all(kind == "faq" or kind == "guide" for kind in await page.locator("#content-list tbody tr").evaluate_all("rows => rows.map(r => r.dataset.kind)"))
    await page.locator(f'#content-list a[href$="/content/faq/{ENTRY}"]').click()
    await loaded(page)
    # a second editor, in her own browser, opens the same entry at the same version
    b2 = await open_context(browser)
    other = await log_in(b2, site, "minh")
    await other.goto(page.url)
    await loaded(other)

    phrasings = page.locator("#f-questions-vi")
    assert (await phrasings.input_value()).splitlines() == list(site.server.kb.faqs[ENTRY].questions.vi)
    await phrasings.fill(await phrasings.input_value() + "\n" + PHRASING)
    await page.screenshot(path=tmp_path / "content_entry.png", full_page=True)

    # Preview: the answer as each channel shows it
    await page.get_by_role("button", name="Xem trước").click()
    await expect(page.locator("#preview")).to_have_attribute("data-loaded", "true")
    first_line = site.server.answer_of(ENTRY).splitlines()[0]
    for channel in ("telegram", "zalo", "web"):
        await expect(page.locator(f"#pv-{channel} .bubble").first).to_contain_text(first_line)
    await expect(page.locator("#pv-zalo")).to_contain_text("Gõ số để chọn")  # numbered options instead of buttons
    await expect(page.locator("#pv-zalo .count").first).to_contain_text("/2000")
    await expect(page.locator("#pv-telegram .tg-button").first).to_be_visible()
    await page.screenshot(path=tmp_path / "content_preview.png", full_page=True)

    # Try a question on the draft: answered with this entry
    await page.locator("#try-text").fill(PHRASING)
    await page.get_by_role("button", name="Thử", exact=True).click()
    await expect(page.locator("#try-result")).to_have_attribute("data-entry", ENTRY)
    await expect(page.locator("#try-result")).to_have_attribute("data-decision", "answer")

    # Impact over the labelled questions
    await page.get_by_role("button", name="Ảnh hưởng").click()
    await expect(page.locator("#impact-result .impact-summary")).to_contain_text("câu hỏi mẫu")
    changed = int(await page.locator("#impact-result").get_attribute("data-changed"))
    assert changed >= await page.locator("#impact-result .move").count()  # each move groups one or more questions

    # Publish: the web chat answers the new phrasing at once
    await page.get_by_role("button", name="Xuất bản").click()
    await expect(page.locator("#edit-status")).to_contain_text("Đã xuất bản")
    assert PHRASING in (site.server.content / "faq/eid.yaml").read_text()
    after = await site.chat(PHRASING, "browser-after-1")
    assert site.answered_by(after, ENTRY)

    # the second editor, still on the old version, gets the conflict and nothing is overwritten
    other_field = other.locator("#f-questions-vi")
    await other_field.fill(await other_field.input_value() + "\nmuc hai vneid la cai gi")
    await other.get_by_role("button", name="Xuất bản").click()
    await expect(other.locator("#conflict")).to_be_visible()
    await expect(other.locator("#conflict")).to_contain_text("Người khác vừa xuất bản")
    b2.problems[:] = [p for p in b2.problems if "409" not in p]  # the browser logs the refused request
    assert b2.problems == [], b2.problems
    await b2.context.close()
    text = (site.server.content / "faq/eid.yaml").read_text()
    assert PHRASING in text and "muc hai vneid la cai gi" not in text

    # the history shows the edit and its diff; Revert takes it back
    revision = page.locator('#history-list .revision[data-action="edit"]')
    await expect(revision).to_have_count(1)
    await revision.locator("summary").click()
    await expect(revision.locator(".diff .add")).to_have_text([f"+      - {PHRASING}\n"])
    await revision.get_by_role("button", name="Hoàn tác").click()
    await expect(page.locator("#edit-status")).to_contain_text("Đã hoàn tác")
    await expect(page.locator('#history-list .revision[data-action="revert"]')).to_have_count(1)
    assert PHRASING not in await phrasings.input_value()
    assert (site.server.content / "faq/eid.yaml").read_text() == original
    reverted = await site.chat(PHRASING, "browser-reverted-1")
    assert not site.answered_by(reverted, ENTRY)

    # the audit log: who published and who reverted, by name; the refused publish changed nothing
    rows = [(actor, action, target) for actor, action, target, _detail in site.server.audit() if action.startswith("content.")]
    assert rows[0][:2] == ("lan", "content.revert") and ("lan", "content.publish", f"faq:{ENTRY}") in rows
    assert not [r for r in rows if r[0] == "minh"]
    assert b.problems == [], b.problems
    await b.context.close()


async def test_from_the_inbox_to_a_published_phrasing_and_a_new_entry(site, browser, tmp_path):
    for n in range(2):  # two citizens ask; the bot falls back, the inbox groups them
        reply = await site.chat(PHRASING, f"browser-inbox-{n}")
        assert not site.answered_by(reply, ENTRY)
    site.server.app[DASHBOARD].cache.clear()  # the warmer computed an empty inbox at start
    b = await open_context(browser)
    page = await log_in(b, site)
    await page.goto(site.url + "/dashboard/?since=&until=")
    await loaded(page)
    group = page.locator("#inbox-list li.cluster", has_text=PHRASING)
    await expect(group).to_have_count(1)
    new_link = group.locator('a[data-action="new-entry"]')
    new_href = await new_link.get_attribute("href")
    await group.locator("select").select_option(ENTRY)
    await group.locator('a[data-action="add-phrasing"]').click()
    await loaded(page)
    await expect(page.locator("#prefill-note")).to_contain_text(PHRASING)
    assert (await page.locator("#f-questions-vi").input_value()).splitlines()[-1] == PHRASING
    await page.get_by_role("button", name="Xuất bản").click()
    await expect(page.locator("#edit-status")).to_contain_text("Đã xuất bản")
    answered = await site.chat(PHRASING, "browser-inbox-after")
    assert site.answered_by(answered, ENTRY)
    # the group is resolved with that entry
    await page.goto(site.url + "/dashboard/?since=&until=")
    await loaded(page)
    await expect(page.locator("#inbox-list li.cluster", has_text=PHRASING).locator(".badge")).to_have_attribute("data-status", "resolved")

    # "new entry from this question": pre-filled, and Check names what is missing next to each field
    await page.goto(site.url + new_href)
    await loaded(page)
    assert (await page.locator("#f-id").input_value()).startswith("eid-vneid-hang-hai")
    assert await page.locator("#f-questions-vi").input_value() == PHRASING
    await page.get_by_role("button", name="Kiểm tra").click()
    await expect(page.locator('[data-field="sources"] .field-problems li')).to_have_count(1)  # what bot check stops at first
    await expect(page.locator("#edit-status")).to_contain_text("1 lỗi")
    await page.locator("#f-sources").fill("https://vneid.gov.vn")
    await page.get_by_role("button", name="Kiểm tra").click()
    vi = page.locator('[data-field="questions.vi"] .field-problems li')
    await expect(vi.filter(has_text="at least 4")).to_have_count(1)
    await expect(vi.filter(has_text=f"nearly the same as '{PHRASING}' of '{ENTRY}'")).to_have_count(1)  # it was just published there
    await expect(page.locator('[data-field="answer.vi"] .field-problems li')).to_contain_text("missing")
    await expect(page.locator('[data-field="sources"] .field-problems li')).to_have_count(0)
    await page.screenshot(path=tmp_path / "content_new.png", full_page=True)
    assert b.problems == [], b.problems
    await b.context.close()


async def test_a_viewer_reads_without_edit_controls(site, browser, tmp_path):
    b = await open_context(browser)
    page = await log_in(b, site, "thu", "viewer")
    await expect(page.locator("#read-only")).to_be_visible()
    assert await page.locator("#new-faq").count() == 0
    await page.locator(f'#content-list a[href$="/content/faq/{ENTRY}"]').click()
    await loaded(page)
    assert (await page.locator("#f-questions-vi").input_value()).splitlines()[0] == site.server.kb.faqs[ENTRY].questions.vi[0]
    assert await page.locator("#f-questions-vi").get_attribute("readonly") is not None
    assert await page.locator("#tools, #btn-publish, #btn-check, [data-revert]").count() == 0
    await page.screenshot(path=tmp_path / "content_viewer.png", full_page=True)
    # her session's own CSRF token and origin do not make an edit hers to make: the API answers 403
    original = (site.server.content / "faq/eid.yaml").read_text()
    refused = await page.evaluate("""async ([path, entry]) => {
        const csrf = document.querySelector("form input[name=csrf]").value;
        const got = await (await fetch(path)).json();
        got.entry.questions.vi.push("vneid cua toi bi khoa");
        const r = await fetch(path, {method: "PUT", headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
                                     body: JSON.stringify({entry: got.entry, version: got.version})});
        return [r.status, await r.text()];
    }""", [f"/dashboard/api/content/faq/{ENTRY}", ENTRY])
    assert refused[0] == 403 and "editor" in refused[1], refused
    assert (site.server.content / "faq/eid.yaml").read_text() == original
    response = await page.goto(site.url + "/dashboard/content/new")
    assert response.status == 403 and "không có quyền" in await page.locator(".problem").text_content()
    b.problems[:] = [p for p in b.problems if "403" not in p]
    assert b.problems == [], b.problems
    await b.context.close()


async def test_the_form_gives_every_entry_back_unchanged_and_edits_a_guide(site, browser):
    """What the form shows is what it sends: publishing an untouched FAQ entry or guide writes nothing;
    a step added to a guide lands in its file, and its preview shows it."""
    fees = site.server.content / "faq/fees.yaml"  # a source re-checked by hand: {url, checked}, kept as it is
    source = "    - https://thuanan.binhduong.gov.vn/huongdan/Page_06.htm\n"
    assert source in fees.read_text()
    fees.write_text(fees.read_text().replace(source, source.replace("- https", "- url: https") + "      checked: 2026-11-30\n", 1))
    files = {p: p.read_bytes() for p in site.server.content.rglob("*.yaml")}
    b = await open_context(browser)
    page = await log_in(b, site)
    for kind, entry_id in (("faq", "eid-what-is"), ("faq", "fees-pay-online"), ("guide", "eid-activate")):
        await page.goto(f"{site.url}/dashboard/content/{kind}/{entry_id}")
        await loaded(page)
        await page.get_by_role("button", name="Xuất bản").click()
        await expect(page.locator("#edit-status")).to_contain_text("Không có thay đổi nào")
    assert {p: p.read_bytes() for p in site.server.content.rglob("*.yaml")} == files

    guide = site.server.kb.guides["eid-activate"]
    steps = page.locator('[data-repeat="steps"] > li')
    await expect(steps).to_have_count(len(guide.steps))
    assert await page.locator("#f-steps-0-vi").input_value() == guide.steps[0].vi
    await page.get_by_role("button", name="+ Thêm bước").click()
    await expect(steps).to_have_count(len(guide.steps) + 1)
    new = len(guide.steps)
    await page.locator(f"#f-steps-{new}-vi").fill("Bấm “Đăng xuất” khi dùng xong trên máy của người khác.")
    await page.locator(f"#f-steps-{new}-en").fill("Tap “Log out” when you are done on someone else's phone.")
    await steps.nth(new).get_by_role("button", name="↑ Lên").click()  # it becomes the last step but one
    await page.get_by_role("button", name="Xem trước").click()
    await expect(page.locator("#pv-web .bubble").nth(new)).to_contain_text("Bấm “Đăng xuất” khi dùng xong")
    await page.get_by_role("button", name="Xuất bản").click()
    await expect(page.locator("#edit-status")).to_contain_text("Đã xuất bản")
    live = site.server.live.guides["eid-activate"]
    assert live.steps[new - 1].vi.startswith("Bấm “Đăng xuất”") and live.steps[new].vi == guide.steps[-1].vi
    assert b.problems == [], b.problems
    await b.context.close()


async def test_locality_values_and_the_history_page(site, browser, tmp_path):
    b = await open_context(browser)
    page = await log_in(b, site)
    await page.get_by_role("link", name="Thông tin địa phương").click()
    await loaded(page)
    number = page.locator('[data-field="hotlines.vneid.number"] input')
    assert await number.input_value() == "1900 0368"
    await number.fill("1900 0369")
    # a new working group in a ward that does not exist: refused, the problem under that cell
    groups = page.locator("#loc-working_groups tbody tr")
    n = await groups.count()
    await page.get_by_role("button", name="+ Thêm tổ").click()
    row = groups.nth(n)
    for key, value in (("id", "tdp-test-1"), ("name.vi", "Tổ thử"), ("name.en", "Test group"), ("ward", "no-such-ward"), ("code", "ZQ9")):
        await row.locator(f'[data-sub="{key}"] input').fill(value)
    await page.get_by_role("button", name="Xuất bản").click()
    await expect(page.locator(f'[data-field="working_groups.{n}.ward"] .field-problems li')).to_contain_text("unknown ward")
    assert "1900 0369" not in (site.server.content / "locality.yaml").read_text()
    b.problems[:] = [p for p in b.problems if "422" not in p]  # the browser logs the refused request
    await row.get_by_role("button", name="Xóa").click()
    await page.get_by_role("button", name="Xuất bản").click()
    await expect(page.locator("#edit-status")).to_contain_text("Đã xuất bản")
    assert site.server.live.locality["hotlines"]["vneid"]["number"] == "1900 0369"
    assert all("1900 0368" not in f.answer.vi for f in site.server.live.faqs.values())
    await expect(page.locator('#history-list .revision[data-action="locality"]')).to_have_count(1)
    await page.screenshot(path=tmp_path / "content_locality.png", full_page=True)
    # the history of everything, with Revert
    await page.goto(site.url + "/dashboard/content/history")
    await loaded(page)
    revision = page.locator("#history-list .revision")
    await expect(revision).to_have_count(1)
    await revision.locator("summary").click()
    await expect(revision.locator(".diff .add")).to_have_text(['+    number: "1900 0369"\n'])
    await revision.get_by_role("button", name="Hoàn tác").click()
    await expect(page.locator("#history-list .revision")).to_have_count(2)
    assert site.server.live.locality["hotlines"]["vneid"]["number"] == "1900 0368"
    assert b.problems == [], b.problems
    await b.context.close()
