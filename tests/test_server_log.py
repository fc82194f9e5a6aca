"""The server log as `python -m bot serve` sets it up (bot.logs.configure_logging): a poster PDF, whose font
fpdf2 subsets through fontTools, adds no fontTools lines to it. The PDF comes from the real dashboard route
on the real server app; the log is the server's own handler, pointed at a buffer."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from analytics.store import connect
from bot.logs import configure_logging
from webutil import app_settings, make_app

QUIETED = ("fontTools", "httpx", "aiohttp.access")  # the loggers configure_logging sets a level on


@pytest.fixture
def server_log() -> Iterator[io.StringIO]:
    """configure_logging as the server calls it, its handler writing here; afterwards logging as it was."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in QUIETED}
    buffer = io.StringIO()
    configure_logging(["tok"])
    root.handlers[0].setStream(buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, old in levels.items():
            logging.getLogger(name).setLevel(old)


async def pdf(client: TestClient, group: str, guide: str) -> bytes:
    r = await client.get(f"/dashboard/groups/{group}/poster/{guide}.pdf")
    assert r.status == 200 and r.headers["Content-Type"] == "application/pdf"
    body = await r.read()
    assert body.startswith(b"%PDF-") and b"/FontFile2" in body  # the subset font is in it
    return body


async def test_poster_pdfs_leave_no_font_subsetting_lines_in_the_server_log(tmp_path, kb, matcher, server_log):
    connect(tmp_path / "x.db").close()
    app = make_app(tmp_path, kb, matcher, app_settings(tmp_path, telegram_username="DigiGuidePhuThoBot", public_url="https://chat.example.vn"))
    client = TestClient(TestServer(app))
    await client.start_server()
    group, first, second = next(iter(kb.working_groups)), *list(kb.guides)[:2]
    try:
        origin = str(client.make_url("/")).rstrip("/")
        r = await client.post("/dashboard/login", data={"token": "tok", "next": "/dashboard/groups"}, headers={"Origin": origin}, allow_redirects=False)
        assert r.status == 303
        await pdf(client, group, first)
        assert "fontTools" not in server_log.getvalue()
        assert "INFO digiguide.server: DigiGuide on" in server_log.getvalue()  # the log is live: the start-up lines are in it

        # the same request with fontTools left at the root's level (INFO): the lines this keeps out
        logging.getLogger("fontTools").setLevel(logging.NOTSET)
        await pdf(client, group, second)
        assert "INFO fontTools.subset: " in server_log.getvalue(), "fontTools no longer logs while subsetting: this test checks nothing"
    finally:
        await client.close()
