"""Request and response shapes of the RAG chatbot API (SPEC §4.2)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from core.vector_chunks import COMPANY_ID_PATTERN

from .refusal import REFUSAL_MESSAGE, RefusalReason

__all__ = ["REFUSAL_MESSAGE"]

SESSION_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MAX_QUERY_CHARS = 2000


class ChatRequest(BaseModel):
    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    company_id: str | None = Field(None, pattern=COMPANY_ID_PATTERN.pattern, max_length=63)
    session_id: str | None = Field(None, pattern=SESSION_ID_PATTERN)
    rewrite: bool = False


class SourcePublic(BaseModel):
    """One retrieved chunk; the answer's marker `[n]` points at `sources[n-1]`."""

    source: str
    chunk_id: int
    score: float
    snippet: str
    document_id: str | None = None
    cited: bool = False
    # Retrieved by its cosine similarity (>= the 0.45 threshold), or only by its keywords
    # (hybrid retrieval keeps a chunk that BM25 ranks high although its cosine is lower).
    above_threshold: bool = True


class ChatResponse(BaseModel):
    answer: str
    sources: list[SourcePublic]
    confidence: float
    session_id: str
    refused: bool
    # Which rule refused (`refusal.py`): below_threshold | not_supported | llm_refused |
    # unsupported_claim.
    refusal_reason: RefusalReason | None = None
    company_id: str
    provider: str
    model: str
    fallback: bool = False
    # Why the LLM's answer was replaced by the local one: its error code
    # (llm_unavailable, llm_timeout, …, or unsupported_claim: `grounding.py`).
    fallback_reason: str | None = None
    rewritten: bool = False
    search_query: str


class DocumentUploaded(BaseModel):
    id: str
    source: str
    chunks: int
    status: Literal["created", "replaced", "unchanged"]


class IngestJobPublic(BaseModel):
    """A large file's background ingest; poll `GET /ingest-jobs/{id}` until done or failed."""

    id: str
    company_id: str
    source: str
    bytes: int
    status: Literal["queued", "running", "done", "failed"]
    attempts: int
    error: str | None = None
    error_code: str | None = None
    document_id: str | None = None
    document_status: Literal["created", "replaced", "unchanged"] | None = None
    chunks: int | None = None
    created_at: datetime
    updated_at: datetime


class DocumentsUploaded(BaseModel):
    company_id: str
    data: list[DocumentUploaded]
    count: int
    # Files of INGEST_ASYNC_MIN_BYTES or more: ingested in the background (HTTP 202).
    jobs: list[IngestJobPublic] = []


class DocumentPublic(BaseModel):
    id: str
    company_id: str
    source: str
    chunks: int
    bytes: int
    content_hash: str
    created_at: datetime
    updated_at: datetime


class DocumentsPublic(BaseModel):
    data: list[DocumentPublic]
    count: int


class DocumentDeleted(BaseModel):
    id: str
    company_id: str
    source: str
    chunks_removed: int


class CompanyPublic(BaseModel):
    id: str
    name: str
    documents: int


class CompaniesPublic(BaseModel):
    data: list[CompanyPublic]
    count: int


class MessagePublic(BaseModel):
    id: int
    role: Literal["user", "assistant"]
    content: str
    sources: list[SourcePublic]
    confidence: float | None
    refused: bool
    provider: str | None
    model: str | None
    created_at: datetime


class MessagesPublic(BaseModel):
    session_id: str
    company_id: str
    data: list[MessagePublic]
    count: int
