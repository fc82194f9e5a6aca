"""The one-line reasons of the outreach suggestions (analytics/advice.py) and of the before/after verdicts
(analytics/campaigns.py), in Vietnamese and English, as plain text: the dashboard's templates escape them,
the CLI prints them. One wording for both, so the page and `python -m analytics outreach` say the same.
"""

from __future__ import annotations

from typing import Any

from .campaigns import MIN_DAYS, MIN_PEOPLE
from .formatting import entry_title, number, topic_title, vn_date

REASONS = {
    "vi": {
        "dropoff": "{count} người ở {ward} dừng ở bước {step} của “{title}” trong {weeks} tuần qua ({rate} số người đến bước đó{compare}){ratio}.",
        "unanswered": "{count} câu hỏi về {title} ở {ward} bot chưa trả lời được trong {weeks} tuần qua ({rate} số câu hỏi{compare}){ratio}.",
        "thumbs_down": "{count} lượt 👎 cho “{title}” ở {ward} trong {weeks} tuần qua ({rate} số lượt đánh giá{compare}){ratio}.",
        "tickets": "{count} câu hỏi về {title} ở {ward} phải chuyển cho cán bộ trong {weeks} tuần qua ({rate} số câu hỏi{compare}){ratio}.",
        "ratio": ", gấp {ratio} lần tỉ lệ của tỉnh",
        "compare": "; tỉnh: {p_rate}",
        "province": "toàn tỉnh",
        "no_ward": "nơi chưa rõ phường/xã",
    },
    "en": {
        "dropoff": "{count} people in {ward} stopped at step {step} of “{title}” in the last {weeks} weeks ({rate} of those who reached it{compare}){ratio}.",
        "unanswered": "{count} questions about {title} in {ward} went unanswered in the last {weeks} weeks ({rate} of the questions{compare}){ratio}.",
        "thumbs_down": "{count} 👎 on “{title}” in {ward} in the last {weeks} weeks ({rate} of the votes{compare}){ratio}.",
        "tickets": "{count} questions about {title} in {ward} were handed over to officials in the last {weeks} weeks ({rate} of the questions{compare}){ratio}.",
        "ratio": ", {ratio} times the province's rate",
        "compare": "; province: {p_rate}",
        "province": "the province",
        "no_ward": "no known ward",
    },
}


def whole_percent(value: float | None, lang: str) -> str:
    """38 % rather than 38.2 %: the reasons are read aloud at a meeting."""
    return "–" if value is None else f"{value * 100:.0f} %"


def ratio_text(value: float, lang: str) -> str:
    text = f"{value:.1f}"
    return text.replace(".", ",") if lang == "vi" else text


def ward_label(kb: Any, ward: str | None, lang: str) -> str:
    words = REASONS[lang]
    if ward is None:
        return words["province"]
    return kb.ward_name(ward, lang) or (ward if ward else words["no_ward"])


def subject(kb: Any, s: Any, lang: str) -> str:
    """What a suggestion is about: the guide or entry's title, or the topic's."""
    if s.kind in ("dropoff", "thumbs_down"):
        return entry_title(kb, s.entry_id, lang) or str(s.entry_id)
    return topic_title(kb, s.topic, lang) if s.topic else "–"


def reason(kb: Any, s: Any, days: int, lang: str) -> str:
    """A suggestion's one line: who, where, how many, compared with the province."""
    words = REASONS[lang]
    ratio = words["ratio"].format(ratio=ratio_text(s.ratio, lang)) if s.ratio is not None else ""
    compare = words["compare"].format(p_rate=whole_percent(s.province_rate, lang)) if s.ward is not None else ""
    return words[s.kind].format(
        count=number(s.count, lang), ward=ward_label(kb, s.ward, lang), step=s.step, title=subject(kb, s, lang),
        weeks=max(1, days // 7), rate=whole_percent(s.rate, lang), compare=compare, ratio=ratio,
    )


def common_problems(kb: Any, guide_id: str, lang: str, limit: int = 3) -> list[tuple[str, str]]:
    """The guide's first `limit` common problems as (problem, fix): what the content says citizens get
    wrong, for the meeting sheet (placeholders are filled when the content is loaded)."""
    guide = kb.guides.get(guide_id)
    return [(p.problem.get(lang), p.fix.get(lang)) for p in guide.problems[:limit]] if guide is not None else []


VERDICTS = {
    "vi": {
        "dropoff": "tỉ lệ dừng ở bước {step}",
        "completion": "tỉ lệ làm hết hướng dẫn",
        "too_early": "Còn quá sớm để biết: mới {days} ngày kể từ {day} (cần ít nhất {min_days}).",
        "too_small": "Số liệu quá ít để kết luận: {n1} người trước và {n2} người sau (cần ít nhất {min_people} mỗi kỳ).",
        "no_change": "Chưa thấy thay đổi rõ: {measure} {before} → {after} (tỉnh: {p_before} → {p_after}); chênh lệch này có thể chỉ là ngẫu nhiên.",
        "better": "Có tiến bộ: {measure} {before} → {after} (tỉnh: {p_before} → {p_after}).",
        "worse": "Kém đi: {measure} {before} → {after} (tỉnh: {p_before} → {p_after}).",
    },
    "en": {
        "dropoff": "drop-off at step {step}",
        "completion": "completion",
        "too_early": "Too early to tell: only {days} days since {day} (at least {min_days} needed).",
        "too_small": "Too few to tell: {n1} people before and {n2} after (at least {min_people} needed in each period).",
        "no_change": "No clear change: {measure} {before} → {after} (province: {p_before} → {p_after}); a difference this size can be chance.",
        "better": "Better: {measure} {before} → {after} (province: {p_before} → {p_after}).",
        "worse": "Worse: {measure} {before} → {after} (province: {p_before} → {p_after}).",
    },
}


def measure_rate(e: Any, key: str) -> float | None:
    figures = getattr(e, key)
    return figures.dropoff_rate if e.measure == "dropoff" else figures.completion_rate


def measure_base(e: Any, key: str) -> int:
    figures = getattr(e, key)
    return figures.reached_step if e.measure == "dropoff" else figures.started


def verdict_text(e: Any, lang: str) -> str:
    """A campaign's before/after in one plain sentence, saying so when the numbers are too small."""
    words = VERDICTS[lang]
    return words[e.verdict].format(
        days=e.days, day=vn_date(e.day, lang), min_days=MIN_DAYS, min_people=MIN_PEOPLE,
        n1=measure_base(e, "ward_before"), n2=measure_base(e, "ward_after"),
        measure=words[e.measure].format(step=e.step),
        before=whole_percent(measure_rate(e, "ward_before"), lang), after=whole_percent(measure_rate(e, "ward_after"), lang),
        p_before=whole_percent(measure_rate(e, "province_before"), lang), p_after=whole_percent(measure_rate(e, "province_after"), lang),
    )
