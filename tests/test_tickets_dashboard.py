"""The officials' questions page and API over HTTP (the real server app on aiohttp's test server, a real
database on both engines (conftest's db_target: an SQLite file, or PostgreSQL), a real TicketStore and
Courier; tickets confirmed as the engine confirms them): what an official notices.

- the queue of one's own wards, oldest first, with the question, additions, channel, topic, what the bot
  did, the age against the promised delay in office hours; another ward's ticket is invisible (404);
- take, reply (with an entry attached as a button), close, from the page's forms and the JSON API; each
  reply's delivery (sent, queued, failed with the platform's words); every change audited without the
  question's text;
- a viewer reads without controls and is refused every change; bad input is a clear 4xx, never a 500;
- from an answered ticket into the content editor, pre-filled with the question and the answer; the
  publish records the ticket as turned into content; the figures and their CSV files.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from accountsutil import make_account, session_cookie
from analytics.accounts import Accounts, audit_log, connect
from analytics.web.words import CONTENT, TICKETS
from bot.server import CTX
from contentutil import content_server
from ticketsutil import Clock, Handover, confirm, handover, handover_app, vn
from webutil import Official, make_app

W = TICKETS["vi"]
MONDAY_8 = vn(2026, 12, 7, 8, 0)  # a Monday: due 8 office hours later, Tuesday 8:30
PHUC_YEN_Q = "Con tôi 14 tuổi làm định danh mức 2 ở đâu?"
XUAN_HOA_Q = "Xin hỏi lệ phí cấp lại căn cước ở phường Xuân Hòa"


@dataclass
class Site:
    client: TestClient
    h: Handover

    def official(self, name: str, role: str, wards: tuple[str, ...] = ()) -> Official:
        where = self.client.server.app[CTX].settings.database
        make_account(where, name, role, wards)
        return Official(self.client, session_cookie(where, name))

    def audit(self) -> list:
        with connect(self.client.server.app[CTX].settings.database) as db:
            return audit_log(db)


@pytest.fixture
async def site(tmp_path, db_target, kb, matcher) -> AsyncIterator[Site]:
    app, h = handover_app(tmp_path, kb, matcher, Clock(MONDAY_8), db_target)
    async with TestClient(TestServer(app)) as client:
        yield Site(client, h)
    h.close()


def tickets_on(page: str) -> list[str]:
    """The ticket codes of the queue, in the page's order."""
    return re.findall(r'<article class="card ticket[^"]*" id="ticket-\d+" data-id="\d+" data-code="(#\d+)"', page)


def article(page: str, code: str) -> str:
    found = re.search(rf'<article [^>]*data-code="{code}".*?</article>', page, re.S)
    assert found, code
    return found.group(0)


async def test_each_official_sees_the_queue_of_their_wards_only(site):
    h = site.h
    a = confirm(h.tickets, h.salt, ward="phuc-yen", question=PHUC_YEN_Q, attempt={"kind": "suggest", "entries": ["eid-levels", "eid-who-eligible"]})
    h.clock.advance(600)
    b = confirm(h.tickets, h.salt, ward="xuan-hoa", channel="zalo", chat="z-77", question=XUAN_HOA_Q, topic="fees")
    h.clock.at(vn(2026, 12, 8, 9, 30))  # Tuesday 9:30
    c = confirm(h.tickets, h.salt, ward="phuc-yen", channel="web", chat="sess-1", question="Đổi ảnh trên VNeID được không?", attempt={})
    h.tickets.add(a.id, "Cháu ở tổ dân phố 5")
    h.clock.at(vn(2026, 12, 8, 10, 30))  # Tuesday 10:30: a was due at 8:30, c is due Wednesday 10:00

    lan = site.official("lan", "editor", ("phuc-yen",))
    status, page = await lan.page()
    assert status == 200
    assert tickets_on(page) == [a.code, c.code]  # oldest first; nothing of Xuân Hòa
    assert XUAN_HOA_Q not in page and b.code not in page
    first = article(page, a.code)
    assert PHUC_YEN_Q.replace("?", "") in first and "Cháu ở tổ dân phố 5" in first
    assert "Telegram" in first and "phường Phúc Yên" in first and "VNeID – định danh điện tử" in first
    assert W["attempt_suggest"] in first and "mức 1 và mức 2" in first  # the entries the bot suggested, by title
    assert "Quá hạn 2 giờ" in first and 'data-late="true"' in first  # 2 office hours past Tuesday 8:30
    web = article(page, c.code)
    assert "Còn 7 giờ đến hạn" in web and W["attempt_none"] in web  # 1 h Tuesday morning, 3.5 h afternoon, 2.5 h Wednesday
    assert 'id="ward-filter"' not in page  # a bound official has no ward menu

    # the API says the same, and another ward's ticket does not exist for her
    r = await lan.api("GET", "/dashboard/api/tickets")
    listed = (await r.json())["tickets"]
    assert [t["code"] for t in listed] == [a.code, c.code]
    assert set(listed[0]) >= {"id", "code", "ward", "channel", "topic", "question", "created_at", "status", "taken_by", "first_answer_at", "due_at", "messages"}
    assert listed[0]["due_at"] == vn(2026, 12, 8, 8, 30) and listed[0]["messages"] == 1 and listed[0]["status"] == "open"
    for method, path in (("GET", f"/dashboard/api/tickets/{b.id}"), ("POST", f"/dashboard/api/tickets/{b.id}/take"), ("POST", f"/dashboard/api/tickets/{b.id}/close")):
        r = await lan.api(method, path, {} if method == "POST" else None)
        assert r.status == 404 and (await r.json()) == {"error": "no such ticket"}, path
    r = await lan.api("POST", f"/dashboard/api/tickets/{b.id}/reply", {"text": "Xin chào"})
    assert r.status == 404
    r = await lan.form(f"/dashboard/tickets/{b.id}/reply", {"text": "Xin chào"})
    assert r.status == 404 and XUAN_HOA_Q not in await r.text()
    assert h.tickets.get(b.id).messages == () and h.tickets.get(b.id).status == "open"
    status, _ = await lan.page(ward="xuan-hoa")  # asking for another ward's queue is refused outright
    assert status == 403

    # an official bound to no ward sees every ward and filters by one
    binh = site.official("binh", "editor")
    _, page = await binh.page()
    assert tickets_on(page) == [a.code, b.code, c.code] and 'id="ward-filter"' in page
    _, page = await binh.page(ward="xuan-hoa")
    assert tickets_on(page) == [b.code]
    r = await binh.api("GET", f"/dashboard/api/tickets/{b.id}")
    detail = (await r.json())["ticket"]
    assert detail["question"] == XUAN_HOA_Q and detail["channel"] == "zalo" and detail["messages"] == []


async def test_reply_with_an_entry_is_delivered_and_its_status_shown(site):
    h = site.h
    telegram = h.platform("telegram")
    zalo = h.platform("zalo").fail("403 Forbidden: the user blocked the bot")
    a = confirm(h.tickets, h.salt, ward="phuc-yen", question=PHUC_YEN_Q)
    b = confirm(h.tickets, h.salt, ward="phuc-yen", channel="zalo", chat="z-1", question="Zalo hỏi")
    c = confirm(h.tickets, h.salt, ward="phuc-yen", channel="web", chat="sess-9", question="Web hỏi")
    h.clock.advance(3600)
    lan = site.official("lan", "editor", ("phuc-yen",))

    r = await lan.api("POST", f"/dashboard/api/tickets/{a.id}/reply", {"text": "Cháu mang căn cước đến công an phường.", "entry": "eid-levels"})
    assert r.status == 200, await r.text()
    assert await r.json() == {"delivery": "sent"}  # the contract's answer
    detail = (await (await lan.api("GET", f"/dashboard/api/tickets/{a.id}")).json())["ticket"]
    assert detail["status"] == "answered" and detail["taken_by"] == "lan" and detail["first_answer_at"] == h.clock.now
    [message] = detail["messages"]
    assert (message["author"], message["entry"], message["delivery"], message["error"]) == ("lan", "eid-levels", "sent", None)
    [(item, replies)] = telegram.sent
    assert item.address == "1001" and item.entry_id == "eid-levels"
    assert "Cháu mang căn cước đến công an phường." in replies[0].text and a.code in replies[0].text
    assert replies[0].buttons[0][0].action == "f:eid-levels"  # the attached entry, as a button that opens it

    r = await lan.api("POST", f"/dashboard/api/tickets/{b.id}/reply", {"text": "Trả lời trên Zalo"})
    assert (await r.json()) == {"delivery": "failed"} and zalo.sent == []
    detail = (await (await lan.api("GET", f"/dashboard/api/tickets/{b.id}")).json())["ticket"]
    assert detail["messages"][0]["error"] == "403 Forbidden: the user blocked the bot"
    r = await lan.form(f"/dashboard/tickets/{c.id}/reply", {"text": "Trả lời trên trang web", "entry": "", "view": "open"})
    assert r.status == 303 and r.headers["Location"].startswith("/dashboard/tickets?status=answered&done=reply")
    back = URL(r.headers["Location"])
    status, page = await lan.page(back.path, **back.query)
    assert status == 200 and W["done_reply_queued"].format(code=c.code) in page
    assert tickets_on(page) == [a.code, b.code, c.code]
    assert 'data-delivery="sent">Đã gửi' in article(page, a.code) and "Kèm mục: Tài khoản định danh mức 1 và mức 2" in article(page, a.code)
    failed = article(page, b.code)
    assert 'data-delivery="failed">Không gửi được' in failed and "403 Forbidden: the user blocked the bot" in failed
    assert 'data-delivery="queued">Đang chờ gửi' in article(page, c.code) and W["queued_web"] in article(page, c.code)

    # the audit log has each reply, the ward, the entry and the delivery; never the question or the answer
    rows = [e for e in site.audit() if e.action == "ticket.reply"]
    assert [(e.actor, e.target, e.detail["delivery"]) for e in rows] == [("lan", f"ticket:{c.id}", "queued"), ("lan", f"ticket:{b.id}", "failed"), ("lan", f"ticket:{a.id}", "sent")]
    assert rows[-1].detail == {"ward": "phuc-yen", "entry": "eid-levels", "delivery": "sent"}
    assert not any("hỏi" in json.dumps(e.detail, ensure_ascii=False) or "căn cước" in json.dumps(e.detail, ensure_ascii=False) for e in rows)


async def test_take_and_close_from_the_page(site):
    h = site.h
    a = confirm(h.tickets, h.salt, ward="phuc-yen", question=PHUC_YEN_Q)
    lan, mai = site.official("lan", "editor", ("phuc-yen",)), site.official("mai", "editor", ("phuc-yen",))
    _, page = await mai.page()
    assert 'data-action="take">Nhận xử lý' in article(page, a.code)
    r = await mai.form(f"/dashboard/tickets/{a.id}/take", {"view": "open"})
    assert r.status == 303
    _, page = await lan.page(status="open", done="take", ticket=str(a.id))
    assert "mai" in re.search(r'class="taken-by">([^<]*)<', article(page, a.code)).group(1)
    assert W["done_take"].format(code=a.code) in page  # whoever follows the link reads what was done to the ticket
    assert 'data-action="take">Nhận lại từ người khác' in article(page, a.code)
    r = await lan.form(f"/dashboard/tickets/{a.id}/close", {"view": "open"})
    assert r.status == 303 and r.headers["Location"].startswith("/dashboard/tickets?status=closed")
    _, page = await lan.page()
    assert tickets_on(page) == [] and W["none_open"] in page
    _, page = await lan.page(status="closed")
    closed = article(page, a.code)
    assert 'data-status="closed"' in closed and 'data-action="reply"' not in closed and W["unanswered_end"] in closed
    assert h.tickets.get(a.id).status == "closed"
    actions = [(e.actor, e.action, e.target) for e in site.audit() if e.action.startswith("ticket.")]
    assert actions == [("lan", "ticket.close", f"ticket:{a.id}"), ("mai", "ticket.take", f"ticket:{a.id}")]


async def test_a_viewer_reads_without_controls_and_changes_nothing(site):
    h = site.h
    a = confirm(h.tickets, h.salt, ward="phuc-yen", question=PHUC_YEN_Q)
    an = site.official("an", "viewer", ("phuc-yen",))
    status, page = await an.page()
    assert status == 200 and tickets_on(page) == [a.code]
    assert "<textarea" not in page and "/take" not in page and "/reply" not in page and "/close" not in page and 'id="entry-list"' not in page
    for path in (f"/dashboard/tickets/{a.id}/reply", f"/dashboard/tickets/{a.id}/take", f"/dashboard/tickets/{a.id}/close"):
        r = await an.form(path, {"text": "x"})
        assert r.status == 403, path
    for action in ("reply", "take", "close"):
        r = await an.api("POST", f"/dashboard/api/tickets/{a.id}/{action}", {"text": "x"})
        assert r.status == 403 and (await r.json()) == {"error": "needs the editor role"}
    assert h.tickets.get(a.id).messages == () and h.tickets.get(a.id).taken_by is None
    # and a bearer token of the viewer role reads the API
    with connect(site.client.server.app[CTX].settings.database) as db:
        token = Accounts(db).add_token("bao-cao", "viewer", ["phuc-yen"], actor="cli")
    r = await site.client.get("/dashboard/api/tickets", headers={"Authorization": f"Bearer {token}"})
    assert [t["code"] for t in (await r.json())["tickets"]] == [a.code]


async def test_bad_input_is_a_clear_4xx(site):
    h = site.h
    a = confirm(h.tickets, h.salt, ward="phuc-yen", question=PHUC_YEN_Q)
    done = confirm(h.tickets, h.salt, ward="phuc-yen", chat="2002", question="đã xong")
    h.tickets.close(done.id, "mai")
    lan = site.official("lan", "editor", ("phuc-yen",))
    reply = f"/dashboard/api/tickets/{a.id}/reply"
    cases = [
        ({"text": ""}, 400, "text must be a non-empty text"), ({"text": "   "}, 400, "text must be a non-empty text"), ({}, 400, "text must be a non-empty text"),
        ({"text": 5}, 400, "text must be a non-empty text"), ({"text": "x" * 4001}, 400, "text is longer than 4000 characters"),
        ({"text": "ok", "entry": "no-such-entry"}, 400, "entry must be the id of an FAQ entry or a guide of the content"),
        ({"text": "ok", "entry": ["eid-levels"]}, 400, "entry must be the id of an FAQ entry or a guide of the content"),
        ([1, 2], 400, "body must be a JSON object"),
    ]
    for body, status, error in cases:
        r = await lan.api("POST", reply, body)
        assert (r.status, await r.json()) == (status, {"error": error}), body
    r = await lan.api("POST", reply, raw=b"{not json")
    assert r.status == 400 and (await r.json()) == {"error": "body is not valid JSON"}
    r = await lan.api("POST", f"/dashboard/api/tickets/{done.id}/reply", {"text": "muộn rồi"})
    assert r.status == 409 and "closed" in (await r.json())["error"]
    r = await lan.api("POST", f"/dashboard/api/tickets/{done.id}/close", {})
    assert r.status == 409
    r = await lan.api("POST", "/dashboard/api/tickets/999999/reply", {"text": "x"})
    assert r.status == 404
    r = await lan.api("GET", "/dashboard/api/tickets?status=bogus")
    assert r.status == 400 and "status must be one of open, answered, closed" in (await r.json())["error"]
    assert h.tickets.get(a.id).messages == () and h.tickets.get(a.id).status == "open"
    # the page's form: the reason in words, the typed answer kept, nothing stored
    r = await lan.form(f"/dashboard/tickets/{a.id}/reply", {"text": "Câu trả lời kèm mục sai", "entry": "no-such-entry", "view": "open"})
    page = await r.text()
    assert r.status == 400 and W["err_entry"] in page and ">Câu trả lời kèm mục sai</textarea>" in page and 'value="no-such-entry"' in page
    r = await lan.form(f"/dashboard/tickets/{done.id}/reply", {"text": "x"})
    assert r.status == 409 and W["err_ended"] in await r.text()
    r = await lan.form(f"/dashboard/tickets/{a.id}/reply", {"text": " ", "view": "bogus", "ward": "x" * 500})
    assert r.status == 400 and W["err_empty"] in await r.text()
    status, page = await lan.page(status="bogus", since="2026-13-01", until="yesterday")
    assert status == 200 and tickets_on(page) == [a.code] and W["bad_dates"] in page  # the default view and range
    r = await lan.client.get("/dashboard/tickets/export/wards.csv", params={"since": "nope"}, headers=lan.headers())
    assert r.status == 400
    r = await lan.client.post(f"/dashboard/tickets/{a.id}/reply", data={"text": "no token"}, headers=lan.headers(), allow_redirects=False)
    assert r.status == 403  # no CSRF token: refused before anything is read
    assert h.tickets.get(a.id).messages == ()


async def test_handover_off_says_so(tmp_path, kb, matcher):
    app = make_app(tmp_path, kb, matcher)  # an engine without a ticket store: asking an official is off
    assert app[CTX].tickets is None and app[CTX].courier is None
    async with TestClient(TestServer(app)) as client:
        where = app[CTX].settings.database
        make_account(where, "lan", "editor", ("phuc-yen",))
        lan = Official(client, session_cookie(where, "lan"))
        status, page = await lan.page()
        assert status == 200 and W["off"] in page
        r = await lan.api("GET", "/dashboard/api/tickets")
        assert (await r.json()) == {"tickets": []}
        r = await lan.api("POST", "/dashboard/api/tickets/1/reply", {"text": "x"})
        assert r.status == 404


async def test_figures_and_their_csv(site):
    h = site.h
    a = confirm(h.tickets, h.salt, ward="phuc-yen", question=PHUC_YEN_Q)
    confirm(h.tickets, h.salt, ward="phuc-yen", channel="zalo", chat="z-2", question="Zalo", topic="fees")
    confirm(h.tickets, h.salt, ward="xuan-hoa", question=XUAN_HOA_Q, chat="3003")
    h.clock.advance(2 * 3600)  # Monday 10:00: two office hours later
    h.tickets.reply(a.id, "lan", "Trả lời")
    binh = site.official("binh", "editor")
    _, page = await binh.page()
    kpis = dict(re.findall(r'data-key="(\w+)"><div class="kpi-label">[^<]*</div><div class="kpi-value">([^<]*)<', page))
    assert kpis["tickets"] == "3" and kpis["answered"] == "1" and kpis["median"] == "2,0 giờ" and kpis["in_time"] == "100,0 %" and kpis["open_now"] == "2"
    r = await binh.client.get("/dashboard/tickets/export/wards.csv", params={"since": "2026-12-01", "until": "2026-12-31"}, headers=binh.headers())
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO((await r.read()).decode("utf-8-sig"))))
    assert [(row["ward"], row["name"], row["tickets"], row["answered"]) for row in rows] == [("phuc-yen", "phường Phúc Yên", "2", "1"), ("xuan-hoa", "phường Xuân Hòa", "1", "0")]
    # a ward-bound official's figures are those of her wards only
    lan = site.official("lan", "viewer", ("xuan-hoa",))
    r = await lan.client.get("/dashboard/tickets/export/summary.csv", headers=lan.headers())
    [summary] = list(csv.DictReader(io.StringIO((await r.read()).decode("utf-8-sig"))))
    assert summary["tickets"] == "1" and summary["notified"] == ""
    assert (await lan.client.get("/dashboard/tickets/export/nope.csv", headers=lan.headers())).status == 404


async def test_from_an_answer_into_the_content(tmp_path, content_copy, matcher):
    server = content_server(tmp_path, content_copy, matcher)
    h = handover(server.app, Clock(MONDAY_8))
    question = "vneid hang hai va hang mot"
    a = confirm(h.tickets, h.salt, ward="phuc-yen", question=question, attempt={"kind": "suggest", "entries": ["eid-levels"]}, question_key="vneid hang hai va hang mot")
    h.clock.advance(3600)
    official_answer = "Mức 2 có thêm ảnh chân dung và vân tay, làm tại công an phường."
    h.tickets.reply(a.id, "lan", official_answer, "eid-levels")
    try:
        async with TestClient(TestServer(server.app)) as client:
            where = server.app[CTX].settings.database
            make_account(where, "lan", "editor", ("phuc-yen",))
            make_account(where, "minh", "editor", ("xuan-hoa",))
            lan, minh = Official(client, session_cookie(where, "lan")), Official(client, session_cookie(where, "minh"))
            _, page = await lan.page(status="answered")
            links = article(page, a.code)
            assert f'href="/dashboard/content/new?kind=faq&amp;ticket={a.id}" data-action="save-faq">{W["save_faq"]}' in links
            assert f'href="/dashboard/content/faq/eid-levels?ticket={a.id}" data-action="add-phrasing">' in links

            # "save as FAQ": a new entry with the question and the official's answer
            _, new = await lan.page("/dashboard/content/new", kind="faq", ticket=str(a.id))
            data = content_data(new)
            assert data["entry"]["questions"]["vi"] == [question] and data["entry"]["answer"]["vi"] == official_answer
            assert data["prefill"]["ticket"] == a.id and data["prefill"]["answer"] == official_answer and "vneid hang hai va hang mot" in data["prefill"]["resolves"]
            assert CONTENT["vi"]["prefill_ticket"].format(code=a.code) in new

            # "add as a phrasing of eid-levels": the entry keeps its answer, the official's is shown beside it
            _, edit = await lan.page("/dashboard/content/faq/eid-levels", ticket=str(a.id))
            data = content_data(edit)
            assert data["entry"]["questions"]["vi"][-1] == question and data["entry"]["answer"]["vi"] != official_answer
            assert 'id="prefill-answer"' in edit and official_answer in edit
            r = await client.put("/dashboard/api/content/faq/eid-levels", json={"entry": data["entry"], "version": data["version"], "ticket": a.id},
                                 headers={**lan.headers(), "X-CSRF-Token": data["csrf"]})
            assert r.status == 200, await r.text()
            assert h.tickets.get(a.id).content_entry == "eid-levels"
            _, page = await lan.page(status="answered")
            assert W["became_content"].format(title="Tài khoản định danh mức 1 và mức 2 khác nhau thế nào?") in article(page, a.code)

            # an editor of another ward gets no pre-fill from it, and cannot record it
            _, other = await minh.page("/dashboard/content/new", kind="faq", ticket=str(a.id))
            assert content_data(other)["prefill"] is None and official_answer not in other
            version = content_data(other)["version"]
            r = await client.post("/dashboard/api/content/faq", json={"entry": {"id": "x"}, "version": version, "ticket": a.id},
                                  headers={**minh.headers(), "X-CSRF-Token": content_data(other)["csrf"]})
            assert r.status == 400 and "no such question" in (await r.json())["error"]
            r = await client.get("/dashboard/api/content/prefill", params={"ticket": str(a.id)}, headers=lan.headers())
            assert (await r.json())["answer"] == official_answer
            r = await client.get("/dashboard/api/content/prefill", params={"ticket": str(a.id)}, headers=minh.headers())
            assert r.status == 400
    finally:
        h.close()
        server.close()


def content_data(page: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="content-data">(.*?)</script>', page, re.S).group(1))
