"""Alembic environment of the `pgvector` schema: the chunk store of VECTOR_STORE=pgvector."""

from alembic import context

from backend.migrate import pgvector_metadata, run_migrations

run_migrations(context, "pgvector", pgvector_metadata())
