"""How often each FAQ entry and guide was given lately: the order of bot.freshness.review_list.

Counts events of the answered kinds (analytics.report.ANSWERED_KINDS: an FAQ answer, typed or tapped, and
a guide opened by a question) per entry since a Vietnam day. The daily rollups have no entry column, so
this reads `events` through idx_events_day_question (by day): one pass over the period's events, for a report someone runs
on demand (the dashboard should cache it like its other sections).
"""

from __future__ import annotations

import datetime as dt

from bot import storage

from .report import ANSWERED_KINDS

ASKED_DAYS = 90  # the period the review list counts by default


def asked_counts(db: storage.Database, since: dt.date) -> dict[str, int]:
    """Answers per entry from `since` (inclusive), keyed "faq:<id>" / "guide:<id>" as review_list wants:
    FAQ entries and guides may share an id."""
    marks = ", ".join("?" * len(ANSWERED_KINDS))
    rows = db.execute(
        f"""select kind, entry_id, count(*) from events
            where day >= ? and kind in ({marks}) and entry_id is not null and entry_id != ''
            group by 1, 2""",
        [since.isoformat(), *ANSWERED_KINDS],
    ).fetchall()
    return {f"{kind}:{entry}": n for kind, entry, n in rows}
