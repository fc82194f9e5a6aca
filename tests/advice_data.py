"""A province of five wards over four weeks where one ward, Xuân Hòa, struggles in four known ways, and the
figures analytics/advice.py and campaigns.py must report for it, counted straight from the events.

Every ward has the same citizens doing the same things, except Xuân Hòa, where
- "Kích hoạt VNeID" (eid-activate): in the first two weeks 20 of each 40 citizens stop at step 3 (elsewhere
  4 of 40); in the last two weeks, after its posters were printed on day 14, only 4 of 40 do;
- fees questions: 25 of 50 go unanswered ("did you mean"), elsewhere 5 of 50;
- the FAQ "eid-no-otp": 14 of 20 votes are 👎, elsewhere 4 of 20;
- portal questions: 9 of 40 are handed to officials (tickets), elsewhere 1 of 40.
Tam Sơn has only a handful of citizens on "Thanh toán QR" (qr-pay-shop): too few to tell anything.

    events = generate_events();  tickets = TICKETS (ward, topic, day index)
    counted = guide_counts(events, "eid-activate", 8, "xuan-hoa", step=3, before=(lo, hi), after=(lo, hi))
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from analytics.demo_citizens import VIETNAM
from bot.engine import Event

START = dt.date(2025, 3, 3)  # a Monday; the data covers START .. START + 27
DAYS = 28
WARDS = ("phuc-yen", "xuan-hoa", "vinh-phuc", "vinh-yen", "tam-son")
STRUGGLING = "xuan-hoa"
CAMPAIGN_DAY = 14  # the day index Xuân Hòa's posters of eid-activate are printed
GUIDES = {"eid-activate": ("eid", 8), "fees-pay-portal": ("fees", 7)}
FEW = ("tam-son", "qr-pay-shop", ("qr", 6), 6)  # ward, guide, (topic, steps), citizens


def day(index: int) -> dt.date:
    return START + dt.timedelta(days=index)


def ts(index: int, seconds: int = 0) -> float:
    return dt.datetime.combine(day(index), dt.time(9), VIETNAM).timestamp() + seconds


def furthest_pattern(steps: int, stop_at_3: int) -> list[int]:
    """The furthest page of each of 40 citizens: 4 stop at step 1, 4 at step 2, `stop_at_3` at step 3,
    the others reach the wrap-up page (steps + 1)."""
    return [1] * 4 + [2] * 4 + [3] * stop_at_3 + [steps + 1] * (32 - stop_at_3)


def _guide_block(out: list[Event], ward: str, guide: str, topic: str, pages: list[int], first_day: int, span: int, tag: str) -> None:
    for i, furthest in enumerate(pages):
        when = first_day + i % span
        user = f"{ward}:{guide}:{tag}:{i}"
        for page in range(0, furthest + 1):
            out.append(Event(ts=ts(when, page), channel="telegram", user=user, lang="vi", kind="guide_step", topic=topic,
                             entry_id=guide, guide_step=page, ward=ward))


def generate_events() -> list[Event]:
    out: list[Event] = []
    for ward in WARDS:
        for guide, (topic, steps) in GUIDES.items():
            if ward == STRUGGLING and guide == "eid-activate":
                _guide_block(out, ward, guide, topic, furthest_pattern(steps, 20), 0, CAMPAIGN_DAY, "before")
                _guide_block(out, ward, guide, topic, furthest_pattern(steps, 4), CAMPAIGN_DAY, DAYS - CAMPAIGN_DAY, "after")
            else:
                _guide_block(out, ward, guide, topic, furthest_pattern(steps, 4), 0, DAYS, "all")
        unanswered = 25 if ward == STRUGGLING else 5
        for i in range(50):  # fees and eid questions
            for topic, missed in (("fees", unanswered), ("eid", 5)):
                kind = "suggest" if i < missed else "faq"
                text = "nộp phí trước bạ xe máy ở đâu" if kind == "suggest" else "nộp lệ phí online"
                out.append(Event(ts=ts(i % DAYS, 100 + i), channel="web", user=f"{ward}:q:{topic}:{i}", lang="vi", kind=kind, topic=topic,
                                 entry_id=None if kind == "suggest" else "fees-traffic-fine", question=text,
                                 question_key=" ".join(sorted(text.split())), ward=ward))
        for i in range(40):  # portal questions (tickets: TICKETS)
            out.append(Event(ts=ts(i % DAYS, 200 + i), channel="zalo", user=f"{ward}:p:{i}", lang="vi", kind="faq", topic="portal",
                             entry_id="portal-login", question="đăng nhập dịch vụ công", question_key="cong dang dich nhap vu", ward=ward))
        downs = 14 if ward == STRUGGLING else 4
        for i in range(20):  # votes on eid-no-otp
            out.append(Event(ts=ts(i % DAYS, 300 + i), channel="telegram", user=f"{ward}:v:{i}", lang="vi", kind="feedback", topic="eid",
                             entry_id="eid-no-otp", feedback="down" if i < downs else "up", ward=ward))
    ward, guide, (topic, steps), n = FEW
    _guide_block(out, ward, guide, topic, [steps + 1 if i % 2 else 2 for i in range(n)], 0, DAYS, "few")
    return sorted(out, key=lambda e: e.ts)


# (ward, topic, day index) of each ticket
TICKETS = [(ward, "portal", (i * 3) % DAYS) for ward in WARDS for i in range(9 if ward == STRUGGLING else 1)]
TICKETS += [(STRUGGLING, "eid", index) for index in (2, 5, 16)]  # too few to be a suggestion; counted before/after


# -- counted from the events alone --------------------------------------------------------------------------------

def _day_of(e: Event) -> str:
    return dt.datetime.fromtimestamp(e.ts, VIETNAM).date().isoformat()


def guide_counts(events: list[Event], guide: str, steps: int, ward: str, step: int, before: tuple[str, str], after: tuple[str, str]) -> dict:
    """{"ward_before"|"ward_after"|"province_before"|"province_after": {started, finished, new_citizens,
    reached_step, stopped_step, tickets}} for one guide, as analytics/campaigns.py defines them."""
    pages: dict[str, list[tuple[str, int, str]]] = defaultdict(list)  # user -> (day, page, ward)
    for e in events:
        if e.entry_id == guide and e.guide_step is not None:
            pages[e.user].append((_day_of(e), e.guide_step, e.ward or ""))
    out = {f"{scope}_{label}": dict(started=0, finished=0, new_citizens=0, reached_step=0, stopped_step=0, tickets=0)
           for scope in ("ward", "province") for label in ("before", "after")}
    for user, seen in pages.items():
        first_day = min(d for d, _, _ in seen)
        first_ward = next(w for d, _, w in sorted(seen) if d == first_day)
        for label, (lo, hi) in (("before", before), ("after", after)):
            inside = [(d, p, w) for d, p, w in seen if lo <= d <= hi]
            if not inside:
                continue
            far = max(p for _, p, _ in inside)
            w = sorted(inside)[0][2]
            for scope in ("province", "ward"):
                if scope == "ward" and w != ward:
                    continue
                c = out[f"{scope}_{label}"]
                c["started"] += 1
                c["finished"] += far >= steps + 1
                c["reached_step"] += far >= step
                c["stopped_step"] += far == step
        for label, (lo, hi) in (("before", before), ("after", after)):
            if lo <= first_day <= hi:
                out[f"province_{label}"]["new_citizens"] += 1
                if first_ward == ward:
                    out[f"ward_{label}"]["new_citizens"] += 1
    topic = GUIDES[guide][0]
    for w, t, index in TICKETS:
        d = day(index).isoformat()
        for label, (lo, hi) in (("before", before), ("after", after)):
            if t == topic and lo <= d <= hi:
                out[f"province_{label}"]["tickets"] += 1
                if w == ward:
                    out[f"ward_{label}"]["tickets"] += 1
    return out
