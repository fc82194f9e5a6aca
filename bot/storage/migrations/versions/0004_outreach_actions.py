"""Outreach actions (issue 14): when a ward's posters or meeting sheet for a guide were produced from the
"Gợi ý tuyên truyền" page, so that the page can show that guide's figures in the ward before and after.

One row per (day, ward, group, guide, what): producing the same thing twice on one day is one action.
`group_id` is "" for the ward's meeting sheet (it is for the whole ward); `step` is the guide step the
suggestion targeted (null when it named none); `actor` is the official's account or token name, no
citizen's data.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outreach_actions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("day", sa.Text(), nullable=False),
        sa.Column("ward", sa.Text(), nullable=False),
        sa.Column("group_id", sa.Text(), nullable=False, server_default=""),
        sa.Column("guide_id", sa.Text(), nullable=False),
        sa.Column("step", sa.Integer()),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.CheckConstraint("what in ('posters', 'sheet')"),
        sa.UniqueConstraint("day", "ward", "group_id", "guide_id", "what"),
    )
    op.create_index("idx_outreach_actions_ward", "outreach_actions", ["ward", "guide_id", "day"])


def downgrade() -> None:
    op.drop_index("idx_outreach_actions_ward", "outreach_actions")
    op.drop_table("outreach_actions")
