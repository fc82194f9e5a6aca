"""What officials measure of the questions citizens handed over to them (issue 12, section 4): figures from
the tickets tables (bot.handover.store) in the analytics database, for a range of days and optionally
some wards. Pure queries, like analytics/report.py; nothing here prints. The dashboard's "Hỏi đáp" page
(analytics.web.tickets) and `python -m analytics tickets` show them.

    figures(db, hours, since=, until=, wards=, now=)     -> TicketFigures (to_plain for JSON)
    section_rows(name, figures)                          -> CSV header and rows of SECTIONS
    as_table(figures), as_csv(figures)                   -> the command line's text

Definitions
- A ticket counts in the range by the Vietnam day it was confirmed (created_at). `wards` keeps only the
  tickets of those wards ("" is the tickets whose citizen did not name a ward of locality.yaml).
- Time to first answer: office hours (OfficeHours.office_seconds, so a night or a weekend does not count)
  from the confirmation to the first official reply; the median and the 90th percentile (nearest rank:
  the smallest value at or above 90 % of them) over the answered tickets, in hours.
- Answered within the expected delay: the first reply at or before OfficeHours.due(created_at), the
  moment the citizen was told to expect it. The share is over the tickets that can be judged: answered,
  or unanswered once their delay passed (still waiting, or closed or withdrawn after it). One withdrawn or
  closed unanswered before its delay, or still within it, is left out: nobody was late yet.
- Turned into content: the ticket's question was published as an FAQ entry or a phrasing (content_entry).
- Citizens notified: distinct citizens whose "tell me when there is an answer" was fulfilled in the range
  (watchers.notified_at). Watchers have no ward, so under a ward filter the figure is None (a note says
  so); so is `waiting` (opted in, not told yet, still addressable).
- Open now: tickets waiting for an official at `now`, whatever their day (the ward filter applies);
  overdue: those of them past their due time.
- Replies sent, queued, failed: the officials' replies on those tickets by their delivery (the outbox:
  sent = the platform took it, or the citizen's web page fetched it; queued = waiting for a later try or
  for the page; failed = refused for good), so the per-channel table shows how each channel delivers.
- Per ward, topic and channel: the same figures for each value ("" for none), most tickets first.

Why in Python and not SQL: office hours are a calendar computation (spans, weekends, holidays) per ticket.
A ward confirms some dozens of tickets a week, so a year is a few thousand rows: milliseconds.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import statistics
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from bot import storage
from bot.handover.hours import VIETNAM, OfficeHours

from .report import parse_day

SECTIONS = ("summary", "wards", "topics", "channels")
ROW_COLUMNS = ["tickets", "answered", "judged", "in_time", "in_time_share", "median_hours", "p90_hours", "to_content"]
DELIVERY_COLUMNS = ["replies_sent", "replies_queued", "replies_failed"]
TITLES = {"summary": "Tickets", "wards": "Tickets per ward", "topics": "Tickets per topic", "channels": "Tickets per channel"}
NO_WARD_NOTE = "Citizens notified and waiting are not kept per ward: they are left blank under a ward filter."


@dataclass
class Row:
    """The figures of a set of tickets (all of them, or one ward's, topic's, channel's)."""

    key: str  # the ward, topic or channel ("" none); "" for the total
    tickets: int = 0
    answered: int = 0
    judged: int = 0  # answered, or past their delay unanswered (the share's base)
    in_time: int = 0  # first answer at or before the due time
    in_time_share: float | None = None
    median_hours: float | None = None  # office hours to the first answer
    p90_hours: float | None = None
    to_content: int = 0
    replies_sent: int = 0
    replies_queued: int = 0
    replies_failed: int = 0


@dataclass
class TicketFigures:
    since: str | None
    until: str | None
    wards: list[str] | None
    total: Row
    by_ward: list[Row] = field(default_factory=list)
    by_topic: list[Row] = field(default_factory=list)
    by_channel: list[Row] = field(default_factory=list)
    notified: int | None = None
    waiting: int | None = None
    open_now: int = 0
    overdue_now: int = 0
    notes: list[str] = field(default_factory=list)

    def to_plain(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Ticket:
    ward: str
    topic: str
    channel: str
    status: str
    created_at: float
    first_answer_at: float | None
    closed_at: float | None
    content_entry: str | None
    sent: int = 0
    queued: int = 0
    failed: int = 0


def _bounds(since: dt.date | None, until: dt.date | None) -> tuple[float, float]:
    """The range as timestamps: from Vietnam midnight of `since` to the midnight after `until`."""
    lo = dt.datetime.combine(since, dt.time(0), VIETNAM).timestamp() if since else -math.inf
    hi = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(0), VIETNAM).timestamp() if until else math.inf
    return lo, hi


def _has_tickets(db: storage.Database) -> bool:
    return "tickets" in db.table_names()


def _ward_clause(wards: list[str] | None) -> tuple[str, list[str]]:
    if wards is None:
        return "1 = 1", []
    return f"ward in ({', '.join('?' for _ in wards) or 'null'})", list(wards)


def nearest_rank(values: list[float], share: float) -> float | None:
    """The smallest value with at least `share` of the values at or below it (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _row(key: str, tickets: list[_Ticket], hours: OfficeHours, now: float) -> Row:
    row = Row(key, tickets=len(tickets))
    waits: list[float] = []
    for t in tickets:
        due = hours.due(t.created_at)
        if t.content_entry:
            row.to_content += 1
        row.replies_sent += t.sent
        row.replies_queued += t.queued
        row.replies_failed += t.failed
        if t.first_answer_at is not None:
            row.answered += 1
            row.judged += 1
            row.in_time += t.first_answer_at <= due
            waits.append(hours.office_seconds(t.created_at, t.first_answer_at) / 3600)
        elif (t.closed_at if t.closed_at is not None else now) > due:
            row.judged += 1
    row.in_time_share = row.in_time / row.judged if row.judged else None
    row.median_hours = round(statistics.median(waits), 2) if waits else None
    p90 = nearest_rank(waits, 0.9)
    row.p90_hours = round(p90, 2) if p90 is not None else None
    return row


def _grouped(tickets: list[_Ticket], attr: str, hours: OfficeHours, now: float) -> list[Row]:
    groups: dict[str, list[_Ticket]] = {}
    for t in tickets:
        groups.setdefault(getattr(t, attr), []).append(t)
    rows = [_row(key, members, hours, now) for key, members in groups.items()]
    return sorted(rows, key=lambda r: (-r.tickets, r.key))


def figures(db: storage.Database, hours: OfficeHours, *, since: str | dt.date | None = None, until: str | dt.date | None = None,
            wards: Iterable[str] | None = None, now: float | None = None) -> TicketFigures:
    """The figures of the tickets confirmed from `since` to `until` (Vietnam days, inclusive; None: open
    ended) in `wards` (None: every ward); `now` (default: the clock) decides what is open, overdue and
    judged. A database without the tickets tables (one not migrated by bot.storage) has no tickets."""
    since_day, until_day = parse_day(since), parse_day(until)
    if since_day and until_day and since_day > until_day:
        raise ValueError(f"since ({since_day}) is after until ({until_day})")
    now = time.time() if now is None else now
    ward_list = sorted(set(wards)) if wards is not None else None
    out = TicketFigures(since_day.isoformat() if since_day else None, until_day.isoformat() if until_day else None, ward_list, Row(""))
    if ward_list is not None:
        out.notes.append(NO_WARD_NOTE)
    if not _has_tickets(db):
        out.notified = out.waiting = None if ward_list is not None else 0
        return out
    lo, hi = _bounds(since_day, until_day)
    where, params = _ward_clause(ward_list)
    rows = db.execute(
        f"""select ward, coalesce(topic, ''), channel, status, created_at, first_answer_at, closed_at, content_entry,
                   (select count(*) from outbox o where o.ticket_id = tickets.id and o.kind = 'reply' and o.status = 'sent'),
                   (select count(*) from outbox o where o.ticket_id = tickets.id and o.kind = 'reply' and o.status = 'queued'),
                   (select count(*) from outbox o where o.ticket_id = tickets.id and o.kind = 'reply' and o.status = 'failed')
            from tickets where {where} and created_at >= ? and created_at < ?""",
        [*params, lo, hi],
    ).fetchall()
    tickets = [_Ticket(*r) for r in rows]
    out.total = _row("", tickets, hours, now)
    out.by_ward = _grouped(tickets, "ward", hours, now)
    out.by_topic = _grouped(tickets, "topic", hours, now)
    out.by_channel = _grouped(tickets, "channel", hours, now)
    waiting = db.execute(f"select created_at from tickets where {where} and status = 'open'", params).fetchall()
    out.open_now = len(waiting)
    out.overdue_now = sum(1 for (created,) in waiting if hours.due(created) < now)
    if ward_list is None:
        out.notified = db.execute("select count(distinct user) from watchers where notified_at >= ? and notified_at < ?", [lo, hi]).fetchone()[0]
        out.waiting = db.execute("select count(distinct user) from watchers where notified_at is null and address is not null and expires_at > ?", [now]).fetchone()[0]
    return out


# -- tables ----------------------------------------------------------------------------------------------------

def section_rows(name: str, fig: TicketFigures) -> tuple[list[str], list[list[Any]]]:
    """A section as a header and rows (CSV, the command line's table)."""
    if name == "summary":
        header = [*ROW_COLUMNS, *DELIVERY_COLUMNS, "notified", "waiting", "open_now", "overdue_now"]
        t = fig.total
        return header, [[*(getattr(t, c) for c in ROW_COLUMNS + DELIVERY_COLUMNS), fig.notified, fig.waiting, fig.open_now, fig.overdue_now]]
    rows = {"wards": fig.by_ward, "topics": fig.by_topic, "channels": fig.by_channel}.get(name)
    if rows is None:
        raise KeyError(name)
    key = {"wards": "ward", "topics": "topic", "channels": "channel"}[name]
    return [key, *ROW_COLUMNS, *DELIVERY_COLUMNS], [[r.key, *(getattr(r, c) for c in ROW_COLUMNS + DELIVERY_COLUMNS)] for r in rows]


def _cell(column: str, value: Any) -> str:
    if value is None:
        return "-"
    if column == "in_time_share":
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value) if value != "" else "(none)"


def as_table(fig: TicketFigures) -> str:
    head = f"Tickets confirmed {fig.since or 'start'} to {fig.until or 'end'}" + (f", wards {', '.join(fig.wards) or '(none)'}" if fig.wards is not None else "")
    out = [head, "Times in office hours; in_time: first answer within the delay the citizen was told.", ""]
    for name in SECTIONS:
        header, rows = section_rows(name, fig)
        out.append(f"== {TITLES[name]} ==")
        if not rows:
            out.append("(nothing)")
        else:
            cells = [header] + [[_cell(h, v) for h, v in zip(header, r)] for r in rows]
            widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
            out.extend("  ".join(c.ljust(w) if i == 0 and name != "summary" else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip() for row in cells)
        out.append("")
    out.extend(fig.notes)
    return "\n".join(out).rstrip() + "\n"


def as_csv(fig: TicketFigures) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for name in SECTIONS:
        buf.write(f"# {name}\n")
        header, rows = section_rows(name, fig)
        writer.writerow(header)
        writer.writerows([["" if v is None else v for v in r] for r in rows])
    return buf.getvalue()


def as_json(fig: TicketFigures) -> str:
    return json.dumps(fig.to_plain(), ensure_ascii=False, indent=2)
