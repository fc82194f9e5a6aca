"""The officials' dashboard at /dashboard, in the same aiohttp app as the chat: token login, charts and
tables over analytics.report, the unanswered-question inbox, CSV exports and a printable weekly summary.

Routes (all registered by `setup`; every one but the login page and the static files needs a session):

    GET  /dashboard/                   the dashboard (filters in the query string: since, until, channel,
                                       topic, ward, source; "_" selects "not set"; lang=vi|en; ignored=1)
    GET  /dashboard/weekly             one-page weekly summary for the ward meeting (?week=2025-W10, filters)
    GET  /dashboard/api/section/<s>    one report section as JSON {"section", "data"}; <s> in SECTIONS
    GET  /dashboard/export/<s>.csv     the same section as CSV (UTF-8 with BOM, so Excel shows Vietnamese)
    POST /dashboard/api/mark           {"keys": [...], "status": "resolved"|"ignored"|"open", "entry_id": ...}
    GET  /dashboard/login              the login form; POST /dashboard/login {token, next} starts a session
    POST /dashboard/logout             ends it
    GET  /dashboard/static/<file>      CSS, JS and the vendored Chart.js (no data; public)

Security
- Login compares the token with settings.dashboard_token in constant time; an empty setting refuses every
  login. Every check of the token (this form, POST /admin/reload) goes through the server's one lockout,
  bot.secrets_guard: per real client address (bot.clientinfo believes a trusted proxy's X-Forwarded-For),
  growing while the client keeps guessing, and while it lasts even the right token gets 429 with
  Retry-After. The session is a random id in an HttpOnly, SameSite=Strict cookie with Path=/dashboard
  (Secure when the browser's request was https, directly or as a trusted proxy's X-Forwarded-Proto says);
  the server keeps the sessions in memory (a restart logs everyone out), by the id's SHA-256, with idle and
  absolute expiry. A session id is 256 random bits, not something to guess: an unknown one is a lapsed
  session and is not counted against the client, so an official who is logged in keeps working while a
  guesser at the same address is locked out.
- Without a session, pages redirect to the login and data (API, CSV) answers 401. Unknown paths under
  /dashboard/ do the same, so nothing about the routes leaks before login.
- Every POST (login, logout, mark) must come from this host (Origin, or Referer when there is no Origin);
  logout and mark also need the session's CSRF token (form field `csrf` or header X-CSRF-Token), compared
  in constant time. A forged cross-site POST gets 403 and changes nothing.
- The same strict Content-Security-Policy as the web chat (bot/httpsec.py's headers): scripts only from
  our own files, no inline script or style. Page data reaches the script in a <script type="application/json"> block; everything
  citizens typed is put into the page with textContent (browser) or html.escape (server).
  Referrer-Policy is "same-origin" (not "no-referrer"): with no-referrer, browsers send `Origin: null` on
  same-origin POSTs and the origin check could not tell our own forms from forged ones.
- The printed login link (`serve` with a generated token) carries the token in the URL fragment
  (/dashboard/login#token=...), which browsers never send to the server: it stays out of access logs and
  Referer headers. login.js moves it into the form, clears the address bar and submits.

Speed: each request opens its own connection (analytics.store.connect) on a small thread pool of its own,
so queries never block the event loop; report.py reads rollups only. The page loads its sections in
parallel, one small API call each. Without since/until in the query the page redirects to the last
DEFAULT_DAYS days that have data (the URL says what is shown; clear both dates for all time).
Computed sections (and the filter menus) are kept in memory (ResultCache) for CACHE_TTL seconds, keyed by
section and parsed filters (titles, which depend on the language, are added per request); a request for a
section being computed waits for that computation. So new events show up to CACHE_TTL seconds late. A
mark drops the cached inboxes (no other section reads the marks), so the inbox shows it at once. From
startup until cleanup a warmer task recomputes both standard views, the default range and all time, every
WARM_EVERY seconds, one section after another: at one million events on two cores their whole pages take
about 20 ms, against 0.45 s and 1.15 s computed. DIGIGUIDE_DASHBOARD_CACHE_TTL=0 turns the cache and the
warmer off (bench/bench_dashboard.py's cold run).
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import hashlib
import hmac
import html
import io
import json
import logging
import os
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Awaitable, Callable, Hashable, Iterable
from urllib.parse import urlencode, urlsplit

import sqlite_utils
from aiohttp import web

from bot import httpsec, jsonbody
from bot.channels.base import ServerContext
from bot.knowledge import KnowledgeBase
from bot.secrets_guard import check_secret, shared_throttle

from . import report as rpt
from .store import VIETNAM, connect

log = logging.getLogger("digiguide.dashboard")

PREFIX = "/dashboard"
STATIC_DIR = Path(__file__).resolve().parent / "static"
COOKIE = "dg_session"
LANG_COOKIE = "dg_lang"
SESSION_IDLE = 8 * 3600
SESSION_LIFETIME = 24 * 3600
MAX_SESSIONS = 1000
MAX_BODY = 64 * 1024
NONE_VALUE = "_"  # a filter value meaning "not set" (report.Filters' "")
FILTER_KEYS = ("since", "until", "channel", "topic", "ward", "source")
DEFAULT_DAYS = 28
PER_TOPIC, CLUSTERS, MIN_VOTES = 10, 50, 3  # the tables (and their CSV) show this much
SHEET_TEXT = 90  # characters of a citizen's question on the printed weekly summary
SECTIONS = (
    "totals", "by_topic", "by_channel", "by_ward", "by_lang", "by_source", "daily", "weekly",
    "top_questions", "unanswered", "helpfulness", "funnels",
)
LANGS = ("vi", "en")
CACHE_TTL = 60.0  # seconds a computed section is served from memory (DIGIGUIDE_DASHBOARD_CACHE_TTL; 0: no cache)
CACHE_ENTRIES = 128  # computed sections kept at most (the least recently used go first)
WARM_EVERY = 45.0  # seconds between the warmer's passes over the standard views (well inside CACHE_TTL)
CHANNEL_LABELS = {"web": "Web", "telegram": "Telegram", "zalo": "Zalo", "console": "Console"}
WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")

# bot.httpsec's headers (its CSP, nosniff, DENY), with the dashboard's own referrer policy (see Security above)
# and no cross-origin window or embedding of its pages and data
SECURITY_HEADERS: Mapping[str, str] = MappingProxyType(
    {
        **httpsec.SECURITY_HEADERS,
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
    }
)
PRIVATE = {"Cache-Control": "no-store"}
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}

# -- words -----------------------------------------------------------------------------------------------------
# One table for the server's HTML and the browser's script (the script gets its language's half as JSON).
T: dict[str, dict[str, str]] = {
    "vi": {
        "app": "DigiGuide", "title": "Bảng điều khiển", "switch": "English", "switch_lang": "en",
        "login_title": "Đăng nhập bảng điều khiển", "token": "Mã truy cập", "login": "Đăng nhập",
        "login_help": "Mã truy cập do người quản trị máy chủ cung cấp (biến DIGIGUIDE_DASHBOARD_TOKEN, hoặc đường dẫn in ra khi khởi động máy chủ).",
        "wrong_token": "Mã truy cập không đúng.", "too_many": "Thử sai quá nhiều lần. Vui lòng đợi {minutes} phút rồi thử lại.",
        "disabled": "Bảng điều khiển chưa được bật: máy chủ chưa có mã truy cập.",
        "forbidden": "Yêu cầu bị từ chối (không đến từ trang này). Hãy tải lại trang rồi thử lại.",
        "logout": "Đăng xuất", "weekly": "Tóm tắt tuần", "dashboard": "Bảng điều khiển",
        "filters": "Bộ lọc", "since": "Từ ngày", "until": "Đến ngày", "channel": "Kênh", "topic": "Chủ đề",
        "ward": "Phường/xã", "source": "Nguồn", "all": "Tất cả", "none_topic": "(không có chủ đề)", "none_ward": "(không rõ)",
        "apply": "Lọc", "reset": "Mặc định (28 ngày)", "all_time": "Toàn bộ thời gian", "bad_filter": "Bộ lọc không hợp lệ",
        "questions": "Câu hỏi", "answer_rate": "Đã trả lời", "fallback_rate": "Không trả lời được",
        "acceptance": "Chọn gợi ý", "users": "Người dùng", "feedback": "Lượt đánh giá",
        "chart_time": "Câu hỏi theo chủ đề theo thời gian", "by_day": "Theo ngày", "by_week": "Theo tuần",
        "chart_topics": "Tỷ lệ theo chủ đề", "chart_channels": "Theo kênh", "chart_answered": "Đã trả lời và chưa trả lời",
        "chart_funnels": "Phễu hướng dẫn từng bước (% người bắt đầu)",
        "answered": "Đã trả lời", "suggest": "Chỉ gợi ý", "fallback": "Không trả lời được",
        "top_questions": "Câu hỏi nhiều nhất theo chủ đề", "inbox": "Hộp câu hỏi chưa trả lời được",
        "inbox_help": "Câu hỏi giống nhau được gom thành nhóm. Khi đã có nội dung trả lời, chọn mục đó rồi bấm “Đã giải quyết”; câu hỏi ngoài phạm vi thì bấm “Bỏ qua”. Dấu này được ghi nhớ cho cả các câu hỏi mới trong nhóm.",
        "lowest": "Câu trả lời bị đánh giá thấp nhất", "lowest_help": "Chỉ tính mục có ít nhất 3 lượt đánh giá.",
        "funnels": "Hướng dẫn từng bước", "csv": "Tải CSV", "downloads": "Tải dữ liệu (CSV)",
        "rank": "#", "question": "Câu hỏi (ví dụ)", "count": "Số lần", "last_day": "Lần cuối", "first_day": "Lần đầu",
        "entry": "Mục nội dung", "up": "Hữu ích", "down": "Không hữu ích", "helpful": "Tỉ lệ hữu ích",
        "guide": "Hướng dẫn", "started": "Bắt đầu", "finished": "Xem hết", "completion": "Tỉ lệ xem hết",
        "biggest_drop": "Rời đi nhiều nhất", "overview": "Tổng quan", "step": "Bước", "wrapup": "Kết thúc",
        "open": "Chưa xử lý", "resolved": "Đã giải quyết", "ignored": "Đã bỏ qua",
        "resolve": "Đã giải quyết", "ignore": "Bỏ qua", "reopen": "Mở lại", "choose_entry": "— Chọn mục trả lời —",
        "answered_by": "Trả lời bằng", "marked_on": "đánh dấu ngày", "after_mark": "câu hỏi mới sau khi đánh dấu: nên xem lại nội dung",
        "show_ignored": "Hiện cả nhóm đã bỏ qua", "hide_ignored": "Ẩn nhóm đã bỏ qua", "times": "lần hỏi",
        "loading": "Đang tải…", "error": "Không tải được dữ liệu. Hãy tải lại trang.", "empty": "Không có dữ liệu trong khoảng này.",
        "saved": "Đã lưu.", "no_topic": "(không có chủ đề)", "none": "(không rõ)",
        "note_topic": "Số người dùng không tính theo chủ đề nên để trống khi lọc theo chủ đề.",
        "note_source": "Câu hỏi nhiều nhất và hộp câu hỏi chưa trả lời không lọc được theo nguồn.",
        "section_totals": "Tổng quan", "section_by_topic": "Theo chủ đề", "section_by_channel": "Theo kênh",
        "section_by_ward": "Theo phường/xã", "section_by_lang": "Theo ngôn ngữ", "section_by_source": "Theo nguồn (chiến dịch)",
        "section_daily": "Theo ngày và chủ đề", "section_weekly": "Theo tuần và chủ đề",
        "section_top_questions": "Câu hỏi nhiều nhất", "section_unanswered": "Câu hỏi chưa trả lời được",
        "section_helpfulness": "Đánh giá câu trả lời", "section_funnels": "Phễu hướng dẫn",
        "weekly_title": "Tóm tắt tuần", "week": "Tuần", "print": "In trang này", "prev_week": "← Tuần trước",
        "next_week": "Tuần sau →", "last_week": "Tuần trước", "show": "Xem", "vs_prev": "so với tuần trước", "per_day": "Câu hỏi mỗi ngày",
        "top5": "Câu hỏi nhiều nhất", "unanswered5": "Câu hỏi chưa trả lời được nhiều nhất",
        "review": "Câu trả lời cần xem lại", "guides": "Hướng dẫn từng bước", "whole_area": "Toàn địa bàn",
        "generated": "Lập lúc", "source_note": "Nguồn: DigiGuide. Ngày theo giờ Việt Nam. Câu hỏi của người dân đã được che thông tin cá nhân.",
        "days": "T2,T3,T4,T5,T6,T7,CN", "nothing": "Không có.",
    },
    "en": {
        "app": "DigiGuide", "title": "Dashboard", "switch": "Tiếng Việt", "switch_lang": "vi",
        "login_title": "Dashboard login", "token": "Access token", "login": "Log in",
        "login_help": "The access token comes from the server's administrator (DIGIGUIDE_DASHBOARD_TOKEN, or the link printed when the server starts).",
        "wrong_token": "That token is not right.", "too_many": "Too many failed attempts. Please wait {minutes} min and try again.",
        "disabled": "The dashboard is off: the server has no access token.",
        "forbidden": "Request refused (it did not come from this page). Reload the page and try again.",
        "logout": "Log out", "weekly": "Weekly summary", "dashboard": "Dashboard",
        "filters": "Filters", "since": "From", "until": "To", "channel": "Channel", "topic": "Topic",
        "ward": "Ward", "source": "Source", "all": "All", "none_topic": "(no topic)", "none_ward": "(unknown)",
        "apply": "Apply", "reset": "Default (28 days)", "all_time": "All time", "bad_filter": "Invalid filter",
        "questions": "Questions", "answer_rate": "Answered", "fallback_rate": "Not answered",
        "acceptance": "Suggestions taken", "users": "Users", "feedback": "Ratings",
        "chart_time": "Questions per topic over time", "by_day": "Daily", "by_week": "Weekly",
        "chart_topics": "Topic share", "chart_channels": "Channels", "chart_answered": "Answered and unanswered",
        "chart_funnels": "Step-by-step guide funnels (% of starters)",
        "answered": "Answered", "suggest": "Suggestions only", "fallback": "Not answered",
        "top_questions": "Most asked questions per topic", "inbox": "Unanswered questions inbox",
        "inbox_help": "Similar questions are grouped. Once content answers them, choose that entry and press “Resolved”; questions outside our scope: “Ignore”. The mark is remembered for new questions in the group too.",
        "lowest": "Lowest-rated answers", "lowest_help": "Only entries with at least 3 ratings.",
        "funnels": "Step-by-step guides", "csv": "Download CSV", "downloads": "Download data (CSV)",
        "rank": "#", "question": "Question (example)", "count": "Count", "last_day": "Last asked", "first_day": "First asked",
        "entry": "Entry", "up": "Helpful", "down": "Not helpful", "helpful": "Helpful share",
        "guide": "Guide", "started": "Started", "finished": "Finished", "completion": "Completion",
        "biggest_drop": "Most left at", "overview": "Overview", "step": "Step", "wrapup": "Wrap-up",
        "open": "Open", "resolved": "Resolved", "ignored": "Ignored",
        "resolve": "Resolved", "ignore": "Ignore", "reopen": "Reopen", "choose_entry": "— Choose the answering entry —",
        "answered_by": "Answered by", "marked_on": "marked on", "after_mark": "new questions since the mark: check the content",
        "show_ignored": "Show ignored groups", "hide_ignored": "Hide ignored groups", "times": "times asked",
        "loading": "Loading…", "error": "Could not load the data. Please reload the page.", "empty": "No data in this range.",
        "saved": "Saved.", "no_topic": "(no topic)", "none": "(unknown)",
        "note_topic": "Users are not counted per topic, so they are blank under a topic filter.",
        "note_source": "Top questions and the unanswered inbox cannot be filtered by source.",
        "section_totals": "Totals", "section_by_topic": "By topic", "section_by_channel": "By channel",
        "section_by_ward": "By ward", "section_by_lang": "By language", "section_by_source": "By source (campaign)",
        "section_daily": "Per day and topic", "section_weekly": "Per week and topic",
        "section_top_questions": "Top questions", "section_unanswered": "Unanswered questions",
        "section_helpfulness": "Answer ratings", "section_funnels": "Guide funnels",
        "weekly_title": "Weekly summary", "week": "Week", "print": "Print this page", "prev_week": "← Previous week",
        "next_week": "Next week →", "last_week": "Last week", "show": "Show", "vs_prev": "vs previous week", "per_day": "Questions per day",
        "top5": "Most asked questions", "unanswered5": "Most frequent unanswered questions",
        "review": "Answers to review", "guides": "Step-by-step guides", "whole_area": "Whole area",
        "generated": "Generated", "source_note": "Source: DigiGuide. Days in Vietnam time. Citizens' questions have personal data masked.",
        "days": "Mon,Tue,Wed,Thu,Fri,Sat,Sun", "nothing": "None.",
    },
}

DASHBOARD = web.AppKey("dashboard", object)


# -- sessions --------------------------------------------------------------------------------------------------

@dataclass
class Session:
    csrf: str
    created: float
    seen: float


class Sessions:
    """Server-side sessions in memory, keyed by the SHA-256 of the cookie value; bounded (oldest dropped)."""

    def __init__(self, idle: float = SESSION_IDLE, lifetime: float = SESSION_LIFETIME, max_sessions: int = MAX_SESSIONS):
        self.idle, self.lifetime, self.max_sessions = idle, lifetime, max_sessions
        self._sessions: OrderedDict[bytes, Session] = OrderedDict()

    @staticmethod
    def _key(sid: str) -> bytes:
        return hashlib.sha256(sid.encode("utf-8", "replace")).digest()

    def new(self) -> tuple[str, Session]:
        now = time.time()
        sid = secrets.token_urlsafe(32)
        session = Session(secrets.token_urlsafe(32), now, now)
        self._sessions[self._key(sid)] = session
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        if not sid or len(sid) > 128:
            return None
        key = self._key(sid)
        session = self._sessions.get(key)
        if session is None:
            return None
        now = time.time()
        if now - session.seen > self.idle or now - session.created > self.lifetime:
            del self._sessions[key]
            return None
        session.seen = now
        self._sessions.move_to_end(key)
        return session

    def drop(self, sid: str | None) -> None:
        if sid:
            self._sessions.pop(self._key(sid), None)

    def __len__(self) -> int:
        return len(self._sessions)


def same_origin(request: web.Request) -> bool:
    """The POST came from a page of this host: Origin (or, without one, Referer) names our host."""
    source = request.headers.get("Origin")
    if source is None:
        source = request.headers.get("Referer")
    if not source or source == "null":
        return False
    try:
        parts = urlsplit(source)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.netloc.lower() == request.host.lower()


def safe_next(value: str | None) -> str:
    """Where to go after login: only a path of the dashboard (no open redirect)."""
    if not value or "//" in value or "\\" in value or any(c.isspace() or ord(c) < 32 for c in value):
        return PREFIX + "/"
    path = value.split("?", 1)[0]
    if (path == PREFIX or path.startswith(PREFIX + "/")) and ".." not in path.split("/") and "." not in path.split("/"):
        return value
    return PREFIX + "/"


# -- static files ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def load_assets(folder: Path = STATIC_DIR) -> tuple[dict[str, Asset], str]:
    """The static files, read once, and a version (hash of them all) for cache-busting URLs."""
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and p.suffix in CONTENT_TYPES}
    version = hashlib.sha256(b"".join(files.values())).hexdigest()[:12]
    assets = {name: Asset(body, CONTENT_TYPES[Path(name).suffix], '"' + hashlib.sha256(body).hexdigest()[:16] + '"') for name, body in files.items()}
    return assets, version


def secure(response: web.StreamResponse, private: bool = True) -> web.StreamResponse:
    """SECURITY_HEADERS (bot.httpsec.secure) on any response, and no-store unless it is a public file."""
    httpsec.secure(response, SECURITY_HEADERS)
    if private:
        response.headers.update(PRIVATE)
    return response


# -- filters ---------------------------------------------------------------------------------------------------

def parse_filters(query: Any) -> rpt.Filters:
    """report.Filters from a query string; raises ValueError with a readable message."""
    values: dict[str, str] = {}
    for key in FILTER_KEYS:
        value = (query.get(key) or "").strip()
        if not value:
            continue
        if len(value) > 64:
            raise ValueError(f"{key} is too long")
        values[key] = "" if value == NONE_VALUE and key not in ("since", "until") else value
    return rpt.Filters(**values)


def filter_query(query: Any, *, extra: dict[str, str] | None = None, drop: Iterable[str] = ()) -> str:
    """The filter part of a query string (and `extra`), to carry over into links."""
    keep = {k: query.get(k) for k in (*FILTER_KEYS, "ignored") if k in query and k not in drop}
    keep.update(extra or {})
    order = {k: i for i, k in enumerate(("week", *FILTER_KEYS, "ignored"))}
    return urlencode(sorted(((k, v) for k, v in keep.items() if v is not None), key=lambda kv: order.get(kv[0], 99)))


def plain(text: str) -> str:
    """A title without its leading emoji (canvas text and some office PCs have no emoji font)."""
    return re.sub(r"^[^\w(]+", "", text).strip() or text


def topic_title(kb: KnowledgeBase, topic: str, lang: str) -> str:
    return plain(kb.topics[topic].title.get(lang)) if topic in kb.topics else topic


def _title(kb: KnowledgeBase, entry_id: str | None, lang: str) -> str | None:
    if not entry_id:
        return None
    if entry_id in kb.faqs:
        return kb.faqs[entry_id].title(lang)
    if entry_id in kb.guides:
        return kb.guides[entry_id].title.get(lang)
    return None


def compute_section(db: sqlite_utils.Database, name: str, f: rpt.Filters, *, include_ignored: bool = False) -> Any:
    """One report section as plain JSON-ready data (the same rows the page and its CSV show)."""
    if name == "totals":
        result: Any = rpt.totals(db, f)
    elif name.startswith("by_"):
        result = rpt.breakdown(db, name[3:], f)
    elif name in ("daily", "weekly"):
        result = rpt.series(db, f, "day" if name == "daily" else "week")
    elif name == "top_questions":
        result = rpt.top_questions(db, f, per_topic=PER_TOPIC)
    elif name == "unanswered":
        # the most frequent open groups, and every marked one (a resolved group must not drop out of view
        # just because more than CLUSTERS open groups are bigger); at most report.POOL groups exist
        groups = rpt.unanswered_clusters(db, f, limit=None, include_ignored=include_ignored)
        result = [c for c in groups if c.status == "open"][:CLUSTERS] + [c for c in groups if c.status != "open"]
    elif name == "helpfulness":
        result = rpt.helpfulness(db, f, min_votes=MIN_VOTES)
    elif name == "funnels":
        result = rpt.funnels(db, f)
    else:
        raise KeyError(name)
    return rpt.to_plain(result)


_TITLED = {"unanswered": ("entry_title", "entry_id"), "helpfulness": ("title", "entry_id"), "funnels": ("title", "guide_id")}


def add_titles(name: str, data: Any, kb: KnowledgeBase, lang: str) -> Any:
    """Entry titles next to entry ids (for people reading the CSV), on copies of the rows: `data` may be a
    cached result, shared by every request and language."""
    if name not in _TITLED:
        return data
    column, id_column = _TITLED[name]
    return [{**row, column: _title(kb, row.get(id_column), lang)} for row in data]


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """Citizens' text must not become a spreadsheet formula when an official opens the file."""
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return "" if value is None else value


def to_csv(header: list[str], rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([[csv_cell(v) for v in row] for row in rows])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def filter_options(db: sqlite_utils.Database) -> dict[str, Any]:
    """What the filter menus offer, and the last day with data (small reads of the daily rollup)."""
    channels = [r[0] for r in db.execute("select distinct channel from daily").fetchall()]
    wards = [r[0] for r in db.execute("select distinct ward from daily").fetchall()]
    last = db.execute("select max(day) from daily").fetchone()[0]
    return {"channels": sorted(channels), "wards": sorted(w for w in wards if w), "last_day": last}


def last_day(db: sqlite_utils.Database) -> str | None:
    return db.execute("select max(day) from daily").fetchone()[0]


# -- HTML ------------------------------------------------------------------------------------------------------

def e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def json_block(element_id: str, data: Any) -> str:
    """A <script type="application/json"> block the page's script reads; '<', '>' and '&' are escaped so no
    citizen text can close the element."""
    text = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{e(element_id)}">{text}</script>'


def percent(value: float | None, lang: str) -> str:
    if value is None:
        return "–"
    text = f"{value * 100:.1f}"
    return (text.replace(".", ",") if lang == "vi" else text) + " %"


def number(value: int | None, lang: str) -> str:
    if value is None:
        return "–"
    text = f"{value:,}"
    return text.replace(",", ".") if lang == "vi" else text


def clip(text: str, limit: int = SHEET_TEXT) -> str:
    """Citizens can type 2000 characters; the printed page keeps one line or two of each."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def vn_date(day: str | dt.date, lang: str) -> str:
    d = dt.date.fromisoformat(day) if isinstance(day, str) else day
    return d.strftime("%d/%m/%Y") if lang == "vi" else d.isoformat()


class ResultCache:
    """Computed results in memory for `ttl` seconds, at most `size` of them (the least recently used are
    dropped first); `ttl` 0 turns it off. Single flight: whoever asks for a result that is being computed
    waits for that computation instead of starting another. `invalidate(match)` forgets the matching
    results, and a matching computation that was running then gives its result to those already waiting
    but does not store it (it may have read the data before the change); whoever asks afterwards gets a
    new computation."""

    def __init__(self, ttl: float = CACHE_TTL, size: int = CACHE_ENTRIES):
        self.ttl, self.size = ttl, size
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()  # key -> (expires, value)
        self._running: dict[Hashable, _Flight] = {}
        self.hits = self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
        """The result for `key`: stored and fresh, else the running computation's, else a new one's."""
        if not self.enabled:
            return await compute()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > time.monotonic():
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]
        self.misses += 1
        return await self._join(key, compute)

    async def refresh(self, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
        """Compute `key` again even if its result is fresh (or join the computation already running)."""
        return await (self._join(key, compute) if self.enabled else compute())

    def invalidate(self, match: Callable[[Hashable], bool] = lambda key: True) -> None:
        for key in [k for k in self._entries if match(k)]:
            del self._entries[key]
        for key, flight in self._running.items():
            if match(key):
                flight.stale = True

    def clear(self) -> None:
        self.invalidate()

    def cancel(self) -> None:
        """Cancel the computations still running (the application is shutting down)."""
        for flight in self._running.values():
            flight.task.cancel()

    async def _join(self, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
        flight = self._running.get(key)
        if flight is None or flight.stale:
            flight = self._running[key] = _Flight()
            flight.task = asyncio.ensure_future(self._fill(key, compute, flight))
            flight.task.add_done_callback(lambda t: t.cancelled() or t.exception())  # a failure nobody awaited any more
        # shielded: a client that goes away does not cancel the computation the others wait for
        return await asyncio.shield(flight.task)

    async def _fill(self, key: Hashable, compute: Callable[[], Awaitable[Any]], flight: _Flight) -> Any:
        try:
            value = await compute()
            if not flight.stale:
                self._entries[key] = (time.monotonic() + self.ttl, value)
                self._entries.move_to_end(key)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
            return value
        finally:
            if self._running.get(key) is flight:
                del self._running[key]


@dataclass
class _Flight:
    """One running computation of a ResultCache; stale once its key was invalidated while it ran."""

    task: asyncio.Future = None  # type: ignore[assignment]
    stale: bool = False


def cache_ttl(environ: Any = os.environ) -> float:
    """CACHE_TTL, or DIGIGUIDE_DASHBOARD_CACHE_TTL (seconds; 0 turns the cache and its warmer off)."""
    value = str(environ.get("DIGIGUIDE_DASHBOARD_CACHE_TTL", "")).strip()
    try:
        return max(0.0, float(value)) if value else CACHE_TTL
    except ValueError:
        log.warning("DIGIGUIDE_DASHBOARD_CACHE_TTL must be a number of seconds, not %r: using %s", value, CACHE_TTL)
        return CACHE_TTL


class Dashboard:
    """Routes, sessions, the thread pool for queries and the cache of computed sections; one per application."""

    def __init__(self, ctx: ServerContext, workers: int = 4):
        self.ctx = ctx
        self.sessions = Sessions()
        self.assets, self.version = load_assets()
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dashboard")
        self.cache = ResultCache(cache_ttl())
        self.warmer: asyncio.Task | None = None

    # -- plumbing --------------------------------------------------------------------------------------------
    @property
    def kb(self) -> KnowledgeBase:
        return self.ctx.service.kb

    async def query(self, fn: Callable[[sqlite_utils.Database], Any]) -> Any:
        """Run `fn(db)` on the dashboard's threads with a connection of its own."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, self._with_db, fn)

    def _with_db(self, fn: Callable[[sqlite_utils.Database], Any]) -> Any:
        db = connect(self.ctx.settings.db_path)
        try:
            return fn(db)
        finally:
            db.conn.close()

    # -- the cache and its warmer ----------------------------------------------------------------------------
    async def section_data(self, name: str, f: rpt.Filters, ignored: bool = False, refresh: bool = False) -> Any:
        """A section's rows without titles (those depend on the language: add_titles), from the cache or
        computed on the dashboard's threads. Keyed by the section and the parsed filters, so that
        "since=&until=" and no dates at all share one result."""
        ignored = ignored and name == "unanswered"  # the only section it changes
        key = ("section", name, f, ignored)
        compute = lambda: self.query(lambda db: compute_section(db, name, f, include_ignored=ignored))  # noqa: E731
        return await (self.cache.refresh if refresh else self.cache.get)(key, compute)

    async def options(self, refresh: bool = False) -> dict[str, Any]:
        """filter_options, through the cache like the sections."""
        return await (self.cache.refresh if refresh else self.cache.get)(("options",), lambda: self.query(filter_options))

    async def warm(self) -> int:
        """Compute the sections of the two standard views again, the default range (the last DEFAULT_DAYS
        days with data, where /dashboard/ redirects) and then all time: one after another, so that the
        warmer never takes more than one of the threads live requests use. Returns sections computed."""
        last = (await self.options(refresh=True))["last_day"]
        views = [rpt.Filters()]
        if last:
            end = dt.date.fromisoformat(last)
            views.insert(0, rpt.Filters(since=end - dt.timedelta(days=DEFAULT_DAYS - 1), until=end))
        for f in views:
            for name in SECTIONS:
                await self.section_data(name, f, refresh=True)
        return len(views) * len(SECTIONS)

    async def keep_warm(self, every: float = WARM_EVERY) -> None:
        """warm() now, then again `every` seconds after each pass, until cancelled: the standard views are
        always served from the cache, as each result is recomputed before its CACHE_TTL runs out (while a
        pass takes less than CACHE_TTL - WARM_EVERY = 15 s: 2.4 s at one million events on two cores)."""
        passes = 0
        while True:
            start = time.monotonic()
            try:
                count = await self.warm()
                passes += 1
                log.log(logging.INFO if passes == 1 else logging.DEBUG, "dashboard: standard views warm (%d sections in %.1f s)", count, time.monotonic() - start)
            except asyncio.CancelledError:
                raise
            except Exception:  # a locked or missing database, say: try again next time
                log.exception("dashboard: warming the standard views failed")
            await asyncio.sleep(every)

    def start_warming(self) -> None:
        if self.cache.enabled and self.warmer is None:
            self.warmer = asyncio.get_running_loop().create_task(self.keep_warm(), name="dashboard-warmer")

    async def stop_warming(self) -> None:
        if self.warmer is not None:
            self.warmer.cancel()
            try:
                await self.warmer
            except asyncio.CancelledError:
                pass
            self.warmer = None
        self.cache.cancel()

    def session(self, request: web.Request) -> Session | None:
        return self.sessions.get(request.cookies.get(COOKIE))

    def lang(self, request: web.Request) -> str:
        asked = request.query.get("lang")
        if asked in LANGS:
            return asked
        cookie = request.cookies.get(LANG_COOKIE)
        return cookie if cookie in LANGS else "vi"

    def remember_lang(self, request: web.Request, response: web.StreamResponse) -> None:
        asked = request.query.get("lang")
        if asked in LANGS and request.cookies.get(LANG_COOKIE) != asked:
            response.set_cookie(LANG_COOKIE, asked, path=PREFIX, max_age=365 * 86400, samesite="Lax", httponly=True, secure=request.secure)

    def to_login(self, request: web.Request) -> web.HTTPException:
        """The redirect to the login form (to raise), which sends the official back here afterwards."""
        target = request.path_qs if request.method == "GET" else PREFIX + "/"
        return secure(web.HTTPFound(f"{PREFIX}/login?" + urlencode({"next": target})))

    @staticmethod
    def unauthorised() -> web.Response:
        return secure(web.json_response({"error": "login required"}, status=401))

    @staticmethod
    def forbidden(message: str = "forbidden") -> web.Response:
        return secure(web.json_response({"error": message}, status=403))

    def html_page(self, request: web.Request, body: str, status: int = 200) -> web.Response:
        response = web.Response(text=body, content_type="text/html", charset="utf-8", status=status)
        if len(body) > 2048:
            response.enable_compression()
        self.remember_lang(request, response)
        return secure(response)

    def asset_url(self, name: str) -> str:
        return f"{PREFIX}/static/{name}?v={self.version}"

    def check_post(self, request: web.Request, session: Session, supplied: str | None) -> bool:
        """Same-host Origin/Referer and the session's CSRF token (constant time)."""
        return same_origin(request) and bool(supplied) and hmac.compare_digest(supplied.encode("utf-8"), session.csrf.encode("utf-8"))

    # -- login and logout --------------------------------------------------------------------------------------
    async def login_form(self, request: web.Request) -> web.Response:
        if self.session(request) is not None:
            raise secure(web.HTTPFound(safe_next(request.query.get("next"))))
        return self.html_page(request, self.render_login(request, self.lang(request), None))

    async def login(self, request: web.Request) -> web.Response:
        lang = self.lang(request)
        if not same_origin(request):
            return self.html_page(request, self.render_login(request, lang, "forbidden"), 403)
        form = await request.post()
        token, target = str(form.get("token", "")), safe_next(str(form.get("next", "")))
        if not self.ctx.settings.dashboard_token:
            return self.html_page(request, self.render_login(request, lang, "disabled"), 403)
        verdict = check_secret(request, token, self.ctx.settings.dashboard_token, "dashboard login")
        if verdict.locked:
            response = self.html_page(request, self.render_login(request, lang, "too_many", wait=verdict.retry_after), 429)
            response.headers["Retry-After"] = str(verdict.retry_after)
            return response
        if not verdict.ok:
            return self.html_page(request, self.render_login(request, lang, "wrong_token"), 403)
        self.sessions.drop(request.cookies.get(COOKIE))  # a new id at every login (no session fixation)
        sid, _ = self.sessions.new()
        response = web.HTTPSeeOther(target)
        response.set_cookie(COOKIE, sid, path=PREFIX, httponly=True, samesite="Strict", secure=request.secure, max_age=SESSION_LIFETIME)
        raise secure(response)

    async def logout(self, request: web.Request) -> web.Response:
        session = self.session(request)
        if session is None:
            return self.unauthorised()
        form = await request.post()
        if not self.check_post(request, session, str(form.get("csrf", "")) or request.headers.get("X-CSRF-Token")):
            return self.forbidden()
        self.sessions.drop(request.cookies.get(COOKIE))
        response = web.HTTPSeeOther(f"{PREFIX}/login")
        response.del_cookie(COOKIE, path=PREFIX)
        raise secure(response)

    # -- pages -----------------------------------------------------------------------------------------------
    async def root(self, request: web.Request) -> web.Response:
        if self.session(request) is None:
            raise self.to_login(request)
        raise secure(web.HTTPFound(PREFIX + "/" + (f"?{request.query_string}" if request.query_string else "")))

    async def page(self, request: web.Request) -> web.Response:
        session = self.session(request)
        if session is None:
            raise self.to_login(request)
        lang = self.lang(request)
        options = await self.options()
        q = request.query
        if "since" not in q and "until" not in q and options["last_day"]:
            end = dt.date.fromisoformat(options["last_day"])
            extra = {"since": (end - dt.timedelta(days=DEFAULT_DAYS - 1)).isoformat(), "until": end.isoformat()}
            raise secure(web.HTTPFound(f"{PREFIX}/?" + filter_query(q, extra=extra) + (f"&lang={lang}" if "lang" in q else "")))
        error = None
        try:
            f = parse_filters(q)
        except ValueError as exc:
            error, f = str(exc), rpt.Filters()
        return self.html_page(request, self.render_dashboard(request, lang, session, f, options, error))

    async def weekly(self, request: web.Request) -> web.Response:
        session = self.session(request)
        if session is None:
            raise self.to_login(request)
        lang = self.lang(request)
        q = request.query
        try:
            f = parse_filters({k: v for k, v in q.items() if k not in ("since", "until")})
            monday = parse_week(q.get("week")) if q.get("week") else None
        except ValueError as exc:
            return self.html_page(request, self.render_error(lang, str(exc)), 400)
        data = await self.query(lambda db: weekly_data(db, f, monday))
        options = await self.options()
        return self.html_page(request, self.render_weekly(request, lang, session, f, data, options))

    async def catch_all(self, request: web.Request) -> web.Response:
        if self.session(request) is None:
            if request.path.startswith(f"{PREFIX}/api/") or request.path.startswith(f"{PREFIX}/export/") or request.method != "GET":
                return self.unauthorised()
            raise self.to_login(request)
        raise secure(web.HTTPNotFound())

    # -- data ------------------------------------------------------------------------------------------------
    async def section(self, request: web.Request) -> web.Response:
        if self.session(request) is None:
            return self.unauthorised()
        name = request.match_info["name"]
        if name not in SECTIONS:
            return secure(web.json_response({"error": f"unknown section {name!r}"}, status=404))
        try:
            f = parse_filters(request.query)
        except ValueError as exc:
            return secure(web.json_response({"error": str(exc)}, status=400))
        ignored = request.query.get("ignored") == "1"
        data = add_titles(name, await self.section_data(name, f, ignored), self.kb, self.lang(request))
        response = web.json_response({"section": name, "filters": f.to_dict(), "data": data})
        response.enable_compression()
        return secure(response)

    async def export(self, request: web.Request) -> web.Response:
        if self.session(request) is None:
            return self.unauthorised()
        name = request.match_info["name"]
        if name not in SECTIONS:
            raise secure(web.HTTPNotFound())
        try:
            f = parse_filters(request.query)
        except ValueError as exc:
            return secure(web.Response(text=str(exc), status=400))
        ignored = request.query.get("ignored") == "1"
        data = add_titles(name, await self.section_data(name, f, ignored), self.kb, self.lang(request))
        header, rows = rpt.section_rows(name, data)
        lo, hi = f.bounds
        span = f"{lo if f.since else 'start'}_{hi if f.until else 'end'}"
        filename = re.sub(r"[^A-Za-z0-9_.-]", "", f"digiguide-{name}-{span}.csv")
        response = web.Response(body=to_csv(header, rows), content_type="text/csv", charset="utf-8",
                                headers={"Content-Disposition": f'attachment; filename="{filename}"'})
        return secure(response)

    async def mark(self, request: web.Request) -> web.Response:
        session = self.session(request)
        if session is None:
            return self.unauthorised()
        if not self.check_post(request, session, request.headers.get("X-CSRF-Token")):
            return self.forbidden()
        try:
            body = await jsonbody.read_json(request, MAX_BODY)  # bounded; no nesting depth can crash it
        except jsonbody.RequestError as exc:
            return secure(web.json_response({"error": exc.message}, status=exc.status))
        problem = self.mark_problem(body)
        if problem:
            return secure(web.json_response({"error": problem}, status=400))
        keys, status, entry = body["keys"], body["status"], body.get("entry_id") or None
        if status == "open":
            count = await self.query(lambda db: rpt.unmark(db, keys))
        else:
            count = await self.query(lambda db: rpt.mark_cluster(db, keys, status, entry))
        # the inbox must show the mark at once; no other section reads the marks, so they stay warm
        self.cache.invalidate(lambda key: key[:2] == ("section", "unanswered"))
        log.info("dashboard: %d question key(s) marked %s%s", len(keys), status, f" ({entry})" if entry else "")
        return secure(web.json_response({"ok": True, "status": status, "entry_id": entry, "keys": count}))

    def mark_problem(self, body: Any) -> str | None:
        if not isinstance(body, dict):
            return "body must be a JSON object"
        keys, status, entry = body.get("keys"), body.get("status"), body.get("entry_id")
        if not isinstance(keys, list) or not 1 <= len(keys) <= rpt.POOL or not all(isinstance(k, str) and k.strip() and len(k) <= 500 for k in keys):
            return f"keys must be a list of 1 to {rpt.POOL} question keys"
        if status not in (*rpt.MARK_STATUSES, "open"):
            return "status must be resolved, ignored or open"
        if status == "resolved" and (not isinstance(entry, str) or _title(self.kb, entry, "vi") is None):
            return "resolved needs entry_id: the id of an FAQ entry or guide that now answers these questions"
        return None

    async def asset(self, request: web.Request) -> web.Response:
        asset = self.assets.get(request.match_info["name"])
        if asset is None:
            raise secure(web.HTTPNotFound(), private=False)
        headers = {"ETag": asset.etag, "Cache-Control": "public, max-age=86400"}
        if asset.etag in request.headers.get("If-None-Match", ""):
            return secure(web.Response(status=304, headers=headers), private=False)
        response = web.Response(body=asset.body, content_type=asset.content_type, charset="utf-8", headers=headers)
        if len(asset.body) > 1024:
            response.enable_compression()
        return secure(response, private=False)

    # -- rendering -------------------------------------------------------------------------------------------
    def head(self, lang: str, title: str, scripts: Iterable[str] = ()) -> str:
        tags = "".join(f'<script src="{e(self.asset_url(s))}" defer></script>' for s in scripts)
        return (
            f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="robots" content="noindex">'
            f"<title>{e(title)}</title>"
            f'<link rel="icon" href="{e(self.asset_url("icon.svg"))}" type="image/svg+xml">'
            f'<link rel="stylesheet" href="{e(self.asset_url("dashboard.css"))}">{tags}</head>'
        )

    def lang_link(self, request: web.Request, lang: str) -> str:
        other = T[lang]["switch_lang"]
        query = {k: v for k, v in request.query.items() if k != "lang"}
        query["lang"] = other
        return f'<a class="lang" lang="{other}" href="{e(request.path + "?" + urlencode(query))}">{e(T[lang]["switch"])}</a>'

    def topbar(self, request: web.Request, lang: str, session: Session, current: str) -> str:
        t = T[lang]
        keep = filter_query(request.query, drop=("since", "until") if current == "dashboard" else ("week",))
        links = []
        for name, path in (("dashboard", "/"), ("weekly", "/weekly")):
            href = PREFIX + path + (f"?{keep}" if keep else "")
            here = ' aria-current="page"' if name == current else ""
            links.append(f'<a href="{e(href)}"{here}>{e(t[name])}</a>')
        links.append(__import__("analytics.groups").groups.nav_link(lang, current))  # the working groups' page
        return (
            '<header class="top"><div class="brand">DigiGuide</div>'
            f'<nav class="nav">{"".join(links)}{self.lang_link(request, lang)}'
            f'<form method="post" action="{PREFIX}/logout" class="logout"><input type="hidden" name="csrf" value="{e(session.csrf)}">'
            f'<button type="submit">{e(t["logout"])}</button></form></nav></header>'
        )

    def render_login(self, request: web.Request, lang: str, problem: str | None, wait: int = 0) -> str:
        """The login form, with `problem` (a key of T) above it; `wait` seconds of a lockout, for "too_many"."""
        t = T[lang]
        nxt = safe_next(request.query.get("next")) if request.method == "GET" else PREFIX + "/"
        text = t[problem].replace("{minutes}", str(max(1, -(-wait // 60)))) if problem else ""
        message = f'<p class="problem" role="alert">{e(text)}</p>' if problem else ""
        if not self.ctx.settings.dashboard_token:
            message = f'<p class="problem" role="alert">{e(t["disabled"])}</p>'
        return (
            self.head(lang, f'{t["login_title"]} – DigiGuide', ["login.js"])
            + '<body class="login-page"><main class="login-box">'
            f'<h1>DigiGuide</h1><h2>{e(t["login_title"])}</h2>{message}'
            f'<form method="post" action="{PREFIX}/login" id="login-form">'
            f'<label for="token">{e(t["token"])}</label>'
            '<input id="token" name="token" type="password" autocomplete="off" required autofocus>'
            f'<input type="hidden" name="next" value="{e(nxt)}">'
            f'<button type="submit">{e(t["login"])}</button></form>'
            f'<p class="help">{e(t["login_help"])}</p>{self.lang_link(request, lang)}</main></body></html>'
        )

    def render_error(self, lang: str, message: str) -> str:
        return self.head(lang, "DigiGuide") + f'<body><main class="wrap"><p class="problem" role="alert">{e(message)}</p><p><a href="{PREFIX}/">{e(T[lang]["dashboard"])}</a></p></main></body></html>'

    def select(self, name: str, label: str, current: str | None, options: list[tuple[str, str]]) -> str:
        opts = "".join(f'<option value="{e(v)}"{" selected" if v == (current or "") else ""}>{e(text)}</option>' for v, text in options)
        return f'<label class="field"><span>{e(label)}</span><select name="{e(name)}">{opts}</select></label>'

    def filter_form(self, lang: str, q: Any, options: dict, action: str, with_dates: bool, extra: str = "") -> str:
        t = T[lang]
        kb = self.kb
        channels = sorted(set(options["channels"]) | ({q.get("channel")} - {None, "", NONE_VALUE}))
        wards = sorted(set(options["wards"]) | ({q.get("ward")} - {None, "", NONE_VALUE}))
        fields = []
        if with_dates:
            for key in ("since", "until"):
                fields.append(f'<label class="field"><span>{e(t[key])}</span><input type="date" name="{key}" value="{e(q.get(key, ""))}"></label>')
        fields.append(self.select("channel", t["channel"], q.get("channel"), [("", t["all"])] + [(c, CHANNEL_LABELS.get(c, c)) for c in channels]))
        fields.append(self.select("topic", t["topic"], q.get("topic"), [("", t["all"])] + [(tp.id, plain(tp.title.get(lang))) for tp in kb.topics.values()] + [(NONE_VALUE, t["none_topic"])]))
        fields.append(self.select("ward", t["ward"], q.get("ward"), [("", t["all"])] + [(w, w) for w in wards] + [(NONE_VALUE, t["none_ward"])]))
        if q.get("source"):
            fields.append(f'<input type="hidden" name="source" value="{e(q.get("source"))}">')
        if q.get("ignored") == "1":
            fields.append('<input type="hidden" name="ignored" value="1">')
        return (
            f'<form class="filters" method="get" action="{e(action)}" aria-label="{e(t["filters"])}">{extra}{"".join(fields)}'
            f'<div class="filter-actions"><button type="submit">{e(t["apply"])}</button></div></form>'
        )

    def entries(self, lang: str) -> list[dict[str, str]]:
        kb = self.kb
        out = [{"id": f.id, "kind": "faq", "topic": f.topic, "title": f.title(lang)} for f in kb.faqs.values()]
        out += [{"id": g.id, "kind": "guide", "topic": g.topic, "title": f'{T[lang]["guide"]}: {g.title.get(lang)}'} for g in kb.guides.values()]
        return out

    def render_dashboard(self, request: web.Request, lang: str, session: Session, f: rpt.Filters, options: dict, error: str | None) -> str:
        t = T[lang]
        q = request.query
        query = filter_query(q)
        span = None
        if f.since and f.until:
            span = (f.until - f.since).days + 1
        period = "day" if span is not None and span <= 62 else "week"
        notes = [t["note_topic"]] if f.topic is not None else []
        if f.source is not None:
            notes.append(t["note_source"])
        data = {
            "lang": lang, "csrf": session.csrf, "base": PREFIX, "query": query, "period": period, "t": t,
            "topics": {tp.id: plain(tp.title.get(lang)) for tp in self.kb.topics.values()},
            "channels": CHANNEL_LABELS, "entries": self.entries(lang), "ignored": q.get("ignored") == "1", "error": bool(error),
        }

        def csv_link(name: str) -> str:
            return f'<a class="csv" href="{e(f"{PREFIX}/export/{name}.csv" + (f"?{query}" if query else ""))}" download>{e(t["csv"])}</a>'

        def card(chart_id: str, title: str, csv_name: str, extra: str = "", wide: bool = False) -> str:
            return (
                f'<section class="card{" wide" if wide else ""}"><div class="card-head"><h2 id="{chart_id}-h">{e(title)}</h2>{extra}{csv_link(csv_name)}</div>'
                f'<div class="chart"><canvas id="{chart_id}" role="img" aria-labelledby="{chart_id}-h"></canvas></div></section>'
            )

        toggle = (
            f'<div class="toggle" role="group"><button type="button" data-period="day" aria-pressed="{str(period == "day").lower()}">{e(t["by_day"])}</button>'
            f'<button type="button" data-period="week" aria-pressed="{str(period == "week").lower()}">{e(t["by_week"])}</button></div>'
        )
        range_links = (
            f'<p class="ranges"><a href="{PREFIX}/?{e(filter_query(q, drop=("since", "until")))}">{e(t["reset"])}</a> · '
            f'<a href="{PREFIX}/?{e(filter_query(q, extra={"since": "", "until": ""}))}">{e(t["all_time"])}</a></p>'
        )
        ignored_href = f"{PREFIX}/?" + filter_query(q, extra={"ignored": None if q.get("ignored") == "1" else "1"}, drop=("ignored",) if q.get("ignored") == "1" else ())
        downloads = "".join(
            f'<li><a href="{e(f"{PREFIX}/export/{name}.csv" + (f"?{query}" if query else ""))}" download>{e(t["section_" + name])}</a></li>' for name in SECTIONS
        )
        problem = f'<p class="problem" role="alert">{e(t["bad_filter"])}: {e(error)}</p>' if error else ""
        note_html = "".join(f'<p class="note">{e(n)}</p>' for n in notes)
        return (
            self.head(lang, f'{t["title"]} – DigiGuide', ["chart.umd.min.js", "dashboard.js"])
            + "<body>"
            + self.topbar(request, lang, session, "dashboard")
            + '<main class="wrap">'
            + f'<h1 class="page-title">{e(t["title"])}</h1>'
            + self.filter_form(lang, q, options, PREFIX + "/", True)
            + range_links + problem + note_html
            + f'<p id="status" class="status" role="status" aria-live="polite">{e(t["loading"])}</p>'
            + '<section class="kpis" id="kpis" aria-label="KPI"></section>'
            + '<div class="grid">'
            + card("chart-time", t["chart_time"], "daily" if period == "day" else "weekly", toggle, wide=True)
            + card("chart-topics", t["chart_topics"], "by_topic")
            + card("chart-channels", t["chart_channels"], "by_channel")
            + card("chart-answered", t["chart_answered"], "daily" if period == "day" else "weekly", wide=True)
            + card("chart-funnels", t["chart_funnels"], "funnels", wide=True)
            + "</div>"
            + f'<section class="card table-card" id="top"><div class="card-head"><h2>{e(t["top_questions"])}</h2>{csv_link("top_questions")}</div>'
            + '<div class="scroll"><table id="top-table"></table></div></section>'
            + f'<section class="card table-card" id="inbox"><div class="card-head"><h2>{e(t["inbox"])}</h2>'
            + f'<a class="toggle-ignored" href="{e(ignored_href)}">{e(t["hide_ignored"] if q.get("ignored") == "1" else t["show_ignored"])}</a>{csv_link("unanswered")}</div>'
            + f'<p class="help">{e(t["inbox_help"])}</p><div class="scroll inbox-scroll"><ol id="inbox-list" class="inbox"></ol></div></section>'
            + f'<section class="card table-card" id="lowest"><div class="card-head"><h2>{e(t["lowest"])}</h2>{csv_link("helpfulness")}</div>'
            + f'<p class="help">{e(t["lowest_help"])}</p><div class="scroll"><table id="lowest-table"></table></div></section>'
            + f'<section class="card table-card" id="guides"><div class="card-head"><h2>{e(t["funnels"])}</h2>{csv_link("funnels")}</div>'
            + '<div class="scroll"><table id="funnel-table"></table></div></section>'
            + f'<section class="card table-card" id="downloads"><h2>{e(t["downloads"])}</h2><ul class="downloads">{downloads}</ul></section>'
            + "</main>"
            + json_block("dash-data", data)
            + "</body></html>"
        )

    def render_weekly(self, request: web.Request, lang: str, session: Session, f: rpt.Filters, data: dict, options: dict) -> str:
        t = T[lang]
        q = request.query
        kb = self.kb
        monday = data["monday"]
        sunday = monday + dt.timedelta(days=6)
        week = rpt.iso_week(monday)
        cur, prev = data["totals"], data["prev_totals"]

        def topic_name(topic: str | None) -> str:
            if not topic:
                return t["no_topic"]
            return topic_title(kb, topic, lang)

        def delta(now: int, before: int) -> str:
            if not before:
                return ""
            change = (now - before) / before
            arrow = "▲" if change > 0 else ("▼" if change < 0 else "=")
            return f'<span class="delta">{arrow} {e(percent(abs(change), lang))} {e(t["vs_prev"])}</span>'

        scope = []
        if f.ward is not None:
            scope.append(f'{t["ward"]}: {f.ward or t["none_ward"]}')
        if f.channel is not None:
            scope.append(f'{t["channel"]}: {CHANNEL_LABELS.get(f.channel, f.channel or t["none"])}')
        if f.topic is not None:
            scope.append(f'{t["topic"]}: {topic_name(f.topic)}')
        scope_text = " · ".join(scope) or t["whole_area"]

        kpis = [
            (t["questions"], number(cur["questions"], lang), delta(cur["questions"], prev["questions"])),
            (t["answer_rate"], percent(cur["answer_rate"], lang), ""),
            (t["fallback_rate"], percent(cur["fallback_rate"], lang), ""),
            (t["users"], number(cur["unique_users"], lang), delta(cur["unique_users"] or 0, prev["unique_users"] or 0)),
            (t["feedback"], number(cur["feedback"], lang), ""),
        ]
        kpi_html = "".join(f'<div class="kpi"><div class="kpi-label">{e(label)}</div><div class="kpi-value">{e(value)}</div>{d}</div>' for label, value, d in kpis)

        # questions per day: a small SVG bar chart (attributes only, so the strict CSP is kept)
        days = data["days"]
        top = max([d["questions"] for d in days] + [1])
        bar_w, gap, height = 56, 14, 110
        bars = []
        names = t["days"].split(",")
        for i, d in enumerate(days):
            x = i * (bar_w + gap) + 4
            h_all = round(d["questions"] / top * (height - 22))
            h_ok = round(d["answered"] / top * (height - 22))
            y = height - 16 - h_all
            bars.append(
                f'<rect x="{x}" y="{y}" width="{bar_w}" height="{h_all}" class="bar-open"/>'
                f'<rect x="{x}" y="{height - 16 - h_ok}" width="{bar_w}" height="{h_ok}" class="bar-ok"/>'
                f'<text x="{x + bar_w / 2}" y="{max(y - 3, 9)}" class="bar-num">{e(number(d["questions"], lang))}</text>'
                f'<text x="{x + bar_w / 2}" y="{height - 3}" class="bar-day">{e(names[i])} {e(d["day"][8:10])}/{e(d["day"][5:7])}</text>'
            )
        width = 7 * (bar_w + gap)
        chart = (
            f'<svg class="days" viewBox="0 0 {width} {height}" role="img" aria-label="{e(t["per_day"])}">{"".join(bars)}</svg>'
            f'<p class="legend"><span class="sw ok"></span>{e(t["answered"])} <span class="sw open"></span>{e(t["suggest"])} / {e(t["fallback"])}</p>'
        )

        prev_topics = {r["value"]: r["questions"] for r in data["prev_by_topic"]}
        most = max([r["questions"] for r in data["by_topic"]] + [1])
        topic_rows = "".join(
            f'<tr><td>{e(topic_name(r["value"]))}</td><td class="num">{e(number(r["questions"], lang))}</td>'
            f'<td class="bar-cell"><svg viewBox="0 0 100 8" preserveAspectRatio="none" class="mini"><rect width="{r["questions"] / most * 100:.1f}" height="8"/></svg></td>'
            f'<td class="num">{e(percent(r["answer_rate"], lang))}</td><td class="num">{e(number(prev_topics.get(r["value"], 0), lang))}</td></tr>'
            for r in data["by_topic"]
        )
        topic_table = (
            f'<table class="compact"><thead><tr><th>{e(t["topic"])}</th><th class="num">{e(t["questions"])}</th><th class="bar-head"></th>'
            f'<th class="num">{e(t["answer_rate"])}</th><th class="num">{e(t["last_week"])}</th></tr></thead><tbody>{topic_rows}</tbody></table>'
            if data["by_topic"] else f'<p>{e(t["nothing"])}</p>'
        )
        channel_rows = "".join(
            f'<tr><td>{e(CHANNEL_LABELS.get(r["value"], r["value"]))}</td><td class="num">{e(number(r["questions"], lang))}</td>'
            f'<td class="num">{e(percent(r["questions"] / cur["questions"] if cur["questions"] else None, lang))}</td></tr>'
            for r in data["by_channel"]
        )
        channel_table = f'<table class="compact"><thead><tr><th>{e(t["channel"])}</th><th class="num">{e(t["questions"])}</th><th class="num">%</th></tr></thead><tbody>{channel_rows}</tbody></table>'

        def listing(items: list[str]) -> str:
            return f'<ol class="short">{"".join(items)}</ol>' if items else f'<p>{e(t["nothing"])}</p>'

        top_items = [f'<li><span class="q">{e(clip(r["example"]))}</span> <span class="muted">· {e(topic_name(r["topic"]))}</span> <b>{e(number(r["count"], lang))}</b></li>' for r in data["top"]]
        open_items = [f'<li><span class="q">{e(clip(c["examples"][0] if c["examples"] else c["key"]))}</span> <b>{e(number(c["count"], lang))}</b></li>' for c in data["unanswered"]]
        review_items = [
            f'<li><span class="q">{e(_title(kb, r["entry_id"], lang) or r["entry_id"])}</span> <span class="muted">{r["up"]} {e(t["up"].lower())} · {r["down"]} {e(t["down"].lower())}</span> <b>{e(percent(r["helpful_share"], lang))}</b></li>'
            for r in data["helpfulness"]
        ]
        guide_items = [
            f'<li><span class="q">{e(_title(kb, g["guide_id"], lang) or g["guide_id"])}</span> <span class="muted">{e(number(g["users"], lang))} {e(t["started"].lower())} → {e(number(g["finished"], lang))} {e(t["finished"].lower())}</span> <b>{e(percent(g["completion_rate"], lang))}</b></li>'
            for g in data["funnels"]
        ]

        prev_q = filter_query(q, extra={"week": rpt.iso_week(monday - dt.timedelta(days=7))}, drop=("since", "until"))
        next_q = filter_query(q, extra={"week": rpt.iso_week(monday + dt.timedelta(days=7))}, drop=("since", "until"))
        picker = f'<label class="field"><span>{e(t["week"])}</span><input type="week" name="week" value="{e(week)}"></label>'
        tools = (
            '<div class="no-print weekly-tools">'
            + self.filter_form(lang, q, options, PREFIX + "/weekly", False, picker)
            + f'<p class="week-nav"><a href="{e(PREFIX + "/weekly?" + prev_q)}">{e(t["prev_week"])}</a>'
            f'<button type="button" id="print">{e(t["print"])}</button>'
            f'<a href="{e(PREFIX + "/weekly?" + next_q)}">{e(t["next_week"])}</a></p></div>'
        )
        generated = dt.datetime.now(VIETNAM).strftime("%d/%m/%Y %H:%M")
        return (
            self.head(lang, f'{t["weekly_title"]} {week} – DigiGuide', ["weekly.js"])
            + '<body class="weekly-body">'
            + f'<div class="no-print">{self.topbar(request, lang, session, "weekly")}</div>'
            + tools
            + '<article class="sheet" id="sheet">'
            + f'<header class="sheet-head"><h1>{e(t["weekly_title"])} {e(week)}</h1>'
            f'<p class="sheet-sub">{e(vn_date(monday, lang))} – {e(vn_date(sunday, lang))} · {e(scope_text)}</p></header>'
            + f'<section class="kpis sheet-kpis">{kpi_html}</section>'
            + f'<section class="sheet-row"><div class="sheet-col wide"><h2>{e(t["per_day"])}</h2>{chart}</div>'
            f'<div class="sheet-col"><h2>{e(t["channel"])}</h2>{channel_table}</div></section>'
            + f'<section><h2>{e(t["topic"])}</h2>{topic_table}</section>'
            + f'<section class="sheet-row"><div class="sheet-col"><h2>{e(t["top5"])}</h2>{listing(top_items)}</div>'
            f'<div class="sheet-col"><h2>{e(t["unanswered5"])}</h2>{listing(open_items)}</div></section>'
            + f'<section class="sheet-row"><div class="sheet-col"><h2>{e(t["review"])}</h2>{listing(review_items)}</div>'
            f'<div class="sheet-col"><h2>{e(t["guides"])}</h2>{listing(guide_items)}</div></section>'
            + f'<footer class="sheet-foot">{e(t["source_note"])} {e(t["generated"])}: {e(generated)}</footer>'
            + "</article></body></html>"
        )


# -- the weekly summary's numbers ------------------------------------------------------------------------------

def parse_week(value: str) -> dt.date:
    """The Monday of an ISO week "2025-W10"."""
    m = WEEK_RE.match(value.strip())
    if not m:
        raise ValueError(f"not a week: {value!r} (use YYYY-Www, e.g. 2025-W10)")
    try:
        return dt.date.fromisocalendar(int(m[1]), int(m[2]), 1)
    except ValueError:
        raise ValueError(f"not a week: {value!r}") from None


def default_week(latest: str | None, today: dt.date | None = None) -> dt.date:
    """The last complete week before today; or, when the data ends earlier, the week of its last day."""
    today = today or dt.datetime.now(VIETNAM).date()
    this_monday = today - dt.timedelta(days=today.weekday())
    last_complete = this_monday - dt.timedelta(days=7)
    if latest:
        last = dt.date.fromisoformat(latest)
        if last < last_complete:
            return last - dt.timedelta(days=last.weekday())
    return last_complete


def weekly_data(db: sqlite_utils.Database, dims: rpt.Filters, monday: dt.date | None) -> dict[str, Any]:
    """Everything the weekly summary shows, for one ISO week and the one before (for comparison)."""
    monday = monday or default_week(last_day(db))
    sunday = monday + dt.timedelta(days=6)
    base = {k: v for k, v in dims.to_dict().items() if k not in ("since", "until")}
    f = rpt.Filters(since=monday, until=sunday, **base)
    before = rpt.Filters(since=monday - dt.timedelta(days=7), until=monday - dt.timedelta(days=1), **base)
    series = rpt.series(db, f, "day")
    per_day = {(monday + dt.timedelta(days=i)).isoformat(): {"questions": 0, "answered": 0} for i in range(7)}
    for p in series:
        if p.period in per_day:
            per_day[p.period]["questions"] += p.questions
            per_day[p.period]["answered"] += p.answered
    top = sorted(rpt.top_questions(db, f, per_topic=5), key=lambda r: (-r.count, r.topic, r.rank))[:5]
    return rpt.to_plain({
        "monday": monday,
        "totals": rpt.totals(db, f),
        "prev_totals": rpt.totals(db, before),
        "by_topic": rpt.breakdown(db, "topic", f),
        "prev_by_topic": rpt.breakdown(db, "topic", before),
        "by_channel": rpt.breakdown(db, "channel", f),
        "days": [{"day": d, **v} for d, v in per_day.items()],
        "top": top,
        "unanswered": [c for c in rpt.unanswered_clusters(db, f, limit=5, examples=1) if c.status == "open"],
        "helpfulness": rpt.helpfulness(db, f, min_votes=MIN_VOTES)[:3],
        "funnels": rpt.funnels(db, f)[:4],
    }) | {"monday": monday}


# -- mounting --------------------------------------------------------------------------------------------------

def setup(app: web.Application, ctx: ServerContext) -> Dashboard:
    """Register the dashboard's routes on the server's application."""
    dash = Dashboard(ctx)
    app[DASHBOARD] = dash
    shared_throttle(app)  # the login checks the token through the server's one lockout (bot.secrets_guard)
    r = app.router
    r.add_get(PREFIX, dash.root)
    r.add_get(PREFIX + "/", dash.page)
    r.add_get(PREFIX + "/weekly", dash.weekly)
    r.add_get(PREFIX + "/login", dash.login_form)
    r.add_post(PREFIX + "/login", dash.login)
    r.add_post(PREFIX + "/logout", dash.logout)
    r.add_get(PREFIX + "/api/section/{name}", dash.section)
    r.add_get(PREFIX + "/export/{name}.csv", dash.export)
    r.add_post(PREFIX + "/api/mark", dash.mark)
    r.add_get(PREFIX + "/static/{name}", dash.asset)
    from . import groups  # imported here: groups builds on this module (its pages reuse the dashboard's)

    groups.mount(app, dash)  # /dashboard/groups: working groups' links, posters, results; before the catch-all
    r.add_route("*", PREFIX + "/{tail:.*}", dash.catch_all)

    async def warm(_app: web.Application) -> None:
        dash.start_warming()

    async def close(_app: web.Application) -> None:
        await dash.stop_warming()
        dash.executor.shutdown(wait=False, cancel_futures=True)

    app.on_startup.append(warm)
    app.on_cleanup.append(close)
    return dash
