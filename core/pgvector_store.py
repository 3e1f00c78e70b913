"""Tenant-filtered vector search in PostgreSQL with pgvector: the scale-out store.

Same interface and results as `core.faiss_store.FaissVectorStore`, chosen
with `VECTOR_STORE=pgvector`. Every API process shares the data, so there is
no per-process lock or file to keep in step.

Tables and indexes: `core.pgvector_schema` (made by the migrations; the HNSW index at
start). Writes lock the company's `pgvector_company` row, so writers to one company
queue up and a mismatching model is refused with the same 409 as FAISS.

Scores are cosine similarities, `1 - (embedding <=> query)`, as on FAISS
(inner products of unit vectors), so the 0.45 threshold means the same.

Search: the company filter is always inside the query, and a company that
has at least k chunks always gets k rows (before the threshold), never another
company's. How they are found depends on the company's size and share of the
table (figures: bench/bench_vector_search.py):
- exact search, for companies up to `EXACT_SEARCH_MAX_CHUNKS` chunks or under
  `HNSW_MIN_SHARE` of the table: the query orders by an expression the HNSW
  index does not cover, so PostgreSQL reads the company's rows through the
  `company_id` index and sorts them by distance. The FAISS result, and, when
  the filter is selective, faster and better than a graph built for all
  companies: at 1% of the table a filtered HNSW scan found 76% of the true top
  10, slower than exact search.
- the HNSW index otherwise, with `hnsw.ef_search = max(HNSW_EF_SEARCH, k)`
  and, on pgvector 0.8+, `hnsw.iterative_scan = relaxed_order`: the scan goes
  on past ef_search candidates until k rows of the company are found, then
  the rows are put back in exact distance order. If the scan still comes back
  short (pgvector < 0.8, or `hnsw.max_scan_tuples` reached), exact search
  answers instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pgvector.sqlalchemy import VECTOR
from sqlalchemy import bindparam, insert, text
from sqlalchemy.engine import Connection, Engine

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

EXACT_SEARCH_MAX_CHUNKS = 10_000
HNSW_MIN_SHARE = 0.05  # of the table's rows (pg_class.reltuples, kept by ANALYZE)
# pgvector's upper bound. In bench/bench_pgvector_scale.py's data (2026-12-05), for a company
# of 200,000 of 1,000,000 vectors, recall@10 was 0.827 at 200 and 0.974 at 1,000 (p50 10.5 →
# 19.9 ms); at 60,000 of 300,000, 0.952 and 1.000. Small companies never reach this path.
HNSW_EF_SEARCH = 1000
HNSW_MAX_EF_SEARCH = 1000  # pgvector's upper bound for hnsw.ef_search
ITERATIVE_SCAN_PGVECTOR = (0, 8, 0)

LOCK_COMPANY = text(
    "SELECT embedding_model, dimension, chunk_count FROM pgvector_company "
    "WHERE company_id = :company_id FOR UPDATE"
)
READ_COMPANY = text(
    "SELECT embedding_model, dimension, chunk_count, "
    "(SELECT reltuples FROM pg_class WHERE oid = 'pgvector_chunk'::regclass) AS table_rows "
    "FROM pgvector_company WHERE company_id = :company_id"
)
# set_config(..., true) is SET LOCAL: for this transaction only. psycopg prepares statements
# that run often, and PostgreSQL may then reuse a generic plan made under other settings and
# for another company: force_custom_plan plans each search for its own company and settings.
HNSW_SCAN = text(
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
    "set_config('hnsw.ef_search', :ef_search, true)"
)
ITERATIVE_HNSW_SCAN = text(
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
    "set_config('hnsw.ef_search', :ef_search, true), "
    "set_config('hnsw.iterative_scan', 'relaxed_order', true)"
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
        self._search_sql: dict[tuple[int, bool], Any] = {}
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
            if _walks_hnsw(company.chunk_count, company.table_rows, k):
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
            scan = ITERATIVE_HNSW_SCAN
            if self.pgvector_version < ITERATIVE_SCAN_PGVECTOR:
                scan = HNSW_SCAN
            connection.execute(scan, {"ef_search": str(max(HNSW_EF_SEARCH, k))})
        statement = self._search_statement(self._embedder.dimension, exact=exact)
        parameters = {"query": query, "company_id": company_id, "k": k}
        return list(connection.execute(statement, parameters))

    def _search_statement(self, dimension: int, *, exact: bool) -> Any:
        """The k nearest chunks of one company, by the HNSW index or exactly.

        The HNSW index covers `CAST(embedding AS vector(N))`; the exact statement
        orders by the plain column, which the index cannot serve, so it is exact
        whatever plan PostgreSQL picks or has cached.
        """
        if (dimension, exact) not in self._search_sql:
            vector_type = "vector" if exact else f"vector({int(dimension)})"
            self._search_sql[dimension, exact] = text(
                # MATERIALIZED keeps the LIMIT next to the index scan; the outer ORDER BY
                # restores exact order after a relaxed iterative scan.
                "WITH nearest AS MATERIALIZED ("
                " SELECT id, text, document_id, source, chunk_index, metadata,"
                f" CAST(embedding AS {vector_type}) <=> CAST(:query AS {vector_type}) AS distance"
                " FROM pgvector_chunk"
                f" WHERE company_id = :company_id AND vector_dims(embedding) = {int(dimension)}"
                " ORDER BY distance LIMIT :k"
                ") SELECT id, text, document_id, source, chunk_index, metadata,"
                " 1 - distance AS score FROM nearest ORDER BY distance, id"
            ).bindparams(bindparam("query", type_=VECTOR()))
        return self._search_sql[dimension, exact]


def _walks_hnsw(chunks: int, table_rows: float, k: int) -> bool:
    # reltuples is -1 before the first ANALYZE: then count the company as the whole table.
    share = chunks / max(table_rows, chunks, 1)
    return chunks > EXACT_SEARCH_MAX_CHUNKS and share >= HNSW_MIN_SHARE and k <= HNSW_MAX_EF_SEARCH


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
