"""The dashboard in a real browser (Debian's Chromium via Playwright) on a generated data set, as an official
uses it: log in, read the charts, filter by topic, download a CSV, resolve an unanswered question group, open
and print the weekly summary; and on a phone, log in through the printed link.

Screenshots for people to look at, in each test's own folder (pytest keeps the last three runs under
/tmp/pytest-of-<user>/): dash.png (1280x900), dash_phone.png (390x844), dash_weekly.png. No browser
download: the system's Chromium (webutil.launch_chromium) is used.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from analytics.store import connect
from analytics_data import generate_events, summarise, write
from webutil import launch_chromium, make_app, needs_chromium, running_server

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
TOKEN = "tok"  # tests/webutil.make_app's dashboard token

pytestmark = needs_chromium
async_api = pytest.importorskip("playwright.async_api", reason="needs the playwright Python package")
expect = async_api.expect
expect.set_options(timeout=8_000)


@pytest.fixture(scope="module")
def events():
    return generate_events(n_users=500, days=21, seed=5)


@pytest.fixture
async def site(tmp_path, kb, matcher, events) -> AsyncIterator[str]:
    with connect(tmp_path / "x.db") as db:  # make_app's analytics database
        write(db, events)
    async with running_server(make_app(tmp_path, kb, matcher)) as url:
        yield url


@dataclass
class Browser:
    page: Any
    site: str
    problems: list[str] = field(default_factory=list)


async def open_browser(playwright, site: str, viewport: dict, **kw) -> Browser:
    browser = await launch_chromium(playwright)
    context = await browser.new_context(viewport=viewport, accept_downloads=True, **kw)
    result = Browser(await context.new_page(), site)
    # CSP violations and script errors show up here; a dashboard that works must have none
    result.page.on("console", lambda msg: result.problems.append(msg.text) if msg.type == "error" else None)
    result.page.on("pageerror", lambda error: result.problems.append(str(error)))
    return result


@pytest.fixture
async def desktop(site) -> AsyncIterator[Browser]:
    async with async_api.async_playwright() as playwright:
        b = await open_browser(playwright, site, DESKTOP)
        try:
            yield b
        finally:
            await b.page.context.browser.close()
    assert b.problems == [], b.problems


@pytest.fixture
async def phone(site) -> AsyncIterator[Browser]:
    async with async_api.async_playwright() as playwright:
        b = await open_browser(playwright, site, PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
        try:
            yield b
        finally:
            await b.page.context.browser.close()
    assert b.problems == [], b.problems


async def skip_first_admin(page) -> None:
    """No account exists here: the token login offers to create the first admin (tests/test_accounts_browser.py
    does); these tests go on with the token."""
    await page.get_by_role("link", name="Để sau: tiếp tục bằng mã truy cập").click()


async def loaded(page) -> None:
    await expect(page.locator("body")).to_have_attribute("data-loaded", "true")


async def kpi(page, name: str) -> int:
    text = await page.locator(f'[data-kpi="{name}"]').text_content()
    return int(re.sub(r"\D", "", text))


async def painted_pixels(page, canvas_id: str) -> int:
    return await page.evaluate(
        """(id) => { const c = document.getElementById(id); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                     let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""",
        canvas_id,
    )


async def wait_true(page, expression: str, timeout: float = 10.0) -> None:
    """Wait until `expression` is true in the page (checked every 50 ms), or fail after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await page.evaluate(expression):
        assert asyncio.get_running_loop().time() < deadline, f"never true: {expression}"
        await asyncio.sleep(0.05)


async def test_official_reads_filters_downloads_and_resolves(desktop, events, kb, tmp_path):
    page = desktop.page
    await page.goto(desktop.site + "/dashboard/")
    assert "/dashboard/login" in page.url  # no way in without the token
    await page.locator("#token").fill("wrong")
    await page.get_by_role("button", name="Đăng nhập").click()
    await expect(page.locator(".problem")).to_be_visible()
    desktop.problems.clear()  # the browser logs the 403 of the wrong token as a console error
    await page.locator("#token").fill(TOKEN)
    await page.get_by_role("button", name="Đăng nhập").click()
    await skip_first_admin(page)
    await loaded(page)
    query = dict(re.findall(r"(since|until)=([\d-]+)", page.url))
    since, until = query["since"], query["until"]

    # the charts are drawn: Chart.js instances with painted pixels on every canvas
    assert await page.evaluate("Object.keys(Chart.instances).length") == 5
    for canvas in ("chart-time", "chart-topics", "chart-channels", "chart-answered", "chart-funnels"):
        assert await painted_pixels(page, canvas) > 500, canvas
    expected = summarise(events, since=since, until=until)
    assert await kpi(page, "questions") == expected["totals"]["questions"]
    # each tile says what it counts, so "Câu hỏi" is not mistaken for every message
    hints = await page.locator("#kpis .kpi-hint").all_text_contents()
    assert len(hints) == 6 and all(hints) and "không tính bấm nút" in hints[0]
    await page.screenshot(path=tmp_path / "dash.png")
    await page.screenshot(path=tmp_path / "dash_full.png", full_page=True)

    # weekly bars: another series, same charts
    await page.get_by_role("button", name="Theo tuần").click()
    await expect(page.get_by_role("button", name="Theo tuần")).to_have_attribute("aria-pressed", "true")
    # The button turns pressed at once; the chart is redrawn when the weekly series arrives: wait for it.
    # (Not page.wait_for_function: when its first check is false it polls through `new Function`, which
    # the page's CSP refuses, so it failed whenever the series came late. page.evaluate is not affected.)
    await wait_true(page, "!!Chart.getChart('chart-time') && Chart.getChart('chart-time').data.labels[0] === '2025-W10'")

    # filter by topic: the numbers change to the topic's
    await page.locator("select[name=topic]").select_option("bills")
    await page.get_by_role("button", name="Lọc").click()
    await loaded(page)
    assert "topic=bills" in page.url
    bills = summarise(events, since=since, until=until, topic="bills")
    assert await kpi(page, "questions") == bills["totals"]["questions"] < expected["totals"]["questions"]
    assert await page.locator('[data-kpi="users"]').text_content() == "–"  # users are not kept per topic

    # CSV download of the top-questions table, under the same filter
    async with page.expect_download() as info:
        await page.locator("#top a.csv").click()
    download = await info.value
    assert download.suggested_filename == f"digiguide-top_questions-{since}_{until}.csv"
    path = tmp_path / "top.csv"
    await download.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert rows and {r["topic"] for r in rows} == {"bills"}
    assert sum(int(r["count"]) for r in rows) == sum(bills["top_questions"]["bills"].values())

    # resolve the biggest unanswered group with an FAQ entry; it stays resolved after a reload
    await page.goto(desktop.site + f"/dashboard/?since={since}&until={until}")
    await loaded(page)
    first = page.locator("#inbox-list .cluster.open").first
    key = await first.get_attribute("data-key")
    entry = kb.faqs["eid-what-is"]
    await first.locator("select").select_option(entry.id)
    await first.get_by_role("button", name="Đã giải quyết").click()
    marked = page.locator(f'#inbox-list .cluster[data-key="{key}"]')
    await expect(marked.locator(".badge")).to_have_attribute("data-status", "resolved")
    await page.reload()
    await loaded(page)
    await expect(marked.locator(".badge")).to_have_attribute("data-status", "resolved")
    await expect(marked.locator(".mark")).to_contain_text("Trả lời bằng: " + entry.title("vi"))

    # the weekly summary: one A4 page
    await page.get_by_role("link", name="Tóm tắt tuần").click()
    await expect(page.locator(".sheet h1")).to_contain_text(re.compile(r"Tóm tắt tuần 2025-W\d\d"))
    await page.screenshot(path=tmp_path / "dash_weekly.png", full_page=True)
    pdf = await page.pdf(format="A4", print_background=True)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1


async def test_phone_login_link_and_layout(phone, tmp_path):
    page = phone.page
    await page.goto(phone.site + f"/dashboard/login#token={TOKEN}")  # the link `serve` prints
    await skip_first_admin(page)
    await loaded(page)
    assert "#token" not in page.url and TOKEN not in page.url
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing sticks out
    await page.screenshot(path=tmp_path / "dash_phone.png")
    await page.screenshot(path=tmp_path / "dash_phone_full.png", full_page=True)
    await page.get_by_role("link", name="English").click()
    await loaded(page)
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("#inbox h2")).to_have_text("Unanswered questions inbox")
    await page.get_by_role("button", name="Log out").click()
    await expect(page.locator("#token")).to_be_visible()
    await page.goto(phone.site + "/dashboard/")
    await expect(page.locator("#token")).to_be_visible()  # logged out for good
