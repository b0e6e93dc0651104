"""A transactional outbox for push events.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

`outbox` holds one event per change, keyed by the change's feed position (`change_seq`),
written by the transaction that makes the change. The documents that exist already get one
event each at their current position (`document.created`, or `document.updated` past version
1), so a consumer reading from the start sees every document.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("type", sa.String(24), nullable=False),
        sa.Column("document_id", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("ingest_id", sa.String(40)),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute(
        "INSERT INTO outbox (seq, type, document_id, version, ingest_id, at) "
        "SELECT change_seq, CASE WHEN version > 1 THEN 'document.updated' "
        "ELSE 'document.created' END, id, version, canonical_ingest_id, updated_at "
        "FROM documents"
    )


def downgrade() -> None:
    op.drop_table("outbox")
