"""A simulated week of questions handed over to officials, written through the real ticket store
(bot.handover.store) with a clock that walks the week: what `python -m analytics demo` adds so the
"Hỏi đáp" page and `python -m analytics tickets` have something to show, and what the closing note of
issue 12 reports.

Why generated like this: the arrival of tickets follows the day (most in the morning and the evening,
some at night and on the weekend), the officials work in office hours only (locality.yaml `handover`) and
answer most tickets within a few office hours, some late, and leave a few open at the end of the week;
the replies go out on the ticket's channel and a few deliveries fail (a citizen who blocked the bot);
some answered tickets are turned into content; some citizens asked to be told when their question is
answered. Every figure the dashboard shows is then a count over these rows, never a number put in.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path

from bot.handover.hours import VIETNAM
from bot.handover.store import TicketStore
from bot.knowledge import KnowledgeBase
from bot.storage import Target

SEED = 12
PER_DAY = 14  # tickets a day on average, across the wards
CHANNELS = (("zalo", 0.55), ("telegram", 0.25), ("web", 0.2))
# (topic, question as a citizen writes it once redacted, weight)
QUESTIONS = (
    ("eid", "Tôi đã kích hoạt mức 2 mà ứng dụng vẫn báo chờ duyệt 2 tuần rồi, phải làm sao ạ?", 5),
    ("eid", "Bố tôi 80 tuổi không dùng điện thoại thông minh thì có phải làm VNeID không?", 3),
    ("eid", "Số điện thoại <phone> đăng ký VNeID là của con tôi, giờ muốn đổi sang số của tôi", 3),
    ("portal", "Hồ sơ đăng ký khai sinh cho cháu nộp trên cổng dịch vụ công 5 ngày chưa thấy trả kết quả", 4),
    ("portal", "Xin hỏi làm lý lịch tư pháp số 2 cho người ở nước ngoài nộp ở đâu?", 2),
    ("portal", "Đăng ký thường trú cho vợ về ở cùng cần giấy tờ gì ở phường mình?", 3),
    ("fees", "Tôi nộp phạt nguội rồi mà tra cứu vẫn còn lỗi, có cần lên công an không?", 3),
    ("bills", "Tiền nước tháng này nhà tôi gấp ba tháng trước, báo ai kiểm tra đồng hồ?", 2),
    ("qr", "Quán tôi muốn in mã QR nhận tiền có tên hộ kinh doanh thì làm ở đâu?", 2),
    ("safety", "Có người xưng công an phường gọi bảo cài ứng dụng để cập nhật căn cước, có thật không?", 4),
    ("signature", "Chữ ký số cá nhân có dùng để ký hợp đồng mua bán đất được không?", 1),
)
REPLY = "Chào anh/chị, cán bộ phường đã kiểm tra: {what} Nếu cần, anh/chị mang căn cước đến Trung tâm Phục vụ hành chính công phường trong giờ làm việc."
REPLY_WHAT = {
    "eid": "hồ sơ định danh mức 2 đang chờ công an phê duyệt, thường trong 7 ngày làm việc.",
    "portal": "hồ sơ đã được tiếp nhận và sẽ có kết quả trong thời hạn của thủ tục.",
    "fees": "khoản phạt đã được ghi nhận nộp; dữ liệu tra cứu cập nhật sau vài ngày.",
    "bills": "đã chuyển yêu cầu kiểm tra đồng hồ nước cho công ty cấp nước.",
    "qr": "mã QR in tên hộ kinh doanh làm tại ngân hàng nơi mở tài khoản.",
    "safety": "đây là lừa đảo; công an không gọi điện yêu cầu cài ứng dụng.",
    "signature": "chữ ký số công cộng có giá trị pháp lý như chữ ký tay khi hai bên chấp nhận.",
}
OFFICIALS = ("lan", "minh", "huong")
TOPIC_ENTRY = {"eid": "eid-levels", "safety": "safety-report-scam", "portal": "portal-judicial-record"}


@dataclass(frozen=True)
class Week:
    tickets: int
    answered: int
    closed: int
    open: int
    failed: int
    to_content: int
    watchers: int
    notified: int


class _Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def _arrival(rng: random.Random, day: dt.date) -> float:
    """A moment of `day` when citizens write: mornings and evenings most."""
    hour = rng.choices(range(24), [1, 1, 0, 0, 0, 1, 3, 6, 8, 8, 7, 6, 5, 4, 5, 5, 5, 6, 7, 8, 8, 6, 3, 2])[0]
    return dt.datetime.combine(day, dt.time(hour, rng.randrange(60), rng.randrange(60)), VIETNAM).timestamp()


def simulate(where: Target | Path | str, salt: str, kb: KnowledgeBase, end: float, seed: int = SEED, days: int = 7) -> Week:
    """A week of tickets ending at `end` written into the database `where` (a file path, sqlite:///path or
    postgresql://...; bot.storage)."""
    rng = random.Random(seed)
    hours = kb.office_hours
    wards = list(kb.ward_ids) or [""]
    clock = _Clock(end - days * 86400)
    store = TicketStore(where, salt, clock=clock)
    counts = dict(answered=0, closed=0, open=0, failed=0, to_content=0, watchers=0, notified=0)
    made = 0
    try:
        last_day = dt.datetime.fromtimestamp(end, VIETNAM).date()
        plans = []
        for offset in range(days, 0, -1):
            day = last_day - dt.timedelta(days=offset - 1)
            weekend = day.weekday() >= 5
            for _ in range(rng.randint(PER_DAY // (3 if weekend else 1) - 3, PER_DAY // (3 if weekend else 1) + 3)):
                at = _arrival(rng, day)
                if at < end:
                    plans.append(at)
        for n, at in enumerate(sorted(plans)):
            topic, question, _ = rng.choices(QUESTIONS, [q[2] for q in QUESTIONS])[0]
            channel = rng.choices([c for c, _ in CHANNELS], [w for _, w in CHANNELS])[0]
            clock.now = at
            ticket = store.open_ticket(
                user=f"demo-citizen-{n:04d}", channel=channel, address=f"demo-{channel}-{n:04d}", lang="vi",
                ward=rng.choices(wards, [3 if i == 0 else 2 if i == 1 else 1 for i in range(len(wards))])[0],
                topic=topic, question=question, question_key=f"demo {topic} {n % 5}", attempt={"kind": rng.choice(["fallback", "suggest"]), "entries": []},
            )
            made += 1
            if rng.random() < 0.3:  # some also asked to be told when the bot itself can answer
                store.watch(user=f"demo-citizen-{n:04d}", channel=channel, address=f"demo-{channel}-{n:04d}", lang="vi", question_key=f"demo {topic} {n % 5}", topic=topic)
                counts["watchers"] += 1
            # the official's first answer: office hours later, most within the typical delay
            office_delay = rng.choices([rng.uniform(0.2, 0.6), rng.uniform(0.6, 1.0), rng.uniform(1.0, 2.5)], [0.55, 0.3, 0.15])[0] * hours.typical_hours * 3600
            answer_at = hours.after(at, office_delay)
            if answer_at >= end:
                counts["open"] += 1
                continue
            clock.now = answer_at
            who = rng.choice(OFFICIALS)
            store.take(ticket.id, who)
            _message, outbox = store.reply(ticket.id, who, REPLY.format(what=REPLY_WHAT[topic]), TOPIC_ENTRY.get(topic) if rng.random() < 0.4 else None)
            clock.now = answer_at + rng.uniform(1, 20)
            if rng.random() < 0.04:
                store.failed(outbox, "Forbidden: bot was blocked by the user")
                counts["failed"] += 1
            else:
                store.delivered(outbox)
            counts["answered"] += 1
            if rng.random() < 0.7 and clock.now + 3600 < end:
                clock.now += rng.uniform(600, 3600)
                store.close(ticket.id, who)
                counts["closed"] += 1
            if topic in TOPIC_ENTRY and rng.random() < 0.3:
                store.link_content(ticket.id, TOPIC_ENTRY[topic])
                counts["to_content"] += 1
        clock.now = end - 3600  # a cluster was resolved late in the week: its watchers are told
        counts["notified"] = store.notify_resolved(["demo eid 0", "demo safety 0"], "eid-levels").queued
        for item in store.due(["zalo", "telegram", "web"]):
            if item.kind == "notify":
                store.delivered(item.id)
    finally:
        store.close_db()
    return Week(tickets=made, **counts)

