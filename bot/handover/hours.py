"""Office hours of the officials who answer handed-over questions (content/locality.yaml `handover`):
whether the office is open, when it opens next, and how many office-hours lie between two moments (the
time to a first answer is measured in office hours: a question sent on Friday evening and answered on
Monday at 8:00 waited half an hour, not 60).

    handover:
      days: [mon, tue, wed, thu, fri]
      hours: ["07:30-11:30", "13:30-17:00"]   # Vietnam time
      typical_hours: 8                          # a usual reply, in office hours
      holidays: [2026-01-01]                    # optional: closed days

All times are Vietnam time (UTC+7, no daylight saving).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

VIETNAM = dt.timezone(dt.timedelta(hours=7))
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])")


class HoursError(ValueError):
    pass


@dataclass(frozen=True)
class OfficeHours:
    days: frozenset[int] = frozenset(range(5))  # Monday = 0
    spans: tuple[tuple[int, int], ...] = ((7 * 60 + 30, 11 * 60 + 30), (13 * 60 + 30, 17 * 60))  # minutes of the day
    typical_hours: float = 8.0
    holidays: frozenset[dt.date] = field(default_factory=frozenset)

    @classmethod
    def from_locality(cls, raw: Any) -> "OfficeHours":
        """From locality.yaml's `handover` mapping (missing keys: Monday to Friday, 7:30-11:30 and
        13:30-17:00, 8 hours). HoursError says what is wrong, for `bot check`."""
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise HoursError("handover must be a mapping (days, hours, typical_hours, holidays)")
        unknown = set(raw) - {"days", "hours", "typical_hours", "holidays", "notify_chats"}
        if unknown:
            raise HoursError(f"handover: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        out = cls()
        if "days" in raw:
            days = raw["days"]
            if not isinstance(days, list) or not days or any(str(d).lower() not in DAY_NAMES for d in days):
                raise HoursError(f"handover.days must list days among {', '.join(DAY_NAMES)}")
            out = cls(frozenset(DAY_NAMES.index(str(d).lower()) for d in days), out.spans, out.typical_hours, out.holidays)
        if "hours" in raw:
            spans = []
            for text in raw["hours"] if isinstance(raw["hours"], list) else [None]:
                found = _SPAN.fullmatch(str(text)) if text is not None else None
                if not found:
                    raise HoursError(f"handover.hours: {text!r} is not HH:MM-HH:MM")
                a, b = int(found[1]) * 60 + int(found[2]), int(found[3]) * 60 + int(found[4])
                if b <= a:
                    raise HoursError(f"handover.hours: {text!r} ends before it starts")
                spans.append((a, b))
            spans.sort()
            if any(spans[i][1] > spans[i + 1][0] for i in range(len(spans) - 1)):
                raise HoursError("handover.hours: the spans overlap")
            out = cls(out.days, tuple(spans), out.typical_hours, out.holidays)
        if "typical_hours" in raw:
            typical = raw["typical_hours"]
            if isinstance(typical, bool) or not isinstance(typical, (int, float)) or not 0 < typical <= 200:
                raise HoursError(f"handover.typical_hours must be a number of office hours from 0 to 200, got {typical!r}")
            out = cls(out.days, out.spans, float(typical), out.holidays)
        if "holidays" in raw:
            try:
                holidays = frozenset(d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)) for d in raw["holidays"] or [])
            except (TypeError, ValueError):
                raise HoursError("handover.holidays must list dates as YYYY-MM-DD") from None
            out = cls(out.days, out.spans, out.typical_hours, holidays)
        return out

    # -- questions about time ----------------------------------------------------------------------------
    def _open_day(self, day: dt.date) -> bool:
        return day.weekday() in self.days and day not in self.holidays

    def is_open(self, when: float) -> bool:
        moment = dt.datetime.fromtimestamp(when, VIETNAM)
        minute = moment.hour * 60 + moment.minute
        return self._open_day(moment.date()) and any(a <= minute < b for a, b in self.spans)

    def next_open(self, when: float) -> dt.datetime:
        """The next moment the office opens (`when` itself when it is open)."""
        moment = dt.datetime.fromtimestamp(when, VIETNAM)
        for offset in range(0, 60):
            day = moment.date() + dt.timedelta(days=offset)
            if not self._open_day(day):
                continue
            for a, b in self.spans:
                start = dt.datetime.combine(day, dt.time(a // 60, a % 60), VIETNAM)
                end = dt.datetime.combine(day, dt.time(0), VIETNAM) + dt.timedelta(minutes=b)
                if moment < end:
                    return max(start, moment)
        raise HoursError("the office never opens in the next 60 days")

    def office_seconds(self, start: float, end: float) -> float:
        """Seconds of office hours between `start` and `end` (0 when end <= start)."""
        if end <= start:
            return 0.0
        total = 0.0
        day = dt.datetime.fromtimestamp(start, VIETNAM).date()
        last = dt.datetime.fromtimestamp(end, VIETNAM).date()
        while day <= last:
            if self._open_day(day):
                midnight = dt.datetime.combine(day, dt.time(0), VIETNAM).timestamp()
                for a, b in self.spans:
                    lo, hi = max(start, midnight + a * 60), min(end, midnight + b * 60)
                    if hi > lo:
                        total += hi - lo
            day += dt.timedelta(days=1)
        return total

    def due(self, start: float) -> float:
        """When a reply is expected: `typical_hours` of office time after `start`."""
        return self.after(start, self.typical_hours * 3600)

    def after(self, start: float, seconds: float) -> float:
        """The moment `seconds` of office time after `start` (office_seconds' inverse)."""
        remaining = seconds
        moment = self.next_open(start).timestamp()
        while True:
            local = dt.datetime.fromtimestamp(moment, VIETNAM)
            midnight = dt.datetime.combine(local.date(), dt.time(0), VIETNAM).timestamp()
            span_end = next(midnight + b * 60 for a, b in self.spans if midnight + a * 60 <= moment < midnight + b * 60)
            if moment + remaining <= span_end:
                return moment + remaining
            remaining -= span_end - moment
            moment = self.next_open(span_end).timestamp()
