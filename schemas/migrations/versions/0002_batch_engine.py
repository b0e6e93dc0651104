"""Batch engine: a flat cost per article.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

- `provenance.url` is looked up for every article (is this URL known?): indexed, with `id` so the
  latest row per URL is read from the index alone. Without it the lookup scanned the table and
  the cost per article grew with the archive.
- `ix_ingests_url` was never used by any query: dropped.
- `ingests.error_code`: a machine-readable reason next to the message (`empty_after_cleaning`,
  `attempts_exhausted`, …).
- `events` was written and never read: dropped. A document's `change_seq` is now handed out by
  the decision transaction itself (the next number after the highest committed one), which
  the serialised decision transactions keep in commit order.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SeqId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_index("ix_provenance_url", "provenance", ["url", "id"])
    op.drop_index("ix_ingests_url", table_name="ingests")
    with op.batch_alter_table("ingests") as batch:
        batch.add_column(sa.Column("error_code", sa.String(40)))
    op.drop_table("events")


def downgrade() -> None:
    op.create_table(
        "events",
        sa.Column("seq", _SeqId, primary_key=True, autoincrement=True),
        sa.Column("document_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("ingest_id", sa.String(40)),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("ingests") as batch:
        batch.drop_column("error_code")
    op.create_index("ix_ingests_url", "ingests", ["url"])
    op.drop_index("ix_provenance_url", table_name="provenance")
