"""URL identity: every address a document can be looked up by, in its normal form.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

`url_aliases` holds, per committed ingest, its own URL (kind "url") and the addresses its HTML
declares for itself ("canonical", "og:url", "amphtml"), keyed by a digest of the normal form
(`canonry.workers.urls`). It replaces `ix_provenance_url` for both readers of it: the worker's
"is this URL known" and GET /lookup. Existing copies get their own URL's alias here; the links
declared by HTML stored before this revision are not re-parsed (a page's next copy or a reclean
records them).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from canonry.workers.urls import url_key

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHUNK = 5000


def upgrade() -> None:
    aliases = op.create_table(
        "url_aliases",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("url_key", sa.String(32), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("document_id", sa.String(40), nullable=False),
        sa.Column("ingest_id", sa.String(40), nullable=False),
    )
    bind = op.get_bind()
    provenance = sa.table("provenance", sa.column("id"), sa.column("document_id"),
                          sa.column("ingest_id"), sa.column("url"))
    last = 0
    while True:  # in provenance order, so the newest copy at a URL stays the newest alias
        rows = bind.execute(
            sa.select(provenance).where(provenance.c.id > last)
            .order_by(provenance.c.id).limit(_CHUNK)
        ).all()
        if not rows:
            break
        bind.execute(aliases.insert(), [
            {"url_key": url_key(row.url), "url": row.url, "kind": "url",
             "document_id": row.document_id, "ingest_id": row.ingest_id} for row in rows
        ])
        last = rows[-1].id
    op.create_index("ix_url_aliases_key", "url_aliases", ["url_key", "id"])
    op.create_index("ix_url_aliases_document", "url_aliases", ["document_id", "id"])
    op.drop_index("ix_provenance_url", table_name="provenance")


def downgrade() -> None:
    op.create_index("ix_provenance_url", "provenance", ["url", "id"])
    op.drop_table("url_aliases")
