"""Tenant-filtered vector search in PostgreSQL with pgvector: the scale-out store.

Same interface and results as `core.faiss_store.FaissVectorStore`, chosen
with `VECTOR_STORE=pgvector`. Every API process shares the data, so there is
no per-process lock or file to keep in step.

Tables and indexes: `core.pgvector_schema` (made by the migrations; the HNSW index at
start). Writes lock the company's `pgvector_company` row, so writers to one company
queue up and a mismatching model is refused with the same 409 as FAISS.

Scores are cosine similarities, `1 - (embedding <=> query)`, as on FAISS
(inner products of unit vectors), so the 0.45 threshold means the same.

Search: the company filter is always inside the query; whether a company's nearest chunks
are found exactly or through the HNSW index is `core.pgvector_search_plan`'s choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pgvector.sqlalchemy import VECTOR
from sqlalchemy import bindparam, insert, text
from sqlalchemy.engine import Connection, Engine

from core import pgvector_search_plan as search_plan
from core.embedding_client import EmbeddingClient
from core.pg_keyword_search import PgKeywordSearch, count_added, count_removed
from core.pgvector_schema import chunk_table, create_schema
from core.telemetry import traced_search
from core.vector_chunks import (
    EmbeddingWriter,
    Metadata,
    SearchResult,
    check_company_id,
    chunk_rows,
    model_mismatch_error,
    query_vector,
)

LOCK_COMPANY = text(
    "SELECT embedding_model, dimension, chunk_count FROM pgvector_company "
    "WHERE company_id = :company_id FOR UPDATE"
)
READ_COMPANY = text(
    "SELECT embedding_model, dimension, chunk_count, "
    "(SELECT reltuples FROM pg_class WHERE oid = 'pgvector_chunk'::regclass) AS table_rows "
    "FROM pgvector_company WHERE company_id = :company_id"
)
SCORE_CHUNKS = text(
    "SELECT id, text, document_id, source, chunk_index, metadata,"
    " 1 - (embedding <=> :query) AS score FROM pgvector_chunk"
    " WHERE company_id = :company_id AND id = ANY(:ids)"
).bindparams(bindparam("query", type_=VECTOR()))


class PgVectorStore(EmbeddingWriter):
    def __init__(
        self,
        *,
        engine: Engine,
        embedder: EmbeddingClient,
        owns_engine: bool = False,
        migrate: bool = True,
    ) -> None:
        """`owns_engine`: the store created `engine` for itself, and `close` disposes of it.
        `migrate`: upgrade the pgvector schema to head, or only check that it is there."""
        if engine.dialect.name != "postgresql":
            raise ValueError("PgVectorStore needs a PostgreSQL engine")
        self._engine = engine
        self._embedder = embedder
        self._owns_engine = owns_engine
        self.pgvector_version = create_schema(engine, embedder.dimension, migrate=migrate)

    @property
    def embedder(self) -> EmbeddingClient:
        return self._embedder

    @property
    def keyword_search(self) -> PgKeywordSearch:
        """Keyword ranking, fusion and term counts in SQL: no copy of the chunks in process."""
        return PgKeywordSearch(self._engine, to_result=_result)

    def close(self) -> None:
        """Dispose of the engine if the store created it (a separate PGVECTOR_DATABASE_URL)."""
        if self._owns_engine:
            self._engine.dispose()

    @traced_search("pgvector")
    def similarity_search(
        self,
        query_embedding: np.ndarray,
        *,
        company_id: str,
        k: int = 4,
        threshold: float = 0.45,
    ) -> list[SearchResult]:
        """The `k` chunks most similar to the query with a score >= `threshold`, best first.

        Blocking (a database round trip): call it from a worker thread in async code.
        """
        check_company_id(company_id)
        query = query_vector(query_embedding, dimension=self._embedder.dimension)
        if k < 1:
            return []
        with self._engine.begin() as connection:
            company = connection.execute(READ_COMPANY, {"company_id": company_id}).first()
            if company is None:
                return []
            self._check_model(company_id, company.embedding_model, company.dimension)
            expected = min(k, company.chunk_count)
            if expected == 0:
                return []
            rows = []
            if search_plan.walks_hnsw(company.chunk_count, company.table_rows, k):
                rows = self._nearest(connection, query, company_id, k, exact=False)
            if len(rows) < expected:
                rows = self._nearest(connection, query, company_id, k, exact=True)
        return [_result(row) for row in rows if row.score >= threshold]

    def delete_company(self, company_id: str) -> None:
        """Remove the company's chunks and its record, whatever model built them."""
        check_company_id(company_id)
        with self._engine.begin() as connection:
            parameters = {"company_id": company_id}
            connection.execute(LOCK_COMPANY, parameters)
            connection.execute(
                text("DELETE FROM pgvector_chunk WHERE company_id = :company_id"), parameters
            )
            connection.execute(
                text("DELETE FROM pgvector_term WHERE company_id = :company_id"), parameters
            )
            connection.execute(
                text("DELETE FROM pgvector_company WHERE company_id = :company_id"), parameters
            )

    def has_index(self, company_id: str) -> bool:
        check_company_id(company_id)
        return self._company(company_id) is not None

    def is_compatible(self, company_id: str) -> bool:
        """False when the company's vectors were built by another embedding model."""
        check_company_id(company_id)
        company = self._company(company_id)
        return company is None or (
            company.embedding_model == self._embedder.model
            and company.dimension == self._embedder.dimension
        )

    def count(self, company_id: str) -> int:
        """How many chunks the company has."""
        check_company_id(company_id)
        with self._engine.connect() as connection:
            statement = text("SELECT count(*) FROM pgvector_chunk WHERE company_id = :company_id")
            return int(connection.execute(statement, {"company_id": company_id}).scalar_one())

    def chunk_version(self, company_id: str) -> tuple[int, int]:
        """(chunk count, highest chunk id): ids come from a sequence, so every write changes it."""
        check_company_id(company_id)
        with self._engine.connect() as connection:
            count, max_id = connection.execute(
                text("SELECT count(*), max(id) FROM pgvector_chunk WHERE company_id = :company_id"),
                {"company_id": company_id},
            ).one()
        return int(count), int(max_id or 0)

    def chunk_texts(self, company_id: str, *, after_id: int = 0) -> list[tuple[int, str]]:
        """(id, text) of the company's chunks with an id above `after_id`, by id."""
        check_company_id(company_id)
        with self._engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT id, text FROM pgvector_chunk WHERE company_id = :company_id "
                    "AND id > :after_id ORDER BY id"
                ),
                {"company_id": company_id, "after_id": after_id},
            )
            return [(int(chunk_id), chunk_text) for chunk_id, chunk_text in rows]

    def chunk_ids(self, company_id: str) -> list[int]:
        check_company_id(company_id)
        with self._engine.connect() as connection:
            rows = connection.execute(
                text("SELECT id FROM pgvector_chunk WHERE company_id = :company_id"),
                {"company_id": company_id},
            )
            return [int(chunk_id) for (chunk_id,) in rows]

    def score_chunks(
        self, query_embedding: np.ndarray, *, company_id: str, chunk_ids: Sequence[int]
    ) -> list[SearchResult]:
        """The company's chunks among `chunk_ids`, in that order, scored against the query.

        Scores are the cosine similarities `similarity_search` would give; ids that
        are not the company's (or no longer exist) are skipped.
        """
        check_company_id(company_id)
        query = np.asarray(query_embedding, dtype=np.float32).reshape(-1)
        if not chunk_ids:
            return []
        with self._engine.connect() as connection:
            company = connection.execute(READ_COMPANY, {"company_id": company_id}).first()
            if company is None:
                return []
            self._check_model(company_id, company.embedding_model, company.dimension)
            rows = connection.execute(
                SCORE_CHUNKS,
                {
                    "query": query,
                    "company_id": company_id,
                    "ids": [int(chunk_id) for chunk_id in chunk_ids],
                },
            )
            by_id = {int(row.id): _result(row) for row in rows}
        return [by_id[chunk_id] for chunk_id in chunk_ids if chunk_id in by_id]

    def _company(self, company_id: str) -> Any:
        with self._engine.connect() as connection:
            return connection.execute(READ_COMPANY, {"company_id": company_id}).first()

    def _check_model(self, company_id: str, model: str, dimension: int) -> None:
        if model != self._embedder.model or dimension != self._embedder.dimension:
            raise model_mismatch_error(company_id, model, dimension, active=self._embedder)

    def _rows(
        self,
        documents: Sequence[str],
        company_id: str,
        metadata: Metadata,
        *,
        document_id: str | None = None,
    ) -> list[dict[str, Any]]:
        chunks = chunk_rows(
            documents, company_id, metadata, model=self._embedder.model, document_id=document_id
        )
        return [
            {
                "company_id": chunk.company_id,
                "document_id": chunk.document_id,
                "chunk_index": chunk.chunk_index,
                "source": chunk.source,
                "text": chunk.text,
                "metadata": chunk.metadata_json,
                "embedding_model": chunk.embedding_model,
            }
            for chunk in chunks
        ]

    def _write(
        self,
        company_id: str,
        rows: list[dict[str, Any]],
        vectors: np.ndarray | None,
        replaced_document_ids: Sequence[str],
        *,
        return_removed: bool = False,
    ) -> list[int]:
        """Delete documents' chunks and/or add new ones: one transaction."""
        parameters = {"company_id": company_id}
        with self._engine.begin() as connection:
            if rows:
                connection.execute(
                    text(
                        "INSERT INTO pgvector_company "
                        "(company_id, embedding_model, embedding_provider, dimension) "
                        "VALUES (:company_id, :model, :provider, :dimension) "
                        "ON CONFLICT (company_id) DO NOTHING"
                    ),
                    {
                        **parameters,
                        "model": self._embedder.model,
                        "provider": self._embedder.provider,
                        "dimension": self._embedder.dimension,
                    },
                )
            company = connection.execute(LOCK_COMPANY, parameters).first()
            if company is None:
                return []
            self._check_model(company_id, company.embedding_model, company.dimension)
            old_ids: list[int] = []
            if replaced_document_ids:
                old_ids = list(
                    connection.execute(
                        text(
                            "SELECT id FROM pgvector_chunk WHERE company_id = :company_id "
                            "AND document_id = ANY(:document_ids)"
                        ),
                        {**parameters, "document_ids": list(replaced_document_ids)},
                    ).scalars()
                )
                count_removed(connection, company_id, old_ids)
                connection.execute(
                    text(
                        "DELETE FROM pgvector_chunk WHERE company_id = :company_id "
                        "AND id = ANY(:chunk_ids)"
                    ),
                    {**parameters, "chunk_ids": old_ids},
                )
            new_ids: list[int] = []
            if rows:
                assert vectors is not None
                statement = insert(chunk_table).returning(
                    chunk_table.c.id, sort_by_parameter_order=True
                )
                values = [
                    {**row, "embedding": np.asarray(vector, dtype=np.float32)}
                    for row, vector in zip(rows, vectors, strict=True)
                ]
                new_ids = list(connection.execute(statement, values).scalars())
                count_added(connection, company_id, new_ids)
            connection.execute(
                text(
                    "UPDATE pgvector_company SET chunk_count = chunk_count + :delta "
                    "WHERE company_id = :company_id"
                ),
                {**parameters, "delta": len(new_ids) - len(old_ids)},
            )
        return old_ids if return_removed else new_ids

    def _nearest(
        self, connection: Connection, query: np.ndarray, company_id: str, k: int, *, exact: bool
    ) -> list[Any]:
        if not exact:
            search_plan.prepare_hnsw_scan(connection, self.pgvector_version, k)
        statement = search_plan.search_statement(self._embedder.dimension, exact=exact)
        parameters = {"query": query, "company_id": company_id, "k": k}
        return list(connection.execute(statement, parameters))


def _result(row: Any) -> SearchResult:
    return SearchResult(
        chunk_id=int(row.id),
        score=float(row.score),
        text=row.text,
        document_id=row.document_id,
        source=row.source,
        chunk_index=row.chunk_index,
        metadata=dict(row.metadata or {}),
    )
