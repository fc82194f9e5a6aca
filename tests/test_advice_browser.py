"""The outreach advice page ("Gợi ý tuyên truyền") and its meeting sheet in a real browser (Debian's Chromium
via Playwright), as an official uses them: open the page from the top bar, read Xuân Hòa's suggestions in
Vietnamese and in English, print the meeting sheet from a suggestion and check it fits one A4 page, print a
group's posters from another, and see the campaign appear under "before and after". No console errors (the
strict CSP holds).

Screenshots for people to look at, in each test's own folder: advice_vi.png, advice_en.png,
advice_sheet.pdf (Chromium's print of the sheet).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from analytics.store import connect
from test_advice import GROUP, seed
from webutil import app_settings, launch_chromium, make_app, needs_chromium, running_server

pytestmark = needs_chromium
async_api = pytest.importorskip("playwright.async_api", reason="needs the playwright Python package")
expect = async_api.expect


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("advice-browser") / "seed.db"
    seed(path)
    return path


@pytest.fixture
async def browser(tmp_path, kb, matcher, seeded) -> AsyncIterator[tuple[Any, str, list[str]]]:
    shutil.copy(seeded, tmp_path / "x.db")
    app = make_app(tmp_path, kb, matcher, app_settings(tmp_path))
    problems: list[str] = []
    async with running_server(app) as site, async_api.async_playwright() as playwright:
        chromium = await launch_chromium(playwright)
        try:
            context = await chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            page = await context.new_page()
            page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            await page.goto(site + "/dashboard/login#token=tok")
            await page.get_by_role("link", name="Để sau: tiếp tục bằng mã truy cập").click()
            await page.wait_for_url(re.compile(r".*/dashboard/\?since="))
            yield page, site, problems
        finally:
            await chromium.close()
    assert problems == [], problems


async def test_a_wards_suggestions_in_vietnamese_and_english(browser, kb, tmp_path):
    page, site, _ = browser
    await page.locator('nav a[href="/dashboard/outreach"]').click()
    await page.wait_for_url(re.compile(r".*/dashboard/outreach$"))
    await expect(page.locator("h1")).to_have_text("Gợi ý tuyên truyền")
    # the province page: each ward's first suggestion, only Xuân Hòa has one
    await expect(page.locator("#by-ward li.suggestion")).to_have_count(1)
    await page.locator("#by-ward a").click()
    await page.wait_for_url(re.compile(r".*ward=xuan-hoa"))
    items = page.locator("#suggestions li.suggestion")
    await expect(items).to_have_count(4)
    assert sorted(await items.evaluate_all("els => els.map(e => e.dataset.kind)")) == ["dropoff", "thumbs_down", "tickets", "unanswered"]
    drop = page.locator('#suggestions li[data-kind="dropoff"]')
    await expect(drop.locator(".reason")).to_contain_text("24 người ở phường Xuân Hòa dừng ở bước 3")
    await expect(drop.locator("button")).to_have_count(2)  # posters of the ward's one group, and the meeting sheet
    await page.screenshot(path=tmp_path / "advice_vi.png", full_page=True)
    await page.locator("a.lang").click()
    await expect(page.locator("h1")).to_have_text("Outreach advice: what to explain next")
    await expect(page.locator('#suggestions li[data-kind="dropoff"] .reason')).to_contain_text("24 people in Xuân Hòa ward stopped at step 3")
    await expect(page.locator('#suggestions li[data-kind="tickets"] .reason')).to_contain_text("handed over to officials")
    await page.screenshot(path=tmp_path / "advice_en.png", full_page=True)


async def test_the_meeting_sheet_prints_on_one_a4_page_and_the_campaign_shows(browser, kb, tmp_path):
    page, site, _ = browser
    await page.goto(f"{site}/dashboard/outreach?ward=xuan-hoa")
    await page.locator('#suggestions li[data-kind="dropoff"] form.produce:has(input[name="what"][value="sheet"]) button').click()
    await page.wait_for_url(re.compile(r".*/dashboard/outreach/sheet\?ward=xuan-hoa&guide=eid-activate&step=3"))
    sheet = page.locator("#sheet")
    await expect(sheet.locator("#sheet-steps li.focus")).to_have_count(1)
    await expect(sheet.locator("#sheet-steps li.focus")).to_contain_text("Chú ý bước 3")
    problems = kb.guides["eid-activate"].problems
    await expect(sheet.locator("#sheet-wrong dt")).to_have_count(min(3, len(problems)))
    await expect(sheet.locator("#sheet-why li").first).to_contain_text("24 người ở phường Xuân Hòa")
    await page.emulate_media(media="print")
    await expect(page.locator(".no-print").first).to_be_hidden()
    pdf = await page.pdf(prefer_css_page_size=True, print_background=True)
    (tmp_path / "advice_sheet.pdf").write_bytes(pdf)
    pages = len(re.findall(rb"/Type\s*/Page(?!s)\b", pdf))
    boxes = {tuple(round(float(v)) for v in b.split()) for b in re.findall(rb"/MediaBox\s*\[([^\]]*)\]", pdf)}
    assert pages == 1 and boxes == {(0, 0, 595, 842)}, (pages, boxes)  # one A4 sheet
    await page.emulate_media(media="screen")
    # posters from the same suggestion: the group's poster of the guide opens, and both are recorded
    await page.goto(f"{site}/dashboard/outreach?ward=xuan-hoa")
    await page.locator(f'#suggestions li[data-kind="dropoff"] form.produce:has(input[name="group"][value="{GROUP}"]) button').click()
    await page.wait_for_url(re.compile(rf".*/dashboard/groups/{GROUP}/poster/eid-activate"))
    await page.goto(f"{site}/dashboard/outreach?ward=xuan-hoa")
    await expect(page.locator('#effects tr[data-guide="eid-activate"][data-ward="xuan-hoa"]')).to_have_count(1)
    with connect(tmp_path / "x.db") as db:
        assert sorted(db.execute("select what, group_id from outreach_actions").fetchall()) == [("posters", GROUP), ("sheet", "")]
