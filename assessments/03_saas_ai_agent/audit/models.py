"""The audit log: who did what to which resource, and when."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from ..db import UtcDateTime, utcnow


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenant.id", index=True)
    user_id: uuid.UUID | None = Field(default=None, index=True)
    action: str = Field(max_length=60, index=True)
    resource_type: str = Field(max_length=40)
    resource_id: str | None = Field(default=None, max_length=100)
    details: dict = Field(default_factory=dict, sa_type=JSON)
    request_id: str | None = Field(default=None, max_length=128)
    trace_id: str | None = Field(default=None, max_length=32)  # when tracing is on
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)


class AuditEntryPublic(SQLModel):
    id: int
    user_id: uuid.UUID | None
    action: str
    resource_type: str
    resource_id: str | None
    details: dict
    request_id: str | None
    trace_id: str | None = None
    created_at: datetime


class AuditLogPublic(SQLModel):
    data: list[AuditEntryPublic]
    count: int
