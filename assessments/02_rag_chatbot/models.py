"""Tables of the RAG chatbot: companies, their documents, ingest jobs and the chat history.

Chunk text and vectors live in `core.vector_store` (`vector_chunk` table plus one
FAISS index per company); a chunk points back to its document by `document_id`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel


def _now() -> datetime:
    return datetime.now(UTC)


class Company(SQLModel, table=True):
    __tablename__ = "company"

    id: str = Field(primary_key=True, max_length=63)  # a slug, e.g. "acme-corp"
    name: str
    created_at: datetime = Field(default_factory=_now)


class Document(SQLModel, table=True):
    __tablename__ = "document"
    # One row per (company, file name): uploading the same name again replaces it.
    __table_args__ = (UniqueConstraint("company_id", "source"),)

    id: str = Field(default_factory=lambda: uuid.uuid4().hex, primary_key=True)
    company_id: str = Field(foreign_key="company.id", index=True)
    source: str
    content_hash: str
    chunks: int
    bytes: int
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)


class IngestJob(SQLModel, table=True):
    """A large upload waiting for, or done by, a background ingest (see `ingest_jobs`)."""

    __tablename__ = "ingest_job"

    id: str = Field(default_factory=lambda: uuid.uuid4().hex, primary_key=True)
    company_id: str = Field(foreign_key="company.id", index=True)
    source: str
    # Relative to UPLOAD_DIR, which the API and every worker share.
    upload_path: str
    bytes: int
    status: str = Field(default="queued", index=True)  # queued | running | done | failed
    attempts: int = 0
    lease_until: datetime | None = None
    error: str | None = None
    error_code: str | None = None
    document_id: str | None = None
    document_status: str | None = None  # created | replaced | unchanged, once done
    chunks: int | None = None
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)


class ChatMessage(SQLModel, table=True):
    __tablename__ = "chat_message"

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(index=True, max_length=64)
    company_id: str = Field(foreign_key="company.id", index=True)
    role: str  # "user" | "assistant"
    content: str
    # The standalone question actually searched, for a user turn that was a follow-up.
    search_query: str | None = None
    sources: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    confidence: float | None = None
    refused: bool = False
    provider: str | None = None
    model: str | None = None
    created_at: datetime = Field(default_factory=_now, index=True)
