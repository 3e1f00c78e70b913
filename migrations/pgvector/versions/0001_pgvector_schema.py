"""The pgvector chunk store as the store made it at start before migrations.

`pgvector_chunk`: every company's chunks (text, metadata, the embedding model, the
vector); `pgvector_company`: the model and dimension that built each company's vectors,
and its chunk count. The vector column has no dimension, so models of different sizes
can share the table; the HNSW index per dimension is made by the store for the model in
use (`PgVectorStore`), since only the settings know it.

A database whose tables the store made before migrations keeps them as they are.

Revision ID: 0001
Revises:
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import VECTOR
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    if sa.inspect(op.get_bind()).has_table("pgvector_chunk"):
        return
    op.create_table(
        "pgvector_chunk",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("company_id", sa.String(length=63), nullable=False),
        sa.Column("document_id", sa.Text(), nullable=True),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("metadata", postgresql.JSONB(), nullable=False),
        sa.Column("embedding_model", sa.Text(), nullable=False),
        sa.Column("embedding", VECTOR(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "pgvector_chunk_company_document", "pgvector_chunk", ["company_id", "document_id"]
    )
    # Vectors stay in the row, not TOAST: exact search reads every one of them.
    op.execute("ALTER TABLE pgvector_chunk ALTER COLUMN embedding SET STORAGE MAIN")
    op.create_table(
        "pgvector_company",
        sa.Column("company_id", sa.String(length=63), nullable=False),
        sa.Column("embedding_model", sa.Text(), nullable=False),
        sa.Column("embedding_provider", sa.Text(), nullable=False),
        sa.Column("dimension", sa.Integer(), nullable=False),
        sa.Column("chunk_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("company_id"),
    )


def downgrade() -> None:
    op.drop_table("pgvector_company")
    op.drop_table("pgvector_chunk")
