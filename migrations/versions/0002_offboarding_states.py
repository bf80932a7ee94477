"""Offboarding states of owned users: leaving, locked, retained, deactivated, with their times.

Existing links start `active`; a leaver waiting out its grace then becomes `leaving` on the
next run, from its `missing_since`.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add the offboarding columns to links."""
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("offboarding", sa.Text(), server_default="active", nullable=False)
        )
        batch_op.add_column(sa.Column("offboarding_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("delete_refused_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("delete_refusal", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop the offboarding columns."""
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.drop_column("delete_refusal")
        batch_op.drop_column("delete_refused_at")
        batch_op.drop_column("locked_at")
        batch_op.drop_column("offboarding_at")
        batch_op.drop_column("offboarding")
