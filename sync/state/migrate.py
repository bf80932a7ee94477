"""Programmatic Alembic: upgrade the state database, and tell where it stands.

Used by `StateStore` (SQLite always, PostgreSQL when `state.auto_migrate`) and by
`timetrack-sync db upgrade`. No alembic.ini: the configuration is built here.

Alembic is imported only to upgrade: every run opens the store, and importing it costs more
than the rest of the opening. The revisions this version knows come from the names of the
migration files, `NNNN_<slug>.py` with revision id `NNNN` (scripts/new_migration.py writes
them so; tests/integration/test_state_sqlite.py checks that Alembic reads the same), and the
stamped revision from Alembic's version table with a plain query.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING

import sqlalchemy as sa
import structlog

from sync.errors import StateError
from sync.resources import bundled
from sync.state import db

if TYPE_CHECKING:
    from alembic.config import Config

log = structlog.get_logger(__name__)

# pg_advisory_xact_lock key that serializes concurrent upgrades on PostgreSQL ("ttsm").
_PG_MIGRATION_LOCK = 0x7474736D
# Alembic's defaults (migrations/env.py keeps them): one row holding the stamped revision.
VERSION_TABLE = "alembic_version"
_REVISION_FILE = re.compile(r"(\d{4})_\w+\.py")


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Alembic's configuration for the packaged migrations (optionally bound to a connection)."""
    from alembic.config import Config

    config = Config()
    # ConfigParser interpolation: a literal % in the path must be doubled.
    config.set_main_option("script_location", str(bundled("migrations")).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def _revisions() -> tuple[str, ...]:
    """The ids of the packaged migrations, oldest first (from their file names)."""
    names = (path.name for path in bundled("migrations", "versions").iterdir())
    found = sorted(m.group(1) for m in map(_REVISION_FILE.fullmatch, names) if m)
    if not found:  # pragma: no cover - the package always ships a version
        raise StateError("no database migrations are packaged with timetrack-sync")
    return tuple(found)


def head_revision() -> str:
    """The newest schema revision this version of timetrack-sync knows."""
    return _revisions()[-1]


def known_revisions() -> frozenset[str]:
    """Every revision this version of timetrack-sync can read."""
    return frozenset(_revisions())


def _engine_for(engine_or_url: sa.Engine | str) -> tuple[sa.Engine, bool]:
    if isinstance(engine_or_url, sa.Engine):
        return engine_or_url, False
    return db.create_state_engine(engine_or_url), True


def _where(engine: sa.Engine) -> str:
    return db.describe(engine.url)


def _read_revision(conn: sa.Connection) -> str | None:
    """The revision in Alembic's version table (None: no table or no row, an empty database)."""
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    stamped = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(stamped) > 1:
        raise StateError(
            f"state database {_where(conn.engine)} is stamped with several schema revisions "
            f"({', '.join(sorted(stamped))}); timetrack-sync keeps one",
            hint=f"keep only the newest row of {VERSION_TABLE}, or restore a backup",
        )
    return stamped[0] if stamped else None


def current_revision(engine_or_url: sa.Engine | str) -> str | None:
    """The revision stamped in the database (None for an empty database)."""
    engine, owned = _engine_for(engine_or_url)
    is_sqlite = engine.dialect.name == "sqlite"
    try:
        with (
            db.db_errors(_where(engine), "read the schema revision", is_sqlite=is_sqlite),
            engine.connect() as conn,
        ):
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
                from alembic import command

                command.upgrade(alembic_config(conn), "head")
        if before != head:
            log.info("state_db_migrated", database=where, from_revision=before, to_revision=head)
        return before, head
    finally:
        if owned:
            engine.dispose()


def ensure_current(engine: sa.Engine, *, auto_migrate: bool) -> None:
    """Bring the schema to head (SQLite always) or check it is there (PostgreSQL, no auto)."""
    revision = current_revision(engine)
    if revision == head_revision():
        return  # the common case, without a write transaction or Alembic
    if engine.dialect.name == "sqlite" or auto_migrate:
        upgrade(engine)
        return
    where = _where(engine)
    check_known(revision, where)
    raise StateError(
        f"state database {where} is at schema revision {revision or 'none (empty)'}, "
        f"this timetrack-sync needs {head_revision()}",
        hint="run `timetrack-sync db upgrade` (state.auto_migrate is false)",
    )
