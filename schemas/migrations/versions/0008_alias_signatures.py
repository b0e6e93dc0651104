"""Other texts a document is found by: aliases in the LSH index.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

One signature per document found only the stories whose later copies resembled its canonical
text. An upgrade replaced that text with a fuller one (holding, say, the host page's own
boxes), and a later copy of the story as first told became a second document; so did a copy
resembling a member of the story that had been told differently (cut, edited, boxed) rather
than the canonical. Those texts are now kept here, each under a key of its own
(`identity.alias_key_for`), and indexed beside the canonicals: an upgrade's former canonical,
and a copy verified by containment or on its text rather than by Jaccard. Documents
stored before this revision have none (their former texts are gone).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alias_signatures",
        sa.Column("key", sa.String(40), primary_key=True),
        sa.Column("document_id", sa.String(40), sa.ForeignKey("documents.id"), nullable=False),
        sa.Column("text_hash", sa.String(64), nullable=False),
        sa.Column("hashvalues", sa.LargeBinary, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("seen_at", sa.Float, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("match_text", sa.Text, nullable=False),
    )
    op.create_index("ix_alias_signatures_seen_at", "alias_signatures", ["seen_at"])
    op.create_index("ix_alias_signatures_document", "alias_signatures", ["document_id"])


def downgrade() -> None:
    op.drop_index("ix_alias_signatures_document", "alias_signatures")
    op.drop_index("ix_alias_signatures_seen_at", "alias_signatures")
    op.drop_table("alias_signatures")
