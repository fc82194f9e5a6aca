"""Rate limits and the secret lockout shared by every worker (issue 13, `serve --workers N`).

rate_windows: messages per key in fixed windows of a limit's period; a limit reads the current and the
previous window (a sliding-window estimate), so the count holds whichever worker a message reaches.
secret_failures: the dashboard login and admin-token lockout's record per client (bot.secrets_guard).
Keys are keyed hashes (no session id, user id or address in clear).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_windows",
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", "window_start"),
        sqlite_with_rowid=False,
    )
    op.create_index("idx_rate_windows_start", "rate_windows", ["window_start"])
    op.create_table(
        "secret_failures",
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("failures", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("strikes", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until", sa.Float(), nullable=False, server_default="0"),
        sa.Column("last", sa.Float(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("secret_failures")
    op.drop_index("idx_rate_windows_start", "rate_windows")
    op.drop_table("rate_windows")
