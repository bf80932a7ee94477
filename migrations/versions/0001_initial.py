"""Initial schema: snapshot, links, runs and the operations journal.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# Timestamps: timestamptz on PostgreSQL; naive UTC text on SQLite (sync.state.tables.UTCDateTime).
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create every table of the state database."""
    op.create_table(
        "tt_users",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("username_cf", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("fetched_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tt_users"),
    )
    op.create_index("ix_tt_users_username_cf", "tt_users", ["username_cf"])

    op.create_table(
        "links",
        sa.Column("job", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("tt_id", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("desired_hash", sa.Text(), nullable=True),
        sa.Column("missing_runs", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("missing_since", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("job", "key", name="pk_links"),
    )
    op.create_index("ix_links_tt_id", "links", ["tt_id"])

    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job", sa.Text(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("failed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("source_records", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("host", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_index("ix_runs_job_started_at", "runs", ["job", "started_at"])
    op.create_index("ix_runs_status", "runs", ["status"])

    op.create_table(
        "operations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("job", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("match_key", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("username_cf", sa.Text(), nullable=False),
        sa.Column("tt_id", sa.Text(), nullable=True),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_operations_run_id_runs"),
        sa.PrimaryKeyConstraint("id", name="pk_operations"),
    )
    op.create_index("ix_operations_run_id", "operations", ["run_id"])
    op.create_index("ix_operations_username_cf", "operations", ["username_cf"])
    op.create_index("ix_operations_status", "operations", ["status"])
    op.create_index("ix_operations_created_at", "operations", ["created_at"])


def downgrade() -> None:
    """Drop every table (the state is lost; only for development)."""
    op.drop_table("operations")
    op.drop_table("runs")
    op.drop_table("links")
    op.drop_table("tt_users")
