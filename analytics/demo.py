"""`python -m analytics demo`: a fresh database filled with realistic generated data, so that a newcomer can
explore the dashboard and the working groups' page at once (README, "Try the dashboard with demo data").

Why it is built this way:
- The questions are what citizens type (WORDINGS: with and without diacritics, teencode, typos, some
  English, and one-off questions nobody else asks), and what happens to each is what the real engine does
  with it on the loaded content: the kind (answer, guide, suggestion, fallback, small talk), topic and entry,
  and the question and key it stores (redacted, as typed). So the top questions, the unanswered inbox and
  its clusters look like the real thing, every entry they name exists, and a question typed into the demo
  server lands in the same cluster as the generated ones.
- Who asks, when, and what they do around their questions (menus, guides walked with drop-off, thumbs,
  suggestions tapped) comes from the generators the tests use: analytics/demo_citizens.py for everyone,
  analytics/demo_groups.py for the citizens the content's working groups bring with posters and links.
- The days end today (Vietnam) and go DAYS back, so the dashboard's default 28 days, its weekly summary
  and the groups page's 12 weeks all show data; nothing is dated after the moment it runs.
- Generated figures must never mix with real ones: a database that has events is refused unless --force,
  which first empties the analytics tables (conversation state and anything else in the database stays).
- It fills whatever bot.storage opens: the SQLite file (the default) or a PostgreSQL database.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot import storage
from bot.engine import Engine, Event, Incoming
from bot.knowledge import KnowledgeBase
from bot.outreach import GROUP_SEPARATOR
from bot.state import MemoryStateStore

from . import demo_citizens, demo_groups, demo_tickets
from .store import VIETNAM, connect

DAYS = 56  # eight weeks: the default 28 days, a complete last week and a trend on the groups page
CITIZENS = 1500  # asking on their own (about 6 events each)
GROUP_CITIZENS = 500  # met through the working groups' posters and links, or not (see demo_groups)
SEED = 2026
TAIL_SHARE = 0.05  # typed questions drawn from TAIL: asked by a few, often not answered
QUESTION_KINDS = ("faq", "guide", "suggest", "fallback", "smalltalk")  # what a wording may turn into
POSTER_GUIDES = ("eid-activate", "eid-forgot-password", "qr-pay-shop", "fees-traffic-fine", "safety-report-scam", "bills-electric-water")
UP_SHARE = {"eid-no-otp": 0.35, "bills-water-pay": 0.5, "fees-traffic-fine-pay": 0.55}  # answers an official should look at

# (weight of the need, language, its spellings with their weights): the way people write, the correct
# spelling most often so that the examples officials read are easy to read.
WORDINGS: tuple[tuple[float, str, tuple[tuple[str, float], ...]], ...] = (
    (9, "vi", (("Quên mật khẩu VNeID", 4), ("quen mat khau vneid", 3), ("Quên mật khẩu VNeID thì làm sao?", 2), ("quên mk vneid", 2), ("qen mat khau vneid", 1))),
    (7, "vi", (("Không nhận được mã OTP kích hoạt VNeID", 4), ("ko nhan dc ma otp vneid", 3), ("không nhận được otp", 2))),
    (6, "vi", (("Hướng dẫn kích hoạt tài khoản VNeID", 4), ("Cách kích hoạt VNeID", 3), ("cach kich hoat vneid", 2))),
    (5, "vi", (("Định danh mức 2 khác mức 1 thế nào?", 4), ("muc 1 muc 2 khac gi", 3))),
    (4, "vi", (("Đổi số điện thoại đăng ký VNeID như thế nào?", 4), ("doi sdt vneid", 3))),
    (4, "vi", (("VNeID báo lỗi khi đăng nhập", 4), ("vneid bao loi dang nhap", 3), ("ko dang nhap dc vneid", 2))),
    (3, "vi", (("Mất điện thoại thì đăng nhập VNeID thế nào?", 3), ("mua dien thoai moi dang nhap vneid", 2))),
    (3, "vi", (("Tích hợp bằng lái xe vào VNeID", 3), ("tich hop gplx vao vneid", 2))),
    (5, "vi", (("Đăng nhập Cổng dịch vụ công bằng VNeID", 4), ("dang nhap dich vu cong", 3))),
    (3, "vi", (("Tra cứu hồ sơ đã nộp trên Cổng dịch vụ công", 3), ("tra cuu ho so dvc", 2))),
    (3, "vi", (("Đăng ký tạm trú trên VNeID", 3), ("dang ky tam tru online", 2))),
    (2, "vi", (("Làm lý lịch tư pháp trên VNeID", 3), ("lam ly lich tu phap online", 2))),
    (4, "vi", (("Nộp phạt giao thông online", 3), ("nop phat giao thong truc tuyen", 2))),
    (3, "vi", (("Tra cứu phạt nguội", 3), ("tra cuu phat nguoi xe may", 2))),
    (2, "vi", (("Hướng dẫn nộp lệ phí trên Cổng dịch vụ công", 3), ("nop le phi online", 2))),
    (5, "vi", (("Trả tiền điện qua ngân hàng", 4), ("tra tien dien qua app ngan hang", 3))),
    (3, "vi", (("Trả tiền nước qua mạng", 3), ("tra tien nuoc online", 2))),
    (2, "vi", (("Hóa đơn tiền điện tháng này tăng bất thường", 3), ("tien dien thang nay cao bat thuong", 2))),
    (2, "vi", (("Lịch cắt điện ở đâu?", 3), ("lich cat dien", 2))),
    (4, "vi", (("Tạo mã QR nhận tiền cho quán", 3), ("tao ma qr nhan tien", 2))),
    (3, "vi", (("Thanh toán bằng mã QR ở cửa hàng", 3), ("quet ma qr thanh toan", 2))),
    (2, "vi", (("Cập nhật sinh trắc học ngân hàng", 3), ("cap nhat sinh trac hoc", 2))),
    (2, "vi", (("Đóng học phí cho con bằng QR", 3), ("dong hoc phi qr", 2))),
    (4, "vi", (("Người lạ gọi điện xin mã OTP", 3), ("co nguoi goi xin ma otp", 2))),
    (2, "vi", (("Cách báo cáo lừa đảo qua mạng", 3), ("bao cao lua dao", 2))),
    (2, "vi", (("Có người gọi bảo tài khoản ngân hàng có vấn đề", 3),)),
    (2, "vi", (("Chữ ký số là gì?", 3), ("chu ky so la gi", 2))),
    (1, "vi", (("Đăng ký chữ ký số từ xa", 3),)),
    (4, "vi", (("Giá vàng hôm nay bao nhiêu?", 3), ("gia vang hom nay", 2))),
    (3, "vi", (("Thủ tục cấp sổ đỏ ở nông thôn", 3), ("lam so do mat bao lau", 2))),
    (2, "vi", (("Lương hưu tháng này chưa nhận được", 3), ("luong huu chua ve", 2))),
    (2, "vi", (("Xin giấy phép xây dựng nhà ở", 3), ("xin phep xay nha", 2))),
    (2, "vi", (("Đăng ký xe máy mới mua", 3), ("dang ky xe may moi", 2))),
    (3, "vi", (("Xin chào", 3), ("chào bạn", 2))),
    (5, "en", (("Forgot my VNeID password", 3), ("forgot vneid password", 2))),
    (3, "en", (("Pay electricity bill online", 3), ("how to pay electric bill", 2))),
    (2, "en", (("Where is the nearest police station?", 3),)),
    (2, "en", (("How do I activate VNeID?", 3),)),
)
TAIL = (  # asked now and then by somebody: the long tail of the unanswered inbox
    "Thời tiết ngày mai thế nào", "Xin số điện thoại trưởng thôn", "Mấy giờ bưu điện đóng cửa", "Điểm thi vào lớp 10 năm nay",
    "Đăng ký kết hôn cần giấy tờ gì", "Tiền trợ cấp người cao tuổi bao giờ có", "Lịch tiêm chủng cho trẻ",
    "Xin việc làm ở khu công nghiệp", "Vay vốn ngân hàng chính sách", "Hỏi về sổ hộ nghèo", "Mua bảo hiểm xe máy online",
    "Báo hỏng đèn đường", "Đổi tiền lẻ ở đâu", "Đăng ký học lái xe", "Hỏi lịch họp tổ dân phố", "Tiền điện chung cư",
    "Cấp lại thẻ thư viện", "What time does the post office close", "Lost my wallet on the bus",
)


class NotEmpty(Exception):
    """The database already has events: the demo would mix generated figures into them."""

    def __init__(self, events: int):
        super().__init__(f"the database already has {events} event(s)")
        self.events = events


@dataclass(frozen=True)
class Made:
    """What `fill` wrote, for the summary printed to the newcomer."""

    path: Path | str  # the SQLite file, or the PostgreSQL database (its URL, the password masked)
    events: int
    citizens: int
    group_citizens: int  # of them, brought by a working group's link or poster code
    groups: int  # working groups with at least one citizen
    first_day: str
    last_day: str
    questions: int
    answered: int
    unanswered: int  # fallbacks and "did you mean" suggestions
    week: demo_tickets.Week | None = None  # the simulated week of questions handed over to officials


class _Reader:
    """What the real engine does with a typed text (cached): its kind, topic, entry, and what it stores."""

    def __init__(self, kb: KnowledgeBase):
        self.engine = Engine(kb, MemoryStateStore(), salt="demo")
        self._seen: dict[str, Event] = {}

    def read(self, text: str) -> Event:
        if text not in self._seen:  # a citizen of its own for each text: no earlier turn changes the reading
            self._seen[text] = self.engine.handle(Incoming("demo", f"demo:{text}", text=text)).event
        return self._seen[text]

    def record(self, text: str) -> dict[str, Any]:
        event = self.read(text)
        return {"question": event.question, "question_key": event.question_key}

    def group(self, gid: str, text: str, lang: str, weight: float) -> demo_citizens.Group | None:
        event = self.read(text)
        if event.kind not in QUESTION_KINDS:
            return None
        return demo_citizens.Group(gid, event.topic, event.kind, event.entry_id, text, lang, weight, ((text, 1.0),))


def catalogue(kb: KnowledgeBase, reader: _Reader) -> demo_citizens.Catalogue:
    """The demo's questions as the engine reads them on this content: one group per spelling (each has its
    own outcome), weighted by its need's weight and its share of the need."""
    groups = []
    for n, (weight, lang, spellings) in enumerate(WORDINGS):
        total = sum(w for _, w in spellings)
        for i, (text, share) in enumerate(spellings):
            group = reader.group(f"w{n}.{i}", text, lang, weight * share / total)
            if group is not None:
                groups.append(group)
    tail = [g for i, text in enumerate(TAIL) if (g := reader.group(f"tail{i}", text, "vi", 1.0))] or groups  # else the usual ones
    faqs = {f.id: f.topic for f in kb.faqs.values()}
    guides = {g.id: (g.topic, len(g.steps)) for g in kb.guides.values()}
    sources = [(s, w) for s, w in demo_citizens.SOURCES if s is None or _target_exists(kb, s)]
    return demo_citizens.Catalogue(
        groups=groups, faqs=faqs, guides=guides, record=reader.record, tail=lambda rng: rng.choice(tail),
        up_share={e: s for e, s in UP_SHARE.items() if e in kb.faqs}, misread_share=0.0, sources=sources,
    )


def _target_exists(kb: KnowledgeBase, payload: str) -> bool:
    kind, _, ident = payload.partition("-")
    return ident in {"g": kb.guides, "t": kb.topics, "f": kb.faqs}.get(kind, {})


class _Phrases:
    """demo_groups' `phrase`: a spelling whose engine outcome is the asked kind and entry, in the citizen's
    language; else (a suggestion) one of the entry's answered spellings, read with a low score; else the
    content's own wording of the entry."""

    def __init__(self, kb: KnowledgeBase, cat: demo_citizens.Catalogue, reader: _Reader):
        self.kb, self.reader = kb, reader
        self.by: dict[tuple[str, str | None, str], list[demo_citizens.Group]] = defaultdict(list)
        for g in cat.groups:
            self.by[(g.outcome, g.entry if g.outcome != "fallback" else None, g.lang)].append(g)
        # the answers the groups' citizens ask for: the entries some spelling is answered with
        self.faqs = {g.entry: g.topic for g in cat.groups if g.outcome == "faq"}

    def __call__(self, kind: str, entry: str | None, lang: str, rng: random.Random) -> dict[str, Any]:
        options = self.by.get((kind, entry, lang)) or (self.by.get(("faq", entry, lang)) if kind == "suggest" else None)
        if kind == "fallback":
            options = self.by.get(("fallback", None, lang)) or self.by.get(("fallback", None, "vi"))
        if options:
            text = rng.choices([g.text for g in options], [g.weight for g in options])[0]
        elif entry in self.kb.faqs:
            text = self.kb.faqs[entry].title(lang)
        else:
            text = self.kb.guides[entry].title.get(lang)
        return self.reader.record(text)


def generate(kb: KnowledgeBase, today: dt.date, now: float, seed: int = SEED, citizens: int = CITIZENS, group_citizens: int = GROUP_CITIZENS) -> list[Event]:
    """Every demo event, oldest first, over the DAYS Vietnam days that end `today`, none after `now`."""
    reader = _Reader(kb)
    cat = catalogue(kb, reader)
    start = today - dt.timedelta(days=DAYS - 1)
    events = demo_citizens.generate_events(cat, citizens, DAYS, seed, start, tail_share=TAIL_SHARE)
    phrases = _Phrases(kb, cat, reader)
    posters = {g: cat.guides[g] for g in POSTER_GUIDES if g in cat.guides}
    if kb.working_groups and posters and phrases.faqs:
        events += demo_groups.generate_events(
            group_citizens, DAYS, seed + 1, start, group_wards={g.id: g.ward for g in kb.working_groups.values()},
            guides=posters, faqs=phrases.faqs, phrase=phrases, plain=f"g-{next(iter(posters))}",
        )
    return sorted((e for e in events if e.ts <= now), key=lambda e: e.ts)


TICKET_TABLES = ("ticket_messages", "outbox", "watchers", "tickets")  # bot.handover.store's, emptied by --force


def fill(where: storage.Target | Path | str, kb: KnowledgeBase, *, force: bool = False, clear: Sequence[str] = (), today: dt.date | None = None,
         now: float | None = None, salt: str | None = None) -> Made:
    """Fill the database `where` (an SQLite file, created if missing, or a PostgreSQL URL; bot.storage) with
    demo events, and with `salt` (the server's, which seals the made-up addresses) a simulated week of
    tickets. Raises NotEmpty when it has events and not `force`; with `force`, the `clear` tables (and the
    tickets' tables) are emptied first. storage.Error when the file is not a database."""
    now = time.time() if now is None else now
    today = today or dt.datetime.fromtimestamp(now, VIETNAM).date()
    target = storage.Target.parse(where)
    db = connect(target)
    try:
        existing = db.execute("select count(*) from events").fetchone()[0]
        if existing and not force:
            raise NotEmpty(existing)
        events = generate(kb, today, now)
        if force:
            with db.transaction():
                for table in clear:
                    db.execute(f"delete from {table}")  # our own table names, never user input
        demo_citizens.write(db, events)
        if force and salt:
            tables = set(db.table_names())
            with db.transaction():
                for table in TICKET_TABLES:
                    if table in tables:
                        db.execute(f"delete from {table}")  # our own table names, never user input
    finally:
        db.close()
    week = demo_tickets.simulate(target, salt, kb, now) if salt else None
    return replace(_made(target.path if target.engine == "sqlite" else str(target), events), week=week)


def _made(path: Path | str, events: list[Event]) -> Made:
    kinds = Counter(e.kind for e in events)
    questions = sum(kinds[k] for k in ("faq", "guide", "suggest", "fallback"))
    grouped = {e.user: e.source.partition(GROUP_SEPARATOR)[2] for e in events if e.source and GROUP_SEPARATOR in e.source}
    days = [dt.datetime.fromtimestamp(e.ts, VIETNAM).date().isoformat() for e in (events[0], events[-1])] if events else ["-", "-"]
    return Made(
        path=path, events=len(events), citizens=len({e.user for e in events}), group_citizens=len(grouped), groups=len(set(grouped.values())),
        first_day=days[0], last_day=days[1], questions=questions, answered=kinds["faq"] + kinds["guide"], unanswered=kinds["suggest"] + kinds["fallback"],
    )


def describe(made: Made, default_db: bool) -> str:
    """What the newcomer reads: what was made, and how to open it."""
    if default_db:
        run = "make run"
    elif isinstance(made.path, str) and made.path.startswith("postgresql://"):
        run = f"DIGIGUIDE_DATABASE_URL={made.path} make run"
    else:
        run = f"DIGIGUIDE_DB={made.path} make run"
    share = f" ({made.answered / made.questions:.0%})" if made.questions else ""
    return "\n".join([
        f"Demo data in {made.path}: {made.events:,} generated events of {made.citizens:,} made-up citizens, {made.first_day} to {made.last_day}",
        f"  {made.questions:,} questions: {made.answered:,} answered{share}, {made.unanswered:,} not (fallbacks and \"did you mean\")",
        f"  {made.group_citizens:,} citizens came through the links and posters of {made.groups} working group(s)",
        *([f"  a week of {made.week.tickets} questions handed over to officials: {made.week.answered} answered, {made.week.open} still open (\"Hỏi đáp\", /dashboard/tickets)"] if made.week else []),
        "Nothing in it is real. To explore it:",
        f"  {run}        (starts the server; `make demo` fills and starts in one go)",
        "  then open the dashboard login link the server prints (\"Dashboard: http://127.0.0.1:8080/dashboard/login#token=...\");",
        "  the working groups' results and posters are under \"Tổ công nghệ số\" (/dashboard/groups).",
    ])
