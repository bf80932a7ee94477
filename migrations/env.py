"""Alembic environment: run by `sync.state.migrate` with a connection it already holds.

There is no alembic.ini: `sync.state.migrate.alembic_config()` builds the configuration in
code and passes the open connection in `config.attributes["connection"]`, so the migration
runs inside the caller's transaction (and under its lock). `target_metadata` is the state
tables of `sync.state.tables`, so autogenerate (`make migration`) compares the schema with them.
"""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa
from alembic import context
from alembic.autogenerate.api import AutogenContext

from sync.state.tables import UTCDateTime, metadata

config = context.config


def render_item(kind: str, obj: object, autogen: AutogenContext) -> str | Literal[False]:
    """Spell UTCDateTime as a plain type, so revisions never import today's sync code."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_offline() -> None:
    """Emit SQL for `--sql` style use (a DBA applying the schema by hand)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Migrate over the caller's connection, or a fresh one from `sqlalchemy.url`."""
    connection = config.attributes.get("connection")
    if connection is None:
        engine = sa.create_engine(str(config.get_main_option("sqlalchemy.url")))
        with engine.begin() as conn:
            _migrate(conn)
        engine.dispose()
        return
    _migrate(connection)


def _migrate(connection: sa.Connection) -> None:
    # transactional_ddl: SQLite can roll DDL back too, once the driver stops auto-committing
    # (sync.state.db sets that up), so a failed migration never leaves half a schema.
    # Autogenerate renders batch ALTERs: SQLite runs them as a table copy, PostgreSQL in place.
    context.configure(
        connection=connection,
        transactional_ddl=True,
        target_metadata=metadata,
        render_as_batch=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
