"""Saved plans that were applied: a plan is applied at most once, whichever daemon applies it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add the applied_plans table."""
    op.create_table(
        "applied_plans",
        sa.Column("plan_id", sa.Text(), nullable=False),
        sa.Column("job", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_applied_plans_run_id_runs"),
        sa.PrimaryKeyConstraint("plan_id", name="pk_applied_plans"),
    )


def downgrade() -> None:
    """Drop the applied_plans table."""
    op.drop_table("applied_plans")
