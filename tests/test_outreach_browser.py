"""The working groups' page and posters in a real browser (Debian's Chromium via Playwright), as an official
uses them: log in, open the groups page from the top bar, open a group's posters and print them. Checks the
print layout (A4, one poster a page, nothing cut off, QR codes visible and of full size), that the QR codes
on screen scan back to the exact links (zxing-cpp on a screenshot), and that the strict CSP holds (no
console errors).

Screenshots for people to look at, in each test's own folder (pytest keeps the last three runs under
/tmp/pytest-of-<user>/): outreach_groups.png, outreach_poster.png (the poster as printed),
outreach_posters.pdf (Chromium's print of all of a group's posters).
"""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from analytics.store import connect
from analytics_data import write
from outreach_data import GROUP_WARDS, generate_events
from webutil import app_settings, launch_chromium, make_app, needs_chromium, running_server

pytestmark = needs_chromium
async_api = pytest.importorskip("playwright.async_api", reason="needs the playwright Python package")
zxingcpp = pytest.importorskip("zxingcpp", reason="needs zxing-cpp (in the [test] extra)")
expect = async_api.expect

BOT = "DigiGuidePhuThoBot"
WEB = "https://chat.example.vn"
GROUP = "tdp-xuan-hoa-2"
MM = 96 / 25.4  # CSS pixels per millimetre


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("outreach-browser") / "seed.db"
    db = connect(path)
    write(db, generate_events(n_users=300, days=35, seed=11))
    db.close()
    return path


@pytest.fixture
async def site(tmp_path, kb, matcher, seeded) -> AsyncIterator[str]:
    shutil.copy(seeded, tmp_path / "x.db")
    app = make_app(tmp_path, kb, matcher, app_settings(tmp_path, telegram_username=BOT, public_url=WEB))
    async with running_server(app) as url:
        yield url


@pytest.fixture
async def browser(site) -> AsyncIterator[tuple[Any, str, list[str]]]:
    problems: list[str] = []
    async with async_api.async_playwright() as playwright:
        chromium = await launch_chromium(playwright)
        try:
            context = await chromium.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=2, accept_downloads=True)
            page = await context.new_page()
            # CSP violations and script errors show up here: the pages must have none
            page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            await page.goto(site + "/dashboard/login#token=tok")  # the printed login link: login.js submits it
            await page.get_by_role("link", name="Để sau: tiếp tục bằng mã truy cập").click()  # no first admin here
            await page.wait_for_url(re.compile(r".*/dashboard/\?since="))
            yield page, site, problems
        finally:
            await chromium.close()
    assert problems == [], problems


def decode(png: bytes) -> list[str]:
    return sorted(r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png))))


async def test_groups_page_from_the_top_bar(browser, kb, tmp_path):
    page, site, _ = browser
    link = page.locator('nav a[href="/dashboard/groups"]')
    await expect(link).to_have_count(1)
    await link.click()
    await page.wait_for_url(re.compile(r".*/dashboard/groups\?since=2025-01-13&until=2025-04-06$"))
    await expect(page.locator('nav a[href="/dashboard/groups"]')).to_have_attribute("aria-current", "page")
    await expect(page.locator("#by-group table tbody tr")).to_have_count(len(GROUP_WARDS) + 1)  # + a group removed from the content
    await expect(page.locator("svg.group-chart polyline")).to_have_count(len(GROUP_WARDS) + 1)
    group = page.locator(f"#group-{GROUP}")
    await group.locator("summary").click()
    await expect(group.locator("table.links-table tbody tr")).to_have_count(len(kb.guides) + 1)  # + the menu
    await expect(group.get_by_text("ID1 XH2", exact=True)).to_be_visible()
    await page.screenshot(path=tmp_path / "outreach_groups.png", full_page=True)
    async with page.expect_download() as info:
        await page.locator("#by-group a.csv").click()
    download = await info.value
    assert download.suggested_filename == "digiguide-groups-groups-2025-01-13_2025-04-06.csv"
    await group.get_by_role("link", name="In tất cả áp phích của tổ").click()
    await page.wait_for_url(re.compile(rf".*/dashboard/groups/{GROUP}/posters$"))
    await expect(page.locator("article.poster")).to_have_count(len(kb.guides))


async def test_posters_print_on_a4_one_per_page(browser, kb, tmp_path):
    page, site, _ = browser
    await page.goto(f"{site}/dashboard/groups/{GROUP}/posters")
    await page.evaluate("document.fonts.ready")
    assert await page.evaluate("""document.fonts.check('700 20pt "DigiGuide Poster"') && document.fonts.check('15pt "DigiGuide Poster"')""")
    await page.emulate_media(media="print")
    await expect(page.locator(".top")).to_be_hidden()
    await expect(page.locator(".poster-tools")).to_be_hidden()
    layout = await page.evaluate(
        """() => [...document.querySelectorAll('article.poster')].map(p => {
              const box = p.getBoundingClientRect(), text = p.querySelector('.p-text');
              return {guide: p.dataset.guide, width: box.width, height: box.height, top: box.top + window.scrollY,
                      textOverflow: text.scrollHeight - text.clientHeight,
                      qrs: [...p.querySelectorAll('svg.qr')].map(q => { const r = q.getBoundingClientRect();
                             return {w: r.width, h: r.height, inside: r.top >= box.top && r.bottom <= box.bottom && r.left >= box.left && r.right <= box.right,
                                     shown: getComputedStyle(q).visibility === 'visible' && getComputedStyle(q).display !== 'none'}; }),
                      code: p.querySelector('.p-code').textContent,
                      codeFits: p.querySelector('.p-code').getBoundingClientRect().width <= p.querySelector('.p-zalo-box').clientWidth,
                      foot: p.querySelector('.p-foot').getBoundingClientRect().bottom - box.top};
           })"""
    )
    assert [p["guide"] for p in layout] == list(kb.guides)
    for i, p in enumerate(layout):
        assert abs(p["width"] - 210 * MM) < 1 and abs(p["height"] - 297 * MM) < 1, p  # exactly one A4 sheet
        assert abs(p["top"] - i * 297 * MM) < 2, p  # stacked with no gap: the page breaks fall between them
        assert p["textOverflow"] <= 1, p  # the text fits its area: nothing cut off
        assert p["foot"] <= (297 - 14) * MM + 1, p  # the hotline footer ends inside the bottom margin
        assert len(p["qrs"]) == 2 and all(q["shown"] and q["inside"] and abs(q["w"] - 50 * MM) < 1 and abs(q["h"] - 50 * MM) < 1 for q in p["qrs"]), p
        assert p["code"] == f'{kb.guides[p["guide"]].code} XH2' and p["codeFits"], p
    pdf = await page.pdf(prefer_css_page_size=True, print_background=True)
    (tmp_path / "outreach_posters.pdf").write_bytes(pdf)
    pages = len(re.findall(rb"/Type\s*/Page(?!s)\b", pdf))
    boxes = {tuple(round(float(v)) for v in b.split()) for b in re.findall(rb"/MediaBox\s*\[([^\]]*)\]", pdf)}
    assert pages == len(kb.guides) and boxes == {(0, 0, 595, 842)}, (pages, boxes)


async def test_poster_codes_scan_from_the_screen(browser, tmp_path):
    page, site, _ = browser
    await page.goto(f"{site}/dashboard/groups/{GROUP}/poster/fees-pay-portal")
    await page.evaluate("document.fonts.ready")
    poster = page.locator("article.poster")
    shot = await poster.screenshot()
    assert decode(shot) == sorted([f"https://t.me/{BOT}?start=g-fees-pay-portal__{GROUP}", f"{WEB}/?start=g-fees-pay-portal__{GROUP}"])
    await page.emulate_media(media="print")
    printed = await poster.screenshot(path=tmp_path / "outreach_poster.png")
    assert len(decode(printed)) == 2
    await page.emulate_media(media="screen")
    # the print button prints (window.print replaced, since headless Chromium has no print dialog)
    await page.evaluate("() => { window.printed = 0; window.print = () => { window.printed += 1; }; }")
    await page.get_by_role("button", name="In áp phích").click()
    assert await page.evaluate("window.printed") == 1
    async with page.expect_download() as info:
        await page.get_by_role("link", name="PDF").click()
    download = await info.value
    assert download.suggested_filename == f"digiguide-poster-{GROUP}-fees-pay-portal.pdf"
    assert (Path(await download.path()).read_bytes())[:5] == b"%PDF-"
