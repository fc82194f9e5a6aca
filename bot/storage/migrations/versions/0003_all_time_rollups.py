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
analytics.store.write_batch; forget_user deletes a citizen's rows (hence the by-user indexes).

The examples of the top questions read a key's texts on its last day. Through idx_events_day that meant
every event of the day (55,000 at ten million events): idx_events_question_day finds the key's own.
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
    op.create_index("idx_user_firsts_user", "user_firsts", ["user"])
    op.create_table(
        "guide_furthest", text("guide_id"), text("user"), sa.Column("furthest", sa.Integer(), nullable=False), text("last_day"),
        sa.PrimaryKeyConstraint("guide_id", "user"), sqlite_with_rowid=False,
    )
    op.create_index("idx_guide_furthest_user", "guide_furthest", ["user"])
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
    op.create_index("idx_events_question_day", "events", ["question_key", "day"], **_where("question_key is not null"))
    op.drop_index("idx_events_unanswered", "events")
    op.create_index("idx_events_unanswered", "events", ["question_key", "id"], **_where(UNANSWERED))


def downgrade() -> None:
    op.drop_index("idx_events_unanswered", "events")
    op.create_index("idx_events_unanswered", "events", ["question_key"], **_where(UNANSWERED))
    op.drop_index("idx_events_question_day", "events")
    op.drop_table("guide_furthest")
    op.drop_table("user_firsts")
