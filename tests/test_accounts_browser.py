"""Personal accounts in a real browser (Debian's Chromium via Playwright), as people use them on a first
start: the operator opens the printed login link and creates the first admin; the admin creates an editor
on the accounts page and reads the one-time password off it; the editor, in a browser of her own, logs in
with it, is made to choose her own password and lands on the dashboard (her ward's) with the inbox's mark
buttons; a viewer sees the same inbox without them.

Screenshots for people to look at, in the test's own folder: accounts.png (the one-time password shown),
change_password.png, first_admin.png (phone size).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from accountsutil import PASSWORD, make_account
from analytics.store import connect
from analytics_data import generate_events, write
from webutil import launch_chromium, make_app, needs_chromium, running_server

TOKEN = "tok"  # webutil.make_app's access token
ADMIN_PASSWORD = "quản trị viên Phúc Yên"
LAN_PASSWORD = "mật khẩu của Lan 2026"

pytestmark = needs_chromium
async_api = pytest.importorskip("playwright.async_api", reason="needs the playwright Python package")
expect = async_api.expect
expect.set_options(timeout=8_000)


@pytest.fixture
async def site(tmp_path, kb, matcher) -> AsyncIterator[str]:
    with connect(tmp_path / "x.db") as db:  # make_app's analytics database
        write(db, generate_events(n_users=120, days=10, seed=7))
    async with running_server(make_app(tmp_path, kb, matcher)) as url:
        yield url


async def new_page(browser: Any, problems: list[str], **kw) -> Any:
    context = await browser.new_context(**kw)
    page = await context.new_page()
    # CSP violations and script errors show up here: the pages must have none
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return page


async def test_an_admin_creates_an_editor_who_chooses_her_password_at_first_login(site, tmp_path):
    problems: list[str] = []
    async with async_api.async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        try:
            # the operator: the printed link, then the first admin (on a phone)
            admin = await new_page(browser, problems, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
            await admin.goto(site + f"/dashboard/login#token={TOKEN}")
            await expect(admin.get_by_role("heading", name="Tạo tài khoản quản trị đầu tiên")).to_be_visible()
            assert "#token" not in admin.url and TOKEN not in admin.url
            await admin.screenshot(path=tmp_path / "first_admin.png")
            await admin.get_by_label("Tên đăng nhập").fill("boss")
            await admin.get_by_label("Mật khẩu mới", exact=True).fill(ADMIN_PASSWORD)
            await admin.get_by_label("Nhập lại mật khẩu mới").fill(ADMIN_PASSWORD)
            await admin.get_by_role("button", name="Tạo tài khoản và đăng nhập").click()
            await expect(admin.locator("body")).to_have_attribute("data-loaded", "true")  # the dashboard, as boss
            await expect(admin.locator("nav .who")).to_have_text("boss")

            # the accounts page: an editor for one ward
            await admin.set_viewport_size({"width": 1280, "height": 900})
            await admin.get_by_role("link", name="Tài khoản", exact=True).click()
            await expect(admin.get_by_role("heading", name="Tài khoản và mã API")).to_be_visible()
            add = admin.locator("#add-user")
            await add.get_by_label("Tên đăng nhập").fill("lan")
            await add.get_by_label("Vai trò").select_option("editor")
            await add.get_by_label("phường Phúc Yên").check()
            await add.get_by_role("button", name="Tạo tài khoản").click()
            secret = admin.locator("#shown-secret")
            await expect(secret).to_be_visible()
            otp = (await secret.text_content()).strip()
            assert re.fullmatch(r"[a-z2-9]{4}(-[a-z2-9]{4}){3}", otp)
            row = admin.locator('#users tr[data-name="lan"]')
            await expect(row).to_contain_text("Biên tập")
            await expect(row).to_contain_text("Chờ đổi mật khẩu")
            await expect(row).to_contain_text("phường Phúc Yên")
            await admin.screenshot(path=tmp_path / "accounts.png", full_page=True)

            # Lan, in her own browser: the one-time password, then her own
            lan = await new_page(browser, problems, viewport={"width": 1280, "height": 900})
            await lan.goto(site + "/dashboard/weekly")
            assert "/dashboard/login" in lan.url
            await lan.get_by_label("Tên đăng nhập").fill("lan")
            await lan.get_by_label("Mật khẩu", exact=True).fill(otp.upper())  # as read off a note: case does not matter
            await lan.get_by_role("button", name="Đăng nhập", exact=True).click()
            await expect(lan.get_by_role("heading", name="Đổi mật khẩu")).to_be_visible()
            await expect(lan.locator(".note")).to_contain_text("mật khẩu dùng một lần")
            await lan.goto(site + "/dashboard/")  # nothing else until it is changed
            await expect(lan.get_by_role("heading", name="Đổi mật khẩu")).to_be_visible()
            await lan.get_by_label("Mật khẩu dùng một lần").fill(otp)
            await lan.get_by_label("Mật khẩu mới", exact=True).fill(LAN_PASSWORD)
            await lan.get_by_label("Nhập lại mật khẩu mới").fill(LAN_PASSWORD)
            await lan.screenshot(path=tmp_path / "change_password.png")
            await lan.get_by_role("button", name="Đổi mật khẩu").click()
            await expect(lan.locator("body")).to_have_attribute("data-loaded", "true")  # the dashboard
            assert "ward=phuc-yen" in lan.url  # bound to her ward
            await expect(lan.locator("nav .who")).to_have_text("lan")
            await expect(lan.locator("select[name=ward] option")).to_have_count(1)
            await expect(lan.locator("#inbox-list .cluster.open").first.get_by_role("button", name="Bỏ qua")).to_be_visible()  # an editor marks
            await expect(lan.get_by_role("link", name="Tài khoản", exact=True)).to_have_count(0)  # not an admin

            # the admin's list says she has chosen her password
            await admin.goto(site + "/dashboard/accounts")  # (not a reload: that would send the form again)
            await expect(row).to_contain_text("Đang dùng")

            # a viewer reads the same inbox without a single mark button
            make_account(tmp_path / "x.db", "an", "viewer")
            viewer = await new_page(browser, problems, viewport={"width": 1280, "height": 900})
            await viewer.goto(site + "/dashboard/login")
            await viewer.get_by_label("Tên đăng nhập").fill("an")
            await viewer.get_by_label("Mật khẩu", exact=True).fill(PASSWORD)
            await viewer.get_by_role("button", name="Đăng nhập", exact=True).click()
            await expect(viewer.locator("body")).to_have_attribute("data-loaded", "true")
            await expect(viewer.locator("#inbox-list .cluster.open").first).to_be_visible()
            await expect(viewer.locator("#inbox-list button, #inbox-list select")).to_have_count(0)
        finally:
            await browser.close()
    assert problems == [], problems
