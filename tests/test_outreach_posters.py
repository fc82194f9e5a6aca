"""The working groups' page, posters and QR codes over HTTP (the real server app, aiohttp's test client): all
behind the dashboard login; every QR code, in the PNG endpoint and in the PDF posters, decodes with a real
decoder (zxing-cpp) to exactly the group's link; PDFs are A4, one poster a page; results and CSV exports
hold the figures of a generated data set (tests/outreach_data.py)."""

from __future__ import annotations

import csv
import io
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from analytics import posters as G
from analytics.store import connect
from analytics_data import write
from outreach_data import GROUP_WARDS, generate_events, summarise
from webutil import app_settings, make_app

zxingcpp = pytest.importorskip("zxingcpp", reason="needs zxing-cpp (pip install zxing-cpp; in the [test] extra)")

TOKEN = "tok"  # webutil.app_settings' dashboard token
BOT = "DigiGuidePhuThoBot"
WEB = "https://chat.example.vn"
GROUP = "tdp-phuc-yen-5"


def telegram_link(guide: str, group: str = GROUP) -> str:
    return f"https://t.me/{BOT}?start=g-{guide}__{group}"


def web_link(guide: str, group: str = GROUP) -> str:
    return f"{WEB}/?start=g-{guide}__{group}"


@pytest.fixture(scope="module")
def events():
    return generate_events(n_users=300, days=35, seed=11)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, events) -> Path:
    path = tmp_path_factory.mktemp("posters") / "seed.db"
    db = connect(path)
    write(db, events)
    db.close()
    return path


async def started(tmp_path: Path, kb, matcher, seeded: Path | None, **settings) -> TestClient:
    if seeded is not None:
        shutil.copy(seeded, tmp_path / "x.db")  # app_settings' analytics database
    else:
        connect(tmp_path / "x.db").close()  # created and migrated, as `serve` does before it listens
    app = make_app(tmp_path, kb, matcher, app_settings(tmp_path, **settings))
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
async def client(tmp_path, kb, matcher, seeded) -> AsyncIterator[TestClient]:
    c = await started(tmp_path, kb, matcher, seeded, telegram_username=BOT, public_url=WEB)
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def no_username(tmp_path, kb, matcher) -> AsyncIterator[TestClient]:
    c = await started(tmp_path, kb, matcher, None, public_url=WEB)
    try:
        yield c
    finally:
        await c.close()


async def login(client: TestClient) -> None:
    origin = str(client.make_url("/")).rstrip("/")
    r = await client.post("/dashboard/login", data={"token": TOKEN, "next": "/dashboard/groups"}, headers={"Origin": origin}, allow_redirects=False)
    # no admin account in these databases: the token login offers to create the first one (and may skip it)
    assert r.status == 303 and r.headers["Location"] == "/dashboard/first-admin?next=/dashboard/groups"


def decode(png: bytes | Image.Image) -> list[str]:
    image = png if isinstance(png, Image.Image) else Image.open(io.BytesIO(png))
    return sorted(r.text for r in zxingcpp.read_barcodes(image))


def pdf_images(pdf: bytes) -> list[Image.Image]:
    """The images embedded in a PDF (fpdf2 writes greyscale ones as Flate with PNG predictors, that is a
    PNG's IDAT stream): rebuilt as PNG files and opened with Pillow."""
    images = []
    for m in re.finditer(rb"<<(.*?)>>\s*stream\r?\n", pdf, re.S):
        head = m.group(1)
        if b"/Subtype /Image" not in head:
            continue
        assert b"/FlateDecode" in head and b"/DeviceGray" in head and b"/Predictor 15" in head, head
        width, height = (int(re.search(rb"/%s (\d+)" % key, head).group(1)) for key in (b"Width", b"Height"))
        length = int(re.search(rb"/Length (\d+)", head).group(1))
        data = pdf[m.end() : m.end() + length]

        def chunk(kind: bytes, body: bytes) -> bytes:
            return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

        png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
        images.append(Image.open(io.BytesIO(png)))
    return images


def pdf_pages(pdf: bytes) -> tuple[int, list[list[int]]]:
    """How many pages, and every MediaBox (in points, rounded)."""
    boxes = [[round(float(v)) for v in box.split()] for box in re.findall(rb"/MediaBox \[([^\]]*)\]", pdf)]
    return len(re.findall(rb"/Type /Page(?!s)\b", pdf)), boxes


# -- login -----------------------------------------------------------------------------------------------------

async def test_everything_needs_the_dashboard_login(client):
    for path in ("/dashboard/groups", f"/dashboard/groups/{GROUP}/posters", f"/dashboard/groups/{GROUP}/poster/eid-activate", "/dashboard/groups?since=&until="):
        r = await client.get(path, allow_redirects=False)
        assert r.status == 302 and r.headers["Location"].startswith("/dashboard/login?next="), path
    for path in (
        f"/dashboard/groups/{GROUP}/posters.pdf", f"/dashboard/groups/{GROUP}/poster/eid-activate.pdf",
        f"/dashboard/groups/{GROUP}/qr/eid-activate.png?kind=web", "/dashboard/groups/export/groups.csv",
    ):
        r = await client.get(path, allow_redirects=False)
        assert r.status == 401 and (await r.json()) == {"error": "login required"}, path
        assert "Content-Security-Policy" in r.headers
    # unknown places under /dashboard/groups do not tell what exists
    for path in ("/dashboard/groups/nobody/qr/x.png", "/dashboard/groups/fonts/DejaVuSans.ttf", "/dashboard/groups/fonts/passwd.ttf"):
        assert (await client.get(path, allow_redirects=False)).status == 401, path
    await login(client)
    r = await client.get("/dashboard/groups/fonts/DejaVuSans.ttf")
    assert r.status == 200 and r.headers["Content-Type"] == "font/ttf" and (await r.read())[:4] == b"\x00\x01\x00\x00"
    assert r.headers["Cache-Control"] == "private, max-age=86400"
    assert (await client.get("/dashboard/groups/fonts/passwd.ttf")).status == 404


# -- the page --------------------------------------------------------------------------------------------------

async def test_page_lists_every_groups_links_codes_and_posters(client, kb):
    await login(client)
    r = await client.get("/dashboard/groups", allow_redirects=False)
    assert r.status == 302 and r.headers["Location"] == "/dashboard/groups?since=2025-01-13&until=2025-04-06"  # the last 12 weeks with data
    r = await client.get("/dashboard/groups?since=&until=")
    page = await r.text()
    assert r.status == 200 and "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert "<script>" not in page and "style=" not in page  # nothing inline: the CSP would block it
    for group in kb.working_groups.values():
        assert f'id="group-{group.id}"' in page and group.name.get("vi") in unescape(page)
        for guide in kb.guides.values():
            assert telegram_link(guide.id, group.id) in page and web_link(guide.id, group.id) in page
            assert f"<b>{guide.code} {group.code}</b>" in page
            assert f'href="/dashboard/groups/{group.id}/poster/{guide.id}"' in page
            assert f'href="/dashboard/groups/{group.id}/poster/{guide.id}.pdf"' in page
        assert f"https://t.me/{BOT}?start=menu__{group.id}" in page and f"<b>{group.code}</b>" in page
        assert f'href="/dashboard/groups/{group.id}/posters"' in page and f'href="/dashboard/groups/{group.id}/posters.pdf"' in page
    assert 'id="no-username"' not in page


async def test_page_shows_the_results_of_each_group_and_ward(client, kb, events):
    await login(client)
    page = await (await client.get("/dashboard/groups?since=2025-03-10&until=2025-03-30")).text()
    expected = summarise(events, "2025-03-10", "2025-03-30")["levels"]

    def cells(level: str, ident: str) -> dict[str, str]:
        row = re.search(rf'<tr[^>]*data-level="{level}" data-id="{re.escape(ident)}">(.*?)</tr>', page, re.S).group(1)
        return dict(re.findall(r'data-key="(\w+)">([^<]*)<', row))

    for group in GROUP_WARDS:
        shown = cells("group", group)
        want = expected[("group", group)]
        for key in ("new_citizens", "questions", "guides_started", "guides_finished"):
            assert shown[key] == f"{want[key]:,}".replace(",", "."), (group, key)
    assert cells("ward", "phuc-yen")["new_citizens"] == str(expected[("ward", "phuc-yen")]["new_citizens"])
    assert cells("all", "")["questions"] == f'{expected[("all", "")]["questions"]:,}'.replace(",", ".")
    assert '<svg class="group-chart"' in page and page.count('<polyline class="line') == len(GROUP_WARDS) + 1  # + the removed group
    for section in ("groups", "wards", "weekly", "topics", "guides", "posters"):
        assert f'href="/dashboard/groups/export/{section}.csv?since=2025-03-10&amp;until=2025-03-30"' in page


async def test_csv_exports(client, events):
    await login(client)
    r = await client.get("/dashboard/groups/export/groups.csv?since=2025-03-10&until=2025-03-30")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
    assert r.headers["Content-Disposition"] == 'attachment; filename="digiguide-groups-groups-2025-03-10_2025-03-30.csv"'
    body = (await r.read()).decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(body[1:])))
    expected = summarise(events, "2025-03-10", "2025-03-30")["levels"]
    for row in rows:
        want = expected.get((row["level"], row["id"]), {})
        assert int(row["new_citizens"]) == want.get("new_citizens", 0) and int(row["guides_finished"]) == want.get("guides_finished", 0)
    assert next(r for r in rows if r["id"] == GROUP)["name"] == "Tổ công nghệ số cộng đồng, tổ dân phố số 5, phường Phúc Yên"
    weekly = list(csv.DictReader(io.StringIO((await (await client.get("/dashboard/groups/export/weekly.csv?since=&until=")).read()).decode()[1:])))
    assert {r["period"] for r in weekly} == {"2025-W10", "2025-W11", "2025-W12", "2025-W13", "2025-W14"}
    posters = (await (await client.get("/dashboard/groups/export/posters.csv")).read()).decode()
    assert "target_title" in posters.splitlines()[0] and "Kích hoạt tài khoản VNeID sau khi được duyệt" in posters
    assert (await client.get("/dashboard/groups/export/nothing.csv")).status == 404
    assert (await client.get("/dashboard/groups/export/groups.csv?since=2025-02-30")).status == 400


async def test_bad_dates_say_so(client):
    await login(client)
    page = await (await client.get("/dashboard/groups?since=2025-04-01&until=2025-03-01")).text()
    assert 'role="alert"' in page and "is after" in page


async def test_without_a_bot_username_the_page_says_what_to_set(no_username, kb):
    await login(no_username)
    page = await (await no_username.get("/dashboard/groups?since=&until=")).text()
    assert 'id="no-username"' in page and "TELEGRAM_BOT_USERNAME" in page
    assert "https://t.me/&lt;bot-username&gt;?start=g-eid-activate__tdp-phuc-yen-5" in page  # a placeholder, not a link
    assert 'href="https://t.me/' not in page
    r = await no_username.get(f"/dashboard/groups/{GROUP}/qr/eid-activate.png?kind=telegram")
    assert r.status == 404 and "TELEGRAM_BOT_USERNAME" in (await r.json())["error"]
    poster = await (await no_username.get(f"/dashboard/groups/{GROUP}/poster/eid-activate")).text()
    assert poster.count('<svg viewBox="0 0') == 1 and 'data-kind="web"' in poster and 'data-kind="telegram"' not in poster
    assert "TELEGRAM_BOT_USERNAME" in poster  # the hint, on screen only (class no-print)
    pdf = await (await no_username.get(f"/dashboard/groups/{GROUP}/poster/eid-activate.pdf")).read()
    assert [decode(i) for i in pdf_images(pdf)] == [[web_link("eid-activate")]]


# -- posters ---------------------------------------------------------------------------------------------------

async def test_poster_page_has_everything_a_citizen_needs(client, kb):
    await login(client)
    guide = kb.guides["eid-activate"]
    r = await client.get(f"/dashboard/groups/{GROUP}/poster/eid-activate")
    page = await r.text()
    assert r.status == 200 and "script-src 'self'" in r.headers["Content-Security-Policy"] and "style=" not in page
    text = unescape(page)
    assert guide.title.get("vi") in text and guide.audience.get("vi") in text
    chosen = G.fit(G.make_poster(kb, GROUP, "eid-activate", BOT, WEB))
    assert chosen.steps == 3
    for step in guide.steps[:3]:
        assert step.get("vi") in text
    assert guide.steps[3].get("vi") not in text and "và 5 bước nữa" in text
    assert "Nhắn Zalo:" in text and ">ID1 PY5<" in text
    assert "1900 0368" in text and "156 / 5656" in text  # the hotlines this guide mentions
    assert "Tổ công nghệ số cộng đồng, tổ dân phố số 5, phường Phúc Yên" in text
    assert f'data-url="{telegram_link("eid-activate")}"' in page and f'data-url="{web_link("eid-activate")}"' in page
    assert page.count('<svg viewBox="0 0') == 2 and f'class="poster {chosen.css}"' in page
    assert f'href="/dashboard/groups/{GROUP}/poster/eid-activate.pdf?lang=vi"' in page and 'id="print"' in page
    english = unescape(await (await client.get(f"/dashboard/groups/{GROUP}/poster/eid-activate?lang=en")).text())
    assert guide.title.get("en") in english and "Zalo message:" in english and 'lang="en"' in english


async def test_all_posters_of_a_group(client, kb):
    await login(client)
    page = await (await client.get(f"/dashboard/groups/{GROUP}/posters")).text()
    assert page.count('<article class="poster') == len(kb.guides)
    for guide in kb.guides.values():
        assert f'id="poster-{guide.id}"' in page and f">{guide.code} PY5<" in page


async def test_unknown_group_or_guide(client):
    await login(client)
    assert (await client.get("/dashboard/groups/nobody/posters")).status == 404
    assert (await client.get(f"/dashboard/groups/{GROUP}/poster/no-such-guide")).status == 404
    assert (await client.get(f"/dashboard/groups/{GROUP}/poster/no-such-guide.pdf")).status == 404
    assert (await client.get(f"/dashboard/groups/{GROUP}/qr/eid-activate.png?kind=fax")).status == 400
    assert (await client.get(f"/dashboard/groups/nobody/qr/eid-activate.png")).status == 404


@pytest.mark.parametrize("group", sorted(GROUP_WARDS))
async def test_qr_pngs_decode_to_the_exact_links(client, kb, group):
    await login(client)
    for guide in kb.guides:
        for kind, link in (("telegram", telegram_link(guide, group)), ("web", web_link(guide, group))):
            r = await client.get(f"/dashboard/groups/{group}/qr/{guide}.png?kind={kind}")
            assert r.status == 200 and r.headers["Content-Type"] == "image/png"
            assert decode(await r.read()) == [link], (group, guide, kind)
    menu = await (await client.get(f"/dashboard/groups/{group}/qr/menu.png?kind=telegram")).read()
    assert decode(menu) == [f"https://t.me/{BOT}?start=menu__{group}"]


async def test_one_poster_pdf(client):
    await login(client)
    r = await client.get(f"/dashboard/groups/{GROUP}/poster/qr-pay-shop.pdf")
    assert r.status == 200 and r.headers["Content-Type"] == "application/pdf"
    assert r.headers["Content-Disposition"] == f'attachment; filename="digiguide-poster-{GROUP}-qr-pay-shop.pdf"'
    pdf = await r.read()
    assert pdf.startswith(b"%PDF-") and b"/FontFile2" in pdf  # the font travels with the file
    assert pdf_pages(pdf) == (1, [[0, 0, 595, 842]])  # A4 in points
    assert [decode(i) for i in pdf_images(pdf)] == [[telegram_link("qr-pay-shop")], [web_link("qr-pay-shop")]]


async def test_all_posters_pdf_one_page_each(client, kb):
    await login(client)
    r = await client.get(f"/dashboard/groups/{GROUP}/posters.pdf")
    assert r.status == 200 and r.headers["Content-Disposition"] == f'attachment; filename="digiguide-posters-{GROUP}.pdf"'
    pdf = await r.read()
    pages, boxes = pdf_pages(pdf)
    assert pages == len(kb.guides) and set(map(tuple, boxes)) == {(0, 0, 595, 842)}
    decoded = [decode(i)[0] for i in pdf_images(pdf)]
    assert decoded == [link for guide in kb.guides for link in (telegram_link(guide), web_link(guide))]


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs pdftoppm (apt-get install poppler-utils) to rasterise the PDF")
async def test_printed_pdf_page_scans(client, tmp_path):
    """The PDF as a printer would draw it (poppler at 150 dpi): both codes on the page read back."""
    await login(client)
    pdf = tmp_path / "poster.pdf"
    pdf.write_bytes(await (await client.get(f"/dashboard/groups/{GROUP}/poster/safety-report-scam.pdf")).read())
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", str(pdf), str(tmp_path / "page")], check=True)
    page = Image.open(tmp_path / "page.png")
    assert page.size == (1241, 1754)  # A4 at 150 dpi
    assert decode(page) == sorted([telegram_link("safety-report-scam"), web_link("safety-report-scam")])


def test_every_poster_fits_its_page(kb):
    """All guides, both languages: the text fits the text area, with at least two steps in large type."""
    for lang in ("vi", "en"):
        for guide in kb.guides:
            poster = G.make_poster(kb, GROUP, guide, BOT, WEB, lang)
            chosen = G.fit(poster)
            assert chosen.height <= G.TEXT_BOTTOM - G.TEXT_TOP, (lang, guide, chosen)
            assert chosen.steps >= 2 and chosen.scale >= 85, (lang, guide, chosen)


def test_hotlines_come_from_the_guides_topic_then_the_guide(kb):
    """A poster first prints the number the topic sends people to (topics.yaml help), then the ones the
    guide itself mentions: an electricity poster shows EVNNPC, a signature poster the portal's line."""
    assert [h.number for h in G.guide_hotlines(kb, kb.guides["bills-electric-water"], "vi")] == ["1900 6769"]
    assert [h.number for h in G.guide_hotlines(kb, kb.guides["eid-activate"], "vi")] == ["1900 0368", "156 / 5656"]
    portal = kb.locality["hotlines"]["portal"]["number"]
    assert [h.number for h in G.guide_hotlines(kb, kb.guides["signature-remote-setup"], "vi")][0] == portal


def test_long_zalo_codes_get_smaller_type():
    assert [G.code_size(c) for c in ("ID1 PY5", "ID1 TDP5", "ABCD12 TDP5", "ABCDE123 ABCDE12")] == ["", " code-m", " code-s", " code-xs"]


def test_markdown_markers_in_content_are_printed_as_they_are():
    assert G._escape_md("a -- b ** c __ d ~~ e \\ f") == "a \\-- b \\** c \\__ d \\~~ e \\\\ f"
