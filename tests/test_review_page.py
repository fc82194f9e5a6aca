"""The review list in the dashboard (issue 11 §3): what an office should re-check, most asked first, on the
live content and the events of the last 90 days (in the database of either engine: conftest's db_target)."""

from __future__ import annotations

import re
import time

from aiohttp.test_utils import TestClient, TestServer

from analytics.store import connect, write_batch
from bot.engine import Engine, Event
from bot.knowledge import load_knowledge
from bot.matcher import Matcher
from bot.server import build_app
from bot.service import ChatService
from bot.state import SqliteStateStore
from test_dashboard import TOKEN, login
from webutil import app_settings


def expire(content, faq_file: str, entry_id: str, until: str) -> None:
    """Give `entry_id` a valid_until date, as an editor would (a line after its id)."""
    path = content / "faq" / faq_file
    text = path.read_text(encoding="utf-8")
    marker = f"- id: {entry_id}\n"
    assert marker in text
    path.write_text(text.replace(marker, marker + f"  valid_until: {until}\n", 1), encoding="utf-8")


def asked(entry_id: str, n: int) -> list[Event]:
    now = time.time()
    return [Event(ts=now - i, channel="web", user=f"u{i}", lang="vi", kind="faq", topic="eid", entry_id=entry_id) for i in range(n)]


async def review_client(tmp_path, content, where=None):
    """The server on `content` and the database `where` (a db_target; None: a file in tmp_path), with asks."""
    kb = load_knowledge(content)
    where = where or str(tmp_path / "analytics.db")
    with connect(where) as db:
        write_batch(db, asked("eid-what-is", 7) + asked("eid-forgot-password", 3))
    settings = app_settings(tmp_path, db=where, dashboard_token=TOKEN, content_dir=content)
    service = ChatService(Engine(kb, SqliteStateStore(tmp_path / "state.db"), "t", matcher=Matcher(kb)))
    return TestClient(TestServer(build_app(settings, service)))


async def test_expired_answers_are_listed_most_asked_first_with_why(tmp_path, db_target, content_copy):
    expire(content_copy, "eid.yaml", "eid-forgot-password", "2025-01-31")
    expire(content_copy, "eid.yaml", "eid-what-is", "2025-03-01")
    async with await review_client(tmp_path, content_copy, db_target) as client:
        await login(client)
        page = await (await client.get("/dashboard/review")).text()
        keys = re.findall(r'<tr data-key="([^"]+)" data-severity="(\d)"', page)
        assert keys[:2] == [("faq:eid-what-is", "5"), ("faq:eid-forgot-password", "5")]  # 7 asks before 3
        assert "Đã hết hiệu lực" in page and "expired 2025-03-01" in page
        assert "Công an xã/phường" in page  # the owner office by name, from locality.yaml
        row = re.search(r'<tr data-key="faq:eid-what-is".*?</tr>', page, re.S).group(0)
        link = re.search(r'<a class="edit-link" href="([^"]+)">Sửa</a>', row).group(1)
        assert link == "/dashboard/content/faq/eid-what-is"  # one click to the editor, on that entry
        editor = await client.get(link)
        assert editor.status == 200 and 'id="f-questions-vi"' in await editor.text()
        data = await (await client.get("/dashboard/api/review")).json()
        first = data["items"][0]
        assert first["key"] == "faq:eid-what-is" and first["asked"] == 7 and data["asked_days"] == 90
        english = await (await client.get("/dashboard/review?lang=en")).text()
        assert "Needs review" in english and "Expired" in english


async def test_the_review_list_needs_a_login(tmp_path, content_copy):
    async with await review_client(tmp_path, content_copy) as client:
        assert (await client.get("/dashboard/api/review")).status == 401
        r = await client.get("/dashboard/review", allow_redirects=False)
        assert r.status in (302, 303) and "/dashboard/login" in r.headers["Location"]
