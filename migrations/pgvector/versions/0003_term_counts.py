"""Keyword search: each company's document frequency per lexeme, kept in a table.

Counting a common word's matches in a big company (a GIN scan, then a heap visit per
matching chunk) took most of a hybrid question's time there. `pgvector_term` holds the
count instead, and the store updates it in the transaction that adds or removes chunks.
This revision fills it from the chunks already stored (one pass over `pgvector_chunk`).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pgvector_term",
        sa.Column("company_id", sa.String(length=63), nullable=False),
        sa.Column("lexeme", sa.Text(), nullable=False),
        sa.Column("chunks", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("company_id", "lexeme"),
    )
    op.execute(
        "INSERT INTO pgvector_term (company_id, lexeme, chunks)"
        " SELECT company_id, lexeme, count(*) FROM pgvector_chunk,"
        " unnest(tsvector_to_array(text_search)) AS lexeme GROUP BY company_id, lexeme"
    )


def downgrade() -> None:
    op.drop_table("pgvector_term")
