"""Settings of this assessment, read from the environment and `.env` like `core.config`.

The variable names have no prefix (`SIMILARITY_THRESHOLD`, ...): they are the names
existing `.env` files use. Every field is in the README's "Settings" table.
`MAX_UPLOAD_BYTES` stays in `core.config`: Assessment 1's CSV import is bounded by it too.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Request
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RagSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True)

    # Retrieval: a chunk below the similarity gets no say; none above it → the refusal.
    SIMILARITY_THRESHOLD: float = Field(0.45, ge=-1, le=1)
    RETRIEVAL_TOP_K: int = Field(4, ge=1, le=50)
    RETRIEVAL_MODE: Literal["vector", "hybrid"] = "hybrid"
    # Unset: the embedding model's default (`chunking.py`).
    CHUNK_SIZE_TOKENS: int | None = Field(None, ge=32)
    CHUNK_OVERLAP_TOKENS: int | None = Field(None, ge=0)

    # Files this large are ingested by a background job (202 + job id), not in the request.
    INGEST_ASYNC_MIN_BYTES: int = Field(1024 * 1024, ge=1)
    INGEST_JOB_LEASE_SECONDS: float = Field(120.0, gt=0)
    INGEST_JOB_MAX_ATTEMPTS: int = Field(3, ge=1)
    # Uploads one API process ingests at once; the next one is answered 503 + Retry-After.
    MAX_UPLOADS_IN_FLIGHT: int = Field(4, ge=1)

    # The company a question or a listing without `company_id` is about.
    SAMPLE_COMPANY_ID: str = "acme-corp"


def rag_settings(state: Any) -> RagSettings:
    """The settings on `state` (`app.state`, or a worker's state, built there on first use)."""
    settings: RagSettings | None = getattr(state, "rag_settings", None)
    if settings is None:
        # Building twice in a race is harmless: both read the same environment.
        settings = state.rag_settings = RagSettings()
    return settings


async def get_rag_settings(request: Request) -> RagSettings:
    return request.app.state.rag_settings  # type: ignore[no-any-return]


RagSettingsDep = Annotated[RagSettings, Depends(get_rag_settings)]
