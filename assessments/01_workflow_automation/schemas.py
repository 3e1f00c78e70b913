"""Request and response shapes of the lead-intent API (SPEC §4.1)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from .classifier import Intent
from .extraction import FieldSource, LeadFields

MAX_MESSAGE_CHARS = 10_000
ExtractionMethod = Literal["llm", "fallback"]
ItemStatus = Literal["created", "duplicate", "failed"]


def _as_utc(value: datetime) -> datetime:
    # SQLite hands datetimes back without their zone; they were written in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


UTCDatetime = Annotated[datetime, AfterValidator(_as_utc)]


class LeadCreate(BaseModel):
    """An inbound lead. Only `message` is required; empty optional fields count as absent."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Dana Kim",
                    "email": "dana.kim@lumen.example.com",
                    "phone": "(415) 555-0134",
                    "message": "We'd like a demo for our 220 employees. Budget is $50k.",
                    "source": "web_form",
                }
            ]
        }
    )

    name: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=64)
    message: str = Field(max_length=MAX_MESSAGE_CHARS)
    source: str | None = Field(None, max_length=100)

    @field_validator("message")
    @classmethod
    def _message_has_text(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("message must not be empty")
        return value

    @field_validator("name", "email", "phone", "source")
    @classmethod
    def _blank_is_absent(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return value.strip() or None

    def explicit_fields(self) -> dict[str, str | None]:
        return {"name": self.name, "email": self.email, "phone": self.phone}


class LeadPublic(BaseModel):
    """The result of processing one lead: what `POST /leads` answers."""

    id: str
    request_id: str
    intent: Intent
    confidence: float = Field(ge=0, le=1)
    low_confidence: bool
    fields: LeadFields
    field_sources: dict[str, FieldSource | None] | None = Field(
        None,
        description="Where each field's value came from: explicit (sent by the lead), llm "
        "(found by the model and stated in the input), rules (found by the rule extractor); "
        "null for an empty field, and for leads stored before sources were recorded",
    )
    extraction_method: ExtractionMethod
    provider: str = Field(description="Provider that classified the intent: openai or local")
    model: str = Field(description="Model (or local model version) that classified the intent")
    processed_at: UTCDatetime


class LeadDetail(LeadPublic):
    """A stored lead, with the message and source it came with."""

    message: str
    source: str | None


class LeadsPublic(BaseModel):
    data: list[LeadDetail]
    count: int = Field(description="Leads matching the filters, before limit/offset")


class AuditEntryPublic(BaseModel):
    id: int
    lead_id: str | None
    request_id: str
    trace_id: str | None = None
    step: str
    status: str
    input: dict[str, Any]
    output: dict[str, Any]
    raw_output: str | None
    provider: str | None
    model: str | None
    prompt_version: str | None
    confidence: float | None
    error: str | None
    started_at: UTCDatetime
    finished_at: UTCDatetime
    duration_ms: float


class AuditTrailPublic(BaseModel):
    lead_id: str
    data: list[AuditEntryPublic]
    count: int


class ItemResult(BaseModel):
    status: ItemStatus
    lead: LeadPublic | None = None
    duplicate_of: str | None = Field(None, description="The stored lead this one repeats")
    errors: list[str] = Field(default_factory=list)


class BatchItemResult(ItemResult):
    index: int = Field(description="Position in the submitted list, from 0")


class BatchResult(BaseModel):
    total: int
    created: int
    duplicates: int
    failed: int
    results: list[BatchItemResult]


class ImportRowResult(ItemResult):
    row: int = Field(description="Line number in the file (the header is line 1)")


class ImportResult(BaseModel):
    import_id: str
    filename: str | None
    total: int
    created: int
    duplicates: int
    failed: int
    columns: dict[str, str] = Field(description="CSV header → lead field it was read as")
    ignored_columns: list[str]
    rows: list[ImportRowResult]
