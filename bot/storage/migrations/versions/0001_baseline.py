"""Every table DigiGuide had before PostgreSQL: conversation state, events and their daily rollups,
cluster marks, accounts/tokens/sessions/audit, tickets/messages/outbox/watchers, content revisions.

Written with `if_not_exists`, so an SQLite file made by the hand-written migrations of earlier versions
(schema_version, accounts_schema_version, handover_schema_version, content_schema_version) is adopted as
it is: its tables stay, any index it lacked is added, and those four version tables are dropped, since
Alembic's version table now says where a database stands.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ROLES = "role in ('viewer', 'editor', 'admin')"
REVISION_ACTIONS = "action in ('create', 'edit', 'retire', 'restore', 'remove', 'revert', 'locality')"
LEGACY_VERSION_TABLES = ("schema_version", "accounts_schema_version", "handover_schema_version", "content_schema_version")


def _id() -> sa.Column:
    """An auto-numbered key: SQLite's rowid alias (INTEGER PRIMARY KEY), PostgreSQL's bigserial."""
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)


def _table(name: str, *columns, **kw) -> None:
    op.create_table(name, *columns, if_not_exists=True, **kw)


def _index(name: str, table: str, columns: list[str], where: str | None = None, unique: bool = False) -> None:
    partial = {} if where is None else {"sqlite_where": sa.text(where), "postgresql_where": sa.text(where)}
    op.create_index(name, table, columns, unique=unique, if_not_exists=True, **partial)


def text(name: str, nullable: bool = True, **kw) -> sa.Column:
    return sa.Column(name, sa.Text(), nullable=nullable, **kw)


def real(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Float(), nullable=nullable)  # double precision on PostgreSQL: epoch seconds


def integer(name: str, nullable: bool = True, **kw) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=nullable, **kw)


def upgrade() -> None:
    _state()
    _events()
    _accounts()
    _handover()
    _content()
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    for legacy in LEGACY_VERSION_TABLES:
        if legacy in existing:
            op.drop_table(legacy)


def _state() -> None:
    _table("user_state", text("user", primary_key=True), text("state"), real("updated"), real("created"))


def _events() -> None:
    _table(
        "events", _id(), real("ts", False), text("day", False), text("channel", False), text("user", False),
        text("lang"), text("kind", False), text("topic"), text("entry_id"), integer("guide_step"), real("score"),
        text("question"), text("question_key"), text("source"), text("ward"), text("feedback"),
    )
    _index("idx_events_day", "events", ["day"])
    _index("idx_events_user", "events", ["user"])
    _index("idx_events_unanswered", "events", ["question_key"], where="kind in ('fallback', 'suggest')")
    _index("idx_events_feedback", "events", ["entry_id"], where="feedback is not null")
    rollup = {"sqlite_with_rowid": False}
    _table(
        "daily", *(text(c, False) for c in ("day", "channel", "topic", "kind", "lang", "source", "ward")),
        integer("n", False), sa.PrimaryKeyConstraint("day", "channel", "topic", "kind", "lang", "source", "ward"), **rollup,
    )
    _table(
        "daily_users", *(text(c, False) for c in ("day", "user", "channel", "source", "ward")),
        sa.PrimaryKeyConstraint("day", "user"), **rollup,
    )
    _table(
        "daily_guide", text("day", False), text("guide_id", False), integer("step", False), text("user", False),
        sa.PrimaryKeyConstraint("day", "guide_id", "step", "user"), **rollup,
    )
    _table(
        "daily_feedback", text("day", False), text("entry_id", False), text("topic", False),
        integer("up", False), integer("down", False), sa.PrimaryKeyConstraint("day", "entry_id"), **rollup,
    )
    _table(
        "daily_questions", *(text(c, False) for c in ("day", "question_key", "topic", "kind", "channel", "ward")),
        integer("n", False), sa.PrimaryKeyConstraint("day", "question_key", "topic", "kind", "channel", "ward"), **rollup,
    )
    _table(
        "cluster_marks", text("question_key", primary_key=True), text("status", False), text("entry_id"),
        real("marked_at", False), sa.CheckConstraint("status in ('resolved', 'ignored')"),
    )
    # For the reports over long ranges (analytics.report._wide): distinct users per channel, ward and
    # source, counted in index order without a sort; each user's furthest guide page; and the question
    # kinds of `daily` (about 40% of its rows) with their counts, which every breakdown and series reads.
    _index("idx_daily_users_channel", "daily_users", ["channel", "user"])
    _index("idx_daily_users_ward", "daily_users", ["ward", "user"])
    _index("idx_daily_users_source", "daily_users", ["source", "user"])
    _index("idx_daily_guide_user", "daily_guide", ["guide_id", "user"])
    _index("idx_daily_question_kinds", "daily", ["day", "n"], where="kind in ('faq', 'guide', 'suggest', 'fallback')")


def _accounts() -> None:
    _table(
        "accounts", text("name", primary_key=True), text("role", False), text("wards", False, server_default="[]"),
        text("password_hash", False), integer("must_change", False), real("disabled_at"), real("created_at", False),
        real("password_changed_at"), sa.CheckConstraint(ROLES),
    )
    _table(
        "api_tokens", _id(), text("name", False), text("role", False), text("wards", False, server_default="[]"),
        text("token_hash", False, unique=True), text("prefix", False), real("created_at", False), real("last_used_at"),
        real("revoked_at"), sa.CheckConstraint(ROLES),
    )
    # one live token per name (a revoked name can be issued again; the revoked row stays for the record)
    _index("idx_api_tokens_live_name", "api_tokens", ["name"], where="revoked_at is null", unique=True)
    _table(
        "sessions", text("id_hash", primary_key=True), text("account", False), text("csrf", False),
        real("created_at", False), real("last_seen_at", False),
    )
    _index("idx_sessions_account", "sessions", ["account"])
    _table(
        "audit_log", _id(), real("ts", False), text("actor", False), text("action", False), text("target"),
        text("detail", False, server_default="{}"),
    )
    _index("idx_audit_log_ts", "audit_log", ["ts"])


def _handover() -> None:
    _table(
        "tickets", _id(), text("user", False), text("channel", False), sa.Column("address", sa.LargeBinary()),
        text("lang", False), text("ward", False, server_default=""), text("topic"), text("question", False),
        text("question_key"), text("attempt", False, server_default="{}"), text("status", False, server_default="open"),
        real("created_at", False), text("taken_by"), real("taken_at"), real("first_answer_at"), real("closed_at"),
        text("content_entry"), sa.CheckConstraint("status in ('open', 'answered', 'closed', 'withdrawn')"),
    )
    _index("idx_tickets_status", "tickets", ["status", "ward", "created_at"])
    _index("idx_tickets_user", "tickets", ["user"])
    _table(
        "ticket_messages", _id(),
        sa.Column("ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False),
        text("author", False), text("text", False), text("entry_id"), real("created_at", False),
        sa.Column("outbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite")),
    )
    _index("idx_ticket_messages_ticket", "ticket_messages", ["ticket_id"])
    _table(
        "outbox", _id(), text("kind", False), text("channel", False), sa.Column("address", sa.LargeBinary()),
        text("user"), text("lang", False, server_default="vi"), text("text", False, server_default=""), text("entry_id"),
        sa.Column("ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite")),
        text("status", False, server_default="queued"), integer("attempts", False, server_default="0"),
        real("next_try", False), text("error"), real("created_at", False), real("sent_at"),
        sa.CheckConstraint("status in ('queued', 'sent', 'failed')"),
    )
    _index("idx_outbox_due", "outbox", ["status", "next_try"])
    _index("idx_outbox_user", "outbox", ["user", "status"])
    _table(
        "watchers", _id(), text("user", False), text("channel", False), sa.Column("address", sa.LargeBinary()),
        text("lang", False), text("question_key", False), text("topic"), real("created_at", False),
        real("expires_at", False), real("notified_at"), text("entry_id"), sa.UniqueConstraint("user", "question_key"),
    )
    _index("idx_watchers_key", "watchers", ["question_key"])


def _content() -> None:
    _table(
        "content_revisions", _id(), real("ts", False), text("actor", False), text("kind", False), text("entry_id"),
        text("action", False), text("base_version", False), text("new_version", False), text("file", False),
        text("before"), text("after"), text("diff", False), text("meta", False, server_default="{}"),
        sa.CheckConstraint("kind in ('faq', 'guide', 'locality')"), sa.CheckConstraint(REVISION_ACTIONS),
    )
    _index("idx_content_revisions_entry", "content_revisions", ["kind", "entry_id", "id"])


def downgrade() -> None:
    raise NotImplementedError("the baseline is not undone: restore a backup instead")
