"""The text a signature was taken from, where it is not the published text.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

Match decisions read the body as the page alone gives it; the boilerplate learned from a
source's other pages only trims lines from the published `documents.text`. Where it trimmed,
`signatures.match_text` keeps the untrimmed body, which the same-site check compares, so no
decision depends on how far the model had learned when a story's copies arrived. NULL (every
row written before this revision, and most after it): the signature read `documents.text`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("signatures") as batch:
        batch.add_column(sa.Column("match_text", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("signatures") as batch:
        batch.drop_column("match_text")
