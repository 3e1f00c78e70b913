"""The vector store the assessments use: its interface and the one place that picks it.

`create_vector_store` builds FAISS files under DATA_DIR (`core.faiss_store`) by default, or
PostgreSQL + pgvector (`core.pgvector_store`) with `VECTOR_STORE=pgvector`. Both provide
`VectorStoreBackend` and return the same `SearchResult`s (`core.vector_chunks`), so callers
depend on this interface only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from core.config import Settings
from core.database import create_db_engine
from core.embedding_client import EmbeddingClient
from core.faiss_store import FaissVectorStore
from core.pgvector_store import PgVectorStore
from core.vector_chunks import DocumentChunks, Metadata, SearchResult


class VectorStoreBackend(Protocol):
    """What the assessments use of a vector store; FAISS and pgvector both provide it."""

    @property
    def embedder(self) -> EmbeddingClient: ...

    async def add_documents(
        self,
        *,
        documents: Sequence[str],
        company_id: str,
        metadata: Metadata = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[int]: ...

    async def replace_document(
        self,
        *,
        document_id: str,
        documents: Sequence[str],
        company_id: str,
        metadata: Metadata = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[int]: ...

    async def replace_documents(
        self,
        documents: Sequence[DocumentChunks],
        *,
        company_id: str,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[list[int]]: ...

    def similarity_search(
        self,
        query_embedding: np.ndarray,
        *,
        company_id: str,
        k: int = 4,
        threshold: float = 0.45,
    ) -> list[SearchResult]: ...

    def delete_document(self, document_id: str, *, company_id: str) -> int: ...

    def delete_company(self, company_id: str) -> None: ...

    def has_index(self, company_id: str) -> bool: ...

    def is_compatible(self, company_id: str) -> bool: ...

    def count(self, company_id: str) -> int: ...

    def chunk_version(self, company_id: str) -> tuple[int, int]: ...

    def chunk_texts(self, company_id: str, *, after_id: int = 0) -> list[tuple[int, str]]: ...

    def chunk_ids(self, company_id: str) -> list[int]: ...

    def score_chunks(
        self, query_embedding: np.ndarray, *, company_id: str, chunk_ids: Sequence[int]
    ) -> list[SearchResult]: ...


def create_vector_store(
    settings: Settings, *, engine: Engine, embedder: EmbeddingClient
) -> VectorStoreBackend:
    """FAISS files under DATA_DIR by default; PostgreSQL + pgvector when VECTOR_STORE=pgvector."""
    if settings.VECTOR_STORE == "pgvector":
        return _pgvector_store(settings, engine=engine, embedder=embedder)
    return FaissVectorStore(engine=engine, embedder=embedder, index_dir=settings.faiss_index_dir)


def _pgvector_store(
    settings: Settings, *, engine: Engine, embedder: EmbeddingClient
) -> PgVectorStore:
    """The store for `VECTOR_STORE=pgvector`, on the app's engine when the URLs agree.

    Raises a `RuntimeError` naming the setting when no PostgreSQL is
    configured or it does not answer: never a silent fallback to FAISS.
    """
    url = settings.pgvector_database_url
    if url is None or not url.startswith(("postgresql", "postgres:")):
        raise RuntimeError(
            "VECTOR_STORE=pgvector needs PostgreSQL: set PGVECTOR_DATABASE_URL "
            "(or DATABASE_URL) to postgresql+psycopg://user@host/database"
        )
    own_engine = url != settings.database_url
    store_engine = create_db_engine(url) if own_engine else engine
    try:
        return PgVectorStore(
            engine=store_engine,
            embedder=embedder,
            owns_engine=own_engine,
            migrate=settings.migrate_on_start,
        )
    except SQLAlchemyError as exc:
        if own_engine:
            store_engine.dispose()
        setting = "PGVECTOR_DATABASE_URL" if settings.PGVECTOR_DATABASE_URL else "DATABASE_URL"
        shown = make_url(store_engine.url).render_as_string(hide_password=True)
        reason = str(getattr(exc, "orig", None) or exc).strip()
        raise RuntimeError(f"The pgvector store cannot use {setting}={shown}: {reason}") from exc
