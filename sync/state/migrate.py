"""Programmatic Alembic: upgrade the state database, and tell where it stands.

Used by `StateStore` (SQLite always, PostgreSQL when `state.auto_migrate`) and by
`timetrack-sync db upgrade`. No alembic.ini: the configuration is built here.
"""

from __future__ import annotations

from functools import cache

import sqlalchemy as sa
import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from sync.errors import StateError
from sync.resources import bundled
from sync.state import db

log = structlog.get_logger(__name__)

# pg_advisory_xact_lock key that serializes concurrent upgrades on PostgreSQL ("ttsm").
_PG_MIGRATION_LOCK = 0x7474736D


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Alembic's configuration for the packaged migrations (optionally bound to a connection)."""
    config = Config()
    # ConfigParser interpolation: a literal % in the path must be doubled.
    config.set_main_option("script_location", str(bundled("migrations")).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest schema revision this version of timetrack-sync knows."""
    head = _script().get_current_head()
    if head is None:  # pragma: no cover - the package always ships a version
        raise StateError("no database migrations are packaged with timetrack-sync")
    return head


def known_revisions() -> frozenset[str]:
    """Every revision this version of timetrack-sync can read."""
    return frozenset(script.revision for script in _script().walk_revisions())


def _engine_for(engine_or_url: sa.Engine | str) -> tuple[sa.Engine, bool]:
    if isinstance(engine_or_url, sa.Engine):
        return engine_or_url, False
    return db.create_state_engine(engine_or_url), True


def _where(engine: sa.Engine) -> str:
    return db.describe(engine.url)


def _read_revision(conn: sa.Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def current_revision(engine_or_url: sa.Engine | str) -> str | None:
    """The revision stamped in the database (None for an empty database)."""
    engine, owned = _engine_for(engine_or_url)
    try:
        with db.db_errors(_where(engine), "read the schema revision"), engine.connect() as conn:
            return _read_revision(conn)
    finally:
        if owned:
            engine.dispose()


def check_known(revision: str | None, where: str) -> None:
    """Refuse a database written by a newer timetrack-sync (a revision we do not know)."""
    if revision is not None and revision not in known_revisions():
        raise StateError(
            f"state database was written by a newer timetrack-sync (revision {revision}); "
            "upgrade timetrack-sync",
            hint=f"install the version that wrote {where} or a newer one; "
            "this version leaves the database untouched",
        )


def upgrade(engine_or_url: sa.Engine | str) -> tuple[str | None, str]:
    """Upgrade the schema to head in one transaction; returns (revision before, after)."""
    engine, owned = _engine_for(engine_or_url)
    where = _where(engine)
    is_sqlite = engine.dialect.name == "sqlite"
    try:
        # WRITE: BEGIN IMMEDIATE on SQLite, so two processes never migrate at once.
        with (
            db.db_errors(where, "upgrade the schema", is_sqlite=is_sqlite),
            engine.connect().execution_options(**{db.WRITE: True}) as conn,
            conn.begin(),
        ):
            if engine.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
            before = _read_revision(conn)
            check_known(before, where)
            head = head_revision()
            if before != head:
                command.upgrade(alembic_config(conn), "head")
        if before != head:
            log.info("state_db_migrated", database=where, from_revision=before, to_revision=head)
        return before, head
    finally:
        if owned:
            engine.dispose()


def ensure_current(engine: sa.Engine, *, auto_migrate: bool) -> None:
    """Bring the schema to head (SQLite always) or check it is there (PostgreSQL, no auto)."""
    if engine.dialect.name == "sqlite" or auto_migrate:
        upgrade(engine)
        return
    where = _where(engine)
    revision = current_revision(engine)
    check_known(revision, where)
    if revision != head_revision():
        raise StateError(
            f"state database {where} is at schema revision {revision or 'none (empty)'}, "
            f"this timetrack-sync needs {head_revision()}",
            hint="run `timetrack-sync db upgrade` (state.auto_migrate is false)",
        )
