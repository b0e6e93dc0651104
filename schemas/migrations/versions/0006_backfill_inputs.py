"""Backfill outcomes by input: each ingest names the backfill input that brought it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

`ingests.backfill_input` is the name of the `canonry backfill` input (its checkpoint's name)
that read the ingest first, set in the transaction that accepts it; NULL for articles only ever
posted over HTTP. `canonry backfill --wait` counts its inputs' ingests by it instead of keeping
every accepted id, and `ix_ingests_backfill_input` (partial: HTTP ingests are not in it) covers
that count, read from the index alone. Ingests accepted before this revision have no input:
a backfill killed before the upgrade and resumed after it counts only what it reads after.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TAGGED = sa.text("backfill_input IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("ingests") as batch:
        batch.add_column(sa.Column("backfill_input", sa.Text))
    op.create_index("ix_ingests_backfill_input", "ingests",
                    ["backfill_input", "status", "match", "error_code"],
                    postgresql_where=_TAGGED, sqlite_where=_TAGGED)


def downgrade() -> None:
    op.drop_index("ix_ingests_backfill_input", table_name="ingests")
    with op.batch_alter_table("ingests") as batch:
        batch.drop_column("backfill_input")
