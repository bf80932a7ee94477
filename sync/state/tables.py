"""The state database's tables as SQLAlchemy Core objects, for queries.

The schema itself is owned by the Alembic migrations in `migrations/versions/`; this
module mirrors them, and a test checks with alembic's `compare_metadata` that the migrated
schema and these tables agree. Never call `metadata.create_all()` on a real database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

# Constraint and index names are spelled out in the migrations; the convention keeps the
# names SQLAlchemy would generate identical to them.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL stores `timestamptz`; SQLite has no time zones, so the value is stored as
    naive UTC text (which sorts correctly) and gets its UTC zone back when read.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Reject naive datetimes (their zone is a guess) and convert to UTC."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; use an aware UTC time")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


def bind_once(type_: sa.types.TypeEngine[Any], value: Any, dialect: Dialect) -> Any:
    """The value as the driver receives it for a column of `type_` (for bulk constants)."""
    processor = type_.dialect_impl(dialect).bind_processor(dialect)
    return processor(value) if processor is not None else value


tt_users = sa.Table(
    "tt_users",
    metadata,
    sa.Column("id", sa.Text(), primary_key=True),
    sa.Column("username", sa.Text(), nullable=False),
    sa.Column("username_cf", sa.Text(), nullable=False, index=True),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    sa.Column("data", sa.Text(), nullable=False),  # JSON of every field, unknown ones included
    sa.Column("fetched_at", UTCDateTime(), nullable=False),
)

links = sa.Table(
    "links",
    metadata,
    sa.Column("job", sa.Text(), primary_key=True),
    sa.Column("key", sa.Text(), primary_key=True),
    sa.Column("tt_id", sa.Text(), nullable=False, index=True),
    sa.Column("username", sa.Text(), nullable=False),
    sa.Column("origin", sa.Text(), nullable=False),  # created | adopted
    sa.Column("desired_hash", sa.Text(), nullable=True),
    sa.Column("missing_runs", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("missing_since", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # Offboarding (sync.model.Offboarding): active | leaving | locked | retained | deactivated
    sa.Column("offboarding", sa.Text(), nullable=False, server_default="active"),
    sa.Column("offboarding_at", UTCDateTime(), nullable=True),  # when the state last changed
    sa.Column("locked_at", UTCDateTime(), nullable=True),
    sa.Column("delete_refused_at", UTCDateTime(), nullable=True),
    sa.Column("delete_refusal", sa.Text(), nullable=True),  # TimeTrack's message
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("job", sa.Text(), nullable=False),
    sa.Column("dry_run", sa.Boolean(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Column("status", sa.Text(), nullable=False),
    sa.Column("summary", sa.Text(), nullable=True),  # JSON {create: n, adopt: n, ...}
    sa.Column("failed", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("source_records", sa.Integer(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("pid", sa.Integer(), nullable=False),
    sa.Column("host", sa.Text(), nullable=False),
    sa.Index("ix_runs_job_started_at", "job", "started_at"),
    sa.Index("ix_runs_status", "status"),
)

operations = sa.Table(
    "operations",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id"), nullable=False, index=True),
    sa.Column("job", sa.Text(), nullable=False),
    sa.Column("action", sa.Text(), nullable=False),  # create | adopt | update | lock | delete
    sa.Column("match_key", sa.Text(), nullable=False),
    sa.Column("username", sa.Text(), nullable=False),
    sa.Column("username_cf", sa.Text(), nullable=False, index=True),
    sa.Column("tt_id", sa.Text(), nullable=True),
    sa.Column("changes", sa.Text(), nullable=False),  # JSON {field: [old, new]}, never a password
    sa.Column("reason", sa.Text(), nullable=False, server_default=""),
    # pending | done | failed | refused (a delete TimeTrack refused: the user is retained)
    sa.Column("status", sa.Text(), nullable=False, index=True),
    sa.Column("http_status", sa.Integer(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("created_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
)

# A saved plan's id once `apply` has started on it: a plan is applied at most once.
applied_plans = sa.Table(
    "applied_plans",
    metadata,
    sa.Column("plan_id", sa.Text(), primary_key=True),
    sa.Column("job", sa.Text(), nullable=False),
    sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("applied_at", UTCDateTime(), nullable=False),
)

# What a notification target was last told about a job: the job's status ("status"), each
# conflict ("conflict:KEY") and each long-waiting leaver ("offboarding:KEY").
notices = sa.Table(
    "notices",
    metadata,
    sa.Column("target", sa.Text(), primary_key=True),
    sa.Column("job", sa.Text(), primary_key=True),
    sa.Column("topic", sa.Text(), primary_key=True),
    sa.Column("detail", sa.Text(), nullable=False),
    sa.Column("sent_at", UTCDateTime(), nullable=False),
)
