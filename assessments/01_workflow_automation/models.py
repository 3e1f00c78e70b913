"""Tables: `leads` (one row per processed lead) and `lead_audit` (one row per step)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Text
from sqlmodel import Field, SQLModel


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_lead_id() -> str:
    return uuid.uuid4().hex


class Lead(SQLModel, table=True):
    __tablename__ = "leads"

    id: str = Field(default_factory=new_lead_id, primary_key=True)
    request_id: str = Field(index=True)
    message: str = Field(sa_column=Column(Text, nullable=False))
    source: str | None = None
    name: str | None = None
    # Stored normalised (lower-case email, E.164 phone) so duplicates are plain equality.
    email: str | None = Field(default=None, index=True)
    phone: str | None = Field(default=None, index=True)
    budget: float | None = None
    intent: str = Field(index=True)
    confidence: float
    low_confidence: bool = Field(index=True)
    extraction_method: str
    # Where each field's value came from (explicit / llm / rules); null on leads stored before.
    field_sources: dict[str, str | None] | None = Field(default=None, sa_column=Column(JSON))
    provider: str
    model: str
    processed_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), index=True)
    )
    idempotency_key: str | None = Field(default=None, unique=True)
    request_fingerprint: str | None = None


_LEAD_COLUMNS = frozenset(Lead.__table__.columns.keys())


def new_lead_row(**values: Any) -> dict[str, Any]:
    """Every column of a new `leads` row, defaults included, for a Core insert.

    The pipeline stores leads with Core inserts: building the `Lead` object and
    flushing it through the ORM would cost more than classifying the lead.
    """
    row: dict[str, Any] = {
        "id": new_lead_id(),
        "source": None,
        "name": None,
        "email": None,
        "phone": None,
        "budget": None,
        "field_sources": None,
        "processed_at": utc_now(),
        "idempotency_key": None,
        "request_fingerprint": None,
        **values,
    }
    missing = _LEAD_COLUMNS - row.keys()
    if missing:
        raise TypeError(f"a leads row needs {sorted(missing)}")
    return row


class LeadAudit(SQLModel, table=True):
    """One processing step of one lead, or one whole batch or import (then `lead_id` is null)."""

    __tablename__ = "lead_audit"

    id: int | None = Field(default=None, primary_key=True)
    lead_id: str | None = Field(default=None, foreign_key="leads.id", index=True)
    request_id: str = Field(index=True)
    trace_id: str | None = None  # the OpenTelemetry trace, when tracing is on
    step: str
    status: str = "ok"
    input: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    output: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    raw_output: str | None = Field(default=None, sa_column=Column(Text))
    provider: str | None = None
    model: str | None = None
    prompt_version: str | None = None
    confidence: float | None = None
    error: str | None = None
    started_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    finished_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    duration_ms: float = 0.0
