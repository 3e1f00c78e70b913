"""The pgvector store's tables and indexes: made by the `pgvector` migrations
(`core/migrations.py`), except the HNSW index of the embedding model's dimension, which
only the settings know and `create_schema` makes at start when missing.

- `pgvector_chunk`: one row per chunk of every company: text, metadata (JSONB), the
  embedding model and the vector. Ids come from a sequence and are never reused. The
  column is `vector` without a dimension, so companies whose vectors come from models of
  different sizes can share the table; the HNSW index (cosine, m=16, ef_construction=64)
  is a partial expression index per dimension: `((embedding::vector(384))
  vector_cosine_ops) WHERE vector_dims(embedding) = 384`.
- `pgvector_company`: the model and dimension that built each company's vectors (the
  FAISS sidecar's role) and its chunk count.
"""

from __future__ import annotations

import structlog
from pgvector.sqlalchemy import VECTOR
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine

from core import migrations

log = structlog.get_logger(__name__)

HNSW_MAX_DIMENSIONS = 2000  # pgvector indexes `vector` up to 2,000 dimensions
MIN_PGVECTOR = (0, 5, 0)  # HNSW
SCHEMA_LOCK_KEY = 0x7067_7665  # pg_advisory_xact_lock: one process creates the schema

metadata_obj = MetaData()

chunk_table = Table(
    "pgvector_chunk",
    metadata_obj,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("company_id", String(63), nullable=False),
    Column("document_id", Text),
    Column("chunk_index", Integer, nullable=False),
    Column("source", Text),
    Column("text", Text, nullable=False),
    Column("metadata", JSONB, nullable=False),
    Column("embedding_model", Text, nullable=False),
    Column("embedding", VECTOR(), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("pgvector_chunk_company_document", "company_id", "document_id"),
)

company_table = Table(
    "pgvector_company",
    metadata_obj,
    Column("company_id", String(63), primary_key=True),
    Column("embedding_model", Text, nullable=False),
    Column("embedding_provider", Text, nullable=False),
    Column("dimension", Integer, nullable=False),
    Column("chunk_count", BigInteger, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


def create_schema(engine: Engine, dimension: int, *, migrate: bool = True) -> tuple[int, ...]:
    """Bring the schema to head (`migrate`) or check it is there, then create this
    dimension's HNSW index when missing. Returns the installed pgvector version."""
    migrations.prepare(engine, "pgvector", migrate=migrate)
    dimension = int(dimension)
    with engine.begin() as connection:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        version = _version(
            connection.execute(
                text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            ).scalar_one()
        )
        if version < MIN_PGVECTOR:
            raise RuntimeError(
                f"pgvector {'.'.join(map(str, version))} has no HNSW index; 0.5.0+ is needed "
                "(ALTER EXTENSION vector UPDATE after installing a newer package)"
            )
        index_name = f"pgvector_chunk_hnsw_{dimension}"
        exists = connection.execute(text("SELECT to_regclass(:name)"), {"name": index_name})
        if dimension > HNSW_MAX_DIMENSIONS:
            log.warning("pgvector_no_hnsw_index", dimension=dimension, search="exact")
        elif exists.scalar() is None:
            connection.execute(text(hnsw_index_ddl(dimension)))
    return version


def hnsw_index_ddl(dimension: int) -> str:
    """The partial HNSW index for vectors of one dimension (bench/ rebuilds it after COPY)."""
    dimension = int(dimension)
    return (
        f"CREATE INDEX IF NOT EXISTS pgvector_chunk_hnsw_{dimension} ON pgvector_chunk "
        f"USING hnsw ((CAST(embedding AS vector({dimension}))) vector_cosine_ops) "
        "WITH (m = 16, ef_construction = 64) "
        f"WHERE vector_dims(embedding) = {dimension}"
    )


def _version(extversion: str) -> tuple[int, ...]:
    return tuple(int(part) for part in extversion.split(".")[:3] if part.isdigit())
