"""Alembic environment: run by `sync.state.migrate` with a connection it already holds.

There is no alembic.ini: `sync.state.migrate.alembic_config()` builds the configuration in
code and passes the open connection in `config.attributes["connection"]`, so the migration
runs inside the caller's transaction (and under its lock).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

config = context.config


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
    context.configure(connection=connection, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
