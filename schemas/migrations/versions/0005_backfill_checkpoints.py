"""Resumable backfills: a checkpoint per input.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

`backfill_checkpoints` holds, per input of `canonry backfill` (its resolved path), the number of
records read from its start whose articles are committed: written in the transaction that
accepts them, so after a kill the next run skips exactly what is already in.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backfill_checkpoints",
        sa.Column("input", sa.Text, primary_key=True),
        sa.Column("records", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("backfill_checkpoints")
