"""What both vector stores share: the chunk row, the search result, the embed-then-write path.

A chunk's text and metadata are a `VectorChunk` row (`vector_chunk` table on FAISS; the
pgvector store writes the same fields to its own table); `chunk_rows` validates and shapes
them. `EmbeddingWriter` embeds before it writes, so a failed embedding changes nothing.
A company whose vectors another embedding model built is refused with one 409
(`model_mismatch_error`), never searched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
import numpy as np
from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from core.embedding_client import EmbeddingClient
from core.exceptions import AppException, ValidationException

COMPANY_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
LIFTED_KEYS = ("document_id", "source", "chunk_index")

Metadata = Sequence[dict[str, Any]] | dict[str, Any] | None


class VectorChunk(SQLModel, table=True):
    __tablename__ = "vector_chunk"
    # AUTOINCREMENT on SQLite too: the id of a deleted chunk is never reused.
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    company_id: str = Field(index=True, max_length=63)
    document_id: str | None = Field(default=None, index=True)
    chunk_index: int = 0
    text: str
    source: str | None = None
    metadata_json: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    embedding_model: str
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class SearchResult:
    chunk_id: int
    score: float
    text: str
    document_id: str | None
    source: str | None
    chunk_index: int
    metadata: dict[str, Any]

    def with_score(self, score: float) -> SearchResult:
        """This chunk with another score; its own copy of the metadata. Built field by field,
        not with `dataclasses.replace`: `bench_vector_search.py --quick --companies 1000` gave
        0.047 ms p50 per search with it and 0.036 ms without (raw index 0.010-0.011 ms)."""
        return SearchResult(
            chunk_id=self.chunk_id,
            score=score,
            text=self.text,
            document_id=self.document_id,
            source=self.source,
            chunk_index=self.chunk_index,
            metadata=dict(self.metadata),
        )


@dataclass(frozen=True)
class DocumentChunks:
    """One document's new chunks, for `replace_documents`."""

    document_id: str
    texts: Sequence[str]
    metadata: Metadata = None


class EmbeddingWriter:
    """Embed first, then write: the one path by which both vector stores take chunks.

    Subclasses set `_embedder` and provide `_rows` (validate and shape the rows) and
    `_write(company_id, rows, vectors, replaced_document_ids, *, return_removed=False)`
    (store them in one transaction, replacing those documents' chunks; the new ids, or the
    removed ones). Embedding happens before any write, so a failed embedding changes nothing.
    """

    _embedder: EmbeddingClient
    _rows: Callable[..., list[Any]]
    _write: Callable[..., list[int]]

    async def add_documents(
        self,
        *,
        documents: Sequence[str],
        company_id: str,
        metadata: Metadata = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[int]:
        """Embed `documents` and add them; returns their chunk ids, in order.

        `metadata` is one dict per document or one dict shared by all. Its
        `document_id`, `source` and `chunk_index` (default: the position in
        `documents`) become columns; every other key is kept as JSON.
        """
        check_company_id(company_id)
        rows = self._rows(documents, company_id, metadata)
        if not rows:
            return []
        vectors = await self._embedder.embed_documents(documents, on_progress=on_progress)
        return await anyio.to_thread.run_sync(self._write, company_id, rows, vectors, ())

    async def replace_document(
        self,
        *,
        document_id: str,
        documents: Sequence[str],
        company_id: str,
        metadata: Metadata = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[int]:
        """Swap a document's chunks for new ones in one write; returns the new chunk ids.

        The new chunks are embedded first, so when embedding fails nothing changes.
        """
        [ids] = await self.replace_documents(
            [DocumentChunks(document_id, documents, metadata)],
            company_id=company_id,
            on_progress=on_progress,
        )
        return ids

    async def replace_documents(
        self,
        documents: Sequence[DocumentChunks],
        *,
        company_id: str,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[list[int]]:
        """Swap the chunks of several documents at once; the new chunk ids, per document.

        One embedding call for all their chunks (the model batches across documents) and one
        write (one transaction, and on FAISS one save of the index): adding a document to an
        upload costs its chunks, not another pass over the company's index.
        """
        check_company_id(company_id)
        rows = [
            self._rows(d.texts, company_id, d.metadata, document_id=d.document_id)
            for d in documents
        ]
        texts = [text for d in documents for text in d.texts]
        vectors = await self._embedder.embed_documents(texts, on_progress=on_progress)
        ids = await anyio.to_thread.run_sync(
            self._write,
            company_id,
            [row for document_rows in rows for row in document_rows],
            vectors,
            [d.document_id for d in documents],
        )
        per_document, start = [], 0
        for document_rows in rows:
            per_document.append(ids[start : start + len(document_rows)])
            start += len(document_rows)
        return per_document

    def delete_document(self, document_id: str, *, company_id: str) -> int:
        """Remove a document's chunks, rows and vectors; returns how many went."""
        check_company_id(company_id)
        return len(self._write(company_id, [], None, [document_id], return_removed=True))


def query_vector(query_embedding: np.ndarray, *, dimension: int) -> np.ndarray:
    """The query as one contiguous float32 vector, or a 422 when it is not the index's size."""
    query = np.ascontiguousarray(np.asarray(query_embedding, dtype=np.float32).reshape(-1))
    if query.shape[0] != dimension:
        raise ValidationException(
            f"The query embedding has {query.shape[0]} dimensions; the index expects {dimension}"
        )
    return query


def chunk_rows(
    documents: Sequence[str],
    company_id: str,
    metadata: Metadata,
    *,
    model: str,
    document_id: str | None = None,
) -> list[VectorChunk]:
    """One unsaved `VectorChunk` per document: metadata checked, lifted keys as columns."""
    if isinstance(documents, str):
        raise ValidationException("documents must be a list of strings, not one string")
    if metadata is None or isinstance(metadata, dict):
        per_chunk = [dict(metadata or {}) for _ in documents]
    elif len(metadata) == len(documents):
        per_chunk = [dict(item) for item in metadata]
    else:
        raise ValidationException(
            f"Got {len(metadata)} metadata entries for {len(documents)} documents"
        )
    rows = []
    for position, (text, item) in enumerate(zip(documents, per_chunk, strict=True)):
        doc_id = document_id if document_id is not None else item.get("document_id")
        source = item.get("source")
        extra = {key: value for key, value in item.items() if key not in LIFTED_KEYS}
        try:
            chunk_index = int(item.get("chunk_index", position))
            json.dumps(extra)
        except (TypeError, ValueError) as exc:
            raise ValidationException(f"Invalid chunk metadata: {exc}") from None
        rows.append(
            VectorChunk(
                company_id=company_id,
                document_id=None if doc_id is None else str(doc_id),
                chunk_index=chunk_index,
                text=text,
                source=None if source is None else str(source),
                metadata_json=extra,
                embedding_model=model,
            )
        )
    return rows


def model_mismatch_error(
    company_id: str, model: str, dimension: int, *, active: EmbeddingClient
) -> AppException:
    """The 409 for a company whose vectors were built by another model or dimension."""
    return AppException(
        f"The index of company '{company_id}' was built with embedding model '{model}' "
        f"({dimension} dimensions), but the active model is '{active.model}' "
        f"({active.dimension} dimensions). Re-ingest the company's documents "
        "(delete them first) or switch EMBEDDING_PROVIDER back.",
        code="embedding_model_mismatch",
        status_code=409,
        details={
            "company_id": company_id,
            "index_model": model,
            "index_dimension": dimension,
            "active_model": active.model,
            "active_dimension": active.dimension,
        },
    )


def check_company_id(company_id: str) -> None:
    if not isinstance(company_id, str) or not COMPANY_ID_PATTERN.fullmatch(company_id):
        raise ValidationException(
            "company_id must be 1-63 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
