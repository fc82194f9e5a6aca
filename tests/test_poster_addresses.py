"""Posters never print a code a phone cannot open (issue 11 §5): without a public web chat address
(DIGIGUIDE_PUBLIC_URL unset, or pointing at this machine) the groups page and every poster say so and
print no web QR code; the Zalo box names the bot's Zalo account (ZALO_BOT_NAME), or says it is not set."""

from __future__ import annotations

import pytest

from analytics.posters import columns, make_poster, public_web_url
from test_outreach_posters import BOT, GROUP, WEB, decode, login, pdf_images, started

GUIDE = "eid-activate"


@pytest.mark.parametrize("url, public", [
    ("https://chat.example.vn", True), ("http://203.0.113.5:8080", True),
    ("http://127.0.0.1:8080", False), ("http://localhost:8080", False), ("http://0.0.0.0:8080", False),
    ("http://[::1]:8080", False), ("", False),
])
def test_which_addresses_a_phone_can_open(url, public):
    assert public_web_url(url) is public


def test_a_poster_without_a_public_address_has_no_web_code(kb):
    local = make_poster(kb, GROUP, GUIDE, BOT, "", "vi")
    assert local.web is None and columns(local) == ["telegram", "zalo"]
    public = make_poster(kb, GROUP, GUIDE, BOT, WEB, "vi", zalo_name="Bot DigiGuide Phú Thọ")
    assert columns(public) == ["telegram", "web", "zalo"] and public.zalo_name == "Bot DigiGuide Phú Thọ"


@pytest.mark.parametrize("public_url", ["", "http://127.0.0.1:8080"])
async def test_without_a_public_address_the_pages_say_so_and_print_no_web_code(tmp_path, kb, matcher, public_url):
    client = await started(tmp_path, kb, matcher, None, telegram_username=BOT, public_url=public_url)
    try:
        await login(client)
        groups = await (await client.get("/dashboard/groups")).text()
        assert 'id="no-public-url"' in groups and "DIGIGUIDE_PUBLIC_URL" in groups
        assert "kind=web" not in groups and "kind=telegram" in groups
        poster = await (await client.get(f"/dashboard/groups/{GROUP}/poster/{GUIDE}")).text()
        assert 'id="no-public-url"' in poster and 'data-kind="web"' not in poster and 'data-kind="telegram"' in poster
        assert (await client.get(f"/dashboard/groups/{GROUP}/qr/{GUIDE}.png?kind=web")).status == 404
        pdf = await (await client.get(f"/dashboard/groups/{GROUP}/poster/{GUIDE}.pdf")).read()
        codes = [text for image in pdf_images(pdf) for text in decode(image)]
        assert codes and all(code.startswith("https://t.me/") for code in codes)  # the Telegram code only
    finally:
        await client.close()


async def test_with_a_public_address_and_a_zalo_name_the_posters_carry_both(tmp_path, kb, matcher):
    client = await started(tmp_path, kb, matcher, None, telegram_username=BOT, public_url=WEB, zalo_bot_name="Bot DigiGuide Phú Thọ")
    try:
        await login(client)
        groups = await (await client.get("/dashboard/groups")).text()
        assert 'id="no-public-url"' not in groups and 'id="no-zalo-name"' not in groups and "kind=web" in groups
        poster = await (await client.get(f"/dashboard/groups/{GROUP}/poster/{GUIDE}")).text()
        assert 'data-kind="web"' in poster and "Gửi mã này cho Bot DigiGuide Phú Thọ trên Zalo" in poster
    finally:
        await client.close()


async def test_without_a_zalo_name_the_page_says_how_to_set_it(tmp_path, kb, matcher):
    client = await started(tmp_path, kb, matcher, None, telegram_username=BOT, public_url=WEB)
    try:
        await login(client)
        poster = await (await client.get(f"/dashboard/groups/{GROUP}/poster/{GUIDE}")).text()
        assert 'id="no-zalo-name"' in poster and "ZALO_BOT_NAME" in poster and "Gửi mã này cho DigiGuide trên Zalo" in poster
    finally:
        await client.close()
