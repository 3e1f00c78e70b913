"""A tenant's leads: the table and the request and response shapes."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import EmailStr, field_validator
from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from ..db import UtcDateTime, utcnow


class LeadBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr | None = Field(default=None, max_length=320, index=True)
    phone: str | None = Field(default=None, max_length=40)
    company: str | None = Field(default=None, max_length=200)
    message: str | None = Field(default=None, max_length=10_000)
    budget: float | None = Field(default=None, ge=0)


class LeadCreate(LeadBase):
    pass


class LeadUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: EmailStr | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    company: str | None = Field(default=None, max_length=200)
    message: str | None = Field(default=None, max_length=10_000)
    budget: float | None = Field(default=None, ge=0)

    @field_validator("name")
    @classmethod
    def _name_cannot_be_cleared(cls, value: str | None) -> str:
        # Omitted means "unchanged"; an explicit null would erase a required column.
        if value is None:
            raise ValueError("name cannot be null; omit it to keep the current name")
        return value


class Lead(LeadBase, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenant.id", index=True)
    crm_contact_id: str | None = Field(default=None, max_length=100, index=True)
    ai_score: float | None = None
    ai_reasons: list[str] | None = Field(default=None, sa_type=JSON)
    qualified_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class LeadPublic(LeadBase):
    # Validated when stored; validating it again cost ~40 µs a row on every list read.
    email: str | None = None
    id: uuid.UUID
    ai_score: float | None
    ai_reasons: list[str] | None
    qualified_at: datetime | None
    crm_contact_id: str | None
    created_at: datetime
    updated_at: datetime


class LeadsPublic(SQLModel):
    data: list[LeadPublic]
    count: int
