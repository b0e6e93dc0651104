"""Initial schema: ingests, documents, provenance, signatures, events and the chrome model's tables.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

A frozen copy of `canonry.schemas.tables` as first released: migrations must not import the
live metadata, which will move on. tests/test_migrations.py checks that head equals it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite only auto-increments INTEGER PRIMARY KEY; BIGINT elsewhere (as in tables.py).
_SeqId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ingests",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("text", sa.Text),
        sa.Column("html", sa.Text),
        sa.Column("language", sa.String(35)),
        sa.Column("published_at", _When),
        sa.Column("metadata", sa.JSON),
        sa.Column("received_at", _When, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("document_id", sa.String(40)),
        sa.Column("match", sa.String(8)),
        sa.Column("similarity", sa.Float),
        sa.Column("updated_at", _When, nullable=False),
    )
    op.create_index("ix_ingests_status", "ingests", ["status"])
    op.create_index("ix_ingests_url", "ingests", ["url"])

    op.create_table(
        "documents",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("title", sa.Text),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("language", sa.String(35)),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("published_at", _When),
        sa.Column("first_seen_at", _When, nullable=False),
        sa.Column("updated_at", _When, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("canonical_ingest_id", sa.String(40), nullable=False),
        sa.Column("provenance_count", sa.Integer, nullable=False),
        sa.Column("change_seq", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_documents_change_seq", "documents", ["change_seq"], unique=True)

    op.create_table(
        "provenance",
        sa.Column("id", _SeqId, primary_key=True, autoincrement=True),
        sa.Column("document_id", sa.String(40), sa.ForeignKey("documents.id"), nullable=False),
        sa.Column("ingest_id", sa.String(40), sa.ForeignKey("ingests.id"), nullable=False,
                  unique=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("published_at", _When),
        sa.Column("received_at", _When, nullable=False),
        sa.Column("match", sa.String(8), nullable=False),
        sa.Column("similarity", sa.Float),
    )
    op.create_index("ix_provenance_document", "provenance", ["document_id", "id"])

    op.create_table(
        "signatures",
        sa.Column("document_id", sa.String(40), sa.ForeignKey("documents.id"),
                  primary_key=True),
        sa.Column("text_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hashvalues", sa.LargeBinary, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("seen_at", sa.Float, nullable=False),
    )
    op.create_index("ix_signatures_seen_at", "signatures", ["seen_at"])

    op.create_table(
        "events",
        sa.Column("seq", _SeqId, primary_key=True, autoincrement=True),
        sa.Column("document_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("ingest_id", sa.String(40)),
        sa.Column("at", _When, nullable=False),
    )

    op.create_table(
        "chrome_sources",
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("pages", sa.Integer, nullable=False),
    )
    op.create_table(
        "chrome_lines",
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("line_hash", sa.String(32), primary_key=True),
        sa.Column("pages", sa.Integer, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
    )
    op.create_index("ix_chrome_lines_prune", "chrome_lines", ["pages", "last_seen"])
    op.create_table(
        "chrome_line_sources",
        sa.Column("line_hash", sa.String(32), primary_key=True),
        sa.Column("sources", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    # Reverse order of creation, so foreign keys never point at a dropped table.
    op.drop_table("chrome_line_sources")
    op.drop_index("ix_chrome_lines_prune", table_name="chrome_lines")
    op.drop_table("chrome_lines")
    op.drop_table("chrome_sources")
    op.drop_table("events")
    op.drop_index("ix_signatures_seen_at", table_name="signatures")
    op.drop_table("signatures")
    op.drop_index("ix_provenance_document", table_name="provenance")
    op.drop_table("provenance")
    op.drop_index("ix_documents_change_seq", table_name="documents")
    op.drop_table("documents")
    op.drop_index("ix_ingests_url", table_name="ingests")
    op.drop_index("ix_ingests_status", table_name="ingests")
    op.drop_table("ingests")
