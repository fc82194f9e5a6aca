"""All-time rollups and example indexes, so that the dashboard stays under a second at ten million events
(issue 13, measured in bench/bench_scale.py).

At ten million events daily_users holds 2.2 million (day, user) rows and daily_guide 2.5 million page rows:
counting distinct users, or each user's furthest guide page, over all of them took 1-3 s on either engine.
- user_firsts: the first day each citizen was seen, overall (dimension "all", value "") and per channel,
  ward and source value. Users seen from the start of the data up to day D are exactly those whose first
  day is <= D, so an all-time count reads one row per user instead of one per user and day.
- guide_furthest: each citizen's furthest page of each guide and the last day they opened it, which is
  an all-time funnel as it stands.
Both are filled from the daily tables here (an existing database is backfilled once) and kept by
analytics.store.write_batch; forget_user deletes a citizen's rows by primary key, with the channels,
wards, sources and guides it finds in their daily rows (no by-user index: each would cost as much space
as its table).

The examples of the top questions read a key's texts on its last day. Through idx_events_day (day) that
meant every event of the day (55,000 at ten million events): idx_events_day_question (day, question_key)
finds the key's own, and replaces it for every query by day (no second index on every event: at one
million events a separate (question_key, day) index cost 45 MB and a fifth of the ingest rate, as each
event's entry went to a random place of it; this one grows at its end, as the days do).
On PostgreSQL idx_events_unanswered (question_key) handed over all of a frequent key's unanswered rows to
be sorted for its latest few; with the id in the index they come newest first (on SQLite the rowid was
already there, so the index is the same in effect).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UNANSWERED = "kind in ('fallback', 'suggest')"


def _where(sql: str) -> dict:
    return {"sqlite_where": sa.text(sql), "postgresql_where": sa.text(sql)}


def upgrade() -> None:
    text = lambda name: sa.Column(name, sa.Text(), nullable=False)  # noqa: E731
    op.create_table(
        "user_firsts", text("dimension"), text("value"), text("user"), text("day"),
        sa.PrimaryKeyConstraint("dimension", "value", "user"), sqlite_with_rowid=False,
    )
    op.create_table(
        "guide_furthest", text("guide_id"), text("user"), sa.Column("furthest", sa.Integer(), nullable=False), text("last_day"),
        sa.PrimaryKeyConstraint("guide_id", "user"), sqlite_with_rowid=False,
    )
    user = '"user"'  # a reserved word on PostgreSQL, an ordinary name on SQLite: quoted, it is a column on both
    op.execute(f"insert into user_firsts (dimension, value, {user}, day) select 'all', '', {user}, min(day) from daily_users group by {user}")
    for dimension in ("channel", "ward", "source"):
        op.execute(
            f"insert into user_firsts (dimension, value, {user}, day) "
            f"select '{dimension}', {dimension}, {user}, min(day) from daily_users group by {dimension}, {user}"
        )
    op.execute(
        f"insert into guide_furthest (guide_id, {user}, furthest, last_day) "
        f"select guide_id, {user}, max(step), max(day) from daily_guide group by guide_id, {user}"
    )
    op.create_index("idx_events_day_question", "events", ["day", "question_key"])
    op.drop_index("idx_events_day", "events")
    op.drop_index("idx_events_unanswered", "events")
    op.create_index("idx_events_unanswered", "events", ["question_key", "id"], **_where(UNANSWERED))


def downgrade() -> None:
    op.drop_index("idx_events_unanswered", "events")
    op.create_index("idx_events_unanswered", "events", ["question_key"], **_where(UNANSWERED))
    op.create_index("idx_events_day", "events", ["day"])
    op.drop_index("idx_events_day_question", "events")
    op.drop_table("guide_furthest")
    op.drop_table("user_firsts")
