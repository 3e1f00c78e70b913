"""Keyword search in PostgreSQL: a generated `tsvector` of each chunk, and a GIN index on it.

`text_search` is `to_tsvector('english', text)`, kept by PostgreSQL itself (a stored
generated column), so every writer, old or new, fills it. The GIN index leads with
`company_id` (the `btree_gin` extension, shipped with PostgreSQL), so a keyword query
reads the index entries of the asking company only.

Adding a stored column rewrites `pgvector_chunk` under an exclusive lock: on a large
table, run this revision in a maintenance window (`docs/deploy.md`).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    op.add_column(
        "pgvector_chunk",
        sa.Column(
            "text_search",
            postgresql.TSVECTOR(),
            sa.Computed("to_tsvector('english'::regconfig, text)", persisted=True),
            nullable=True,
        ),
    )
    op.create_index(
        "pgvector_chunk_text_search",
        "pgvector_chunk",
        ["company_id", "text_search"],
        postgresql_using="gin",
    )


def downgrade() -> None:
    op.drop_index("pgvector_chunk_text_search", table_name="pgvector_chunk")
    op.drop_column("pgvector_chunk", "text_search")
