"""Alembic's entry point for DigiGuide's schema (see bot.storage.migrate, which calls it).

The schema has no ORM models: each revision under versions/ says what changes, in Alembic's operations
(portable DDL: SQLAlchemy renders the right types for SQLite and for PostgreSQL). The caller hands over
an open connection, already holding the migration lock, through `config.attributes["connection"]`.
"""

from alembic import context

VERSION_TABLE = "digiguide_schema_version"

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=None,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters a table by copying it
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
