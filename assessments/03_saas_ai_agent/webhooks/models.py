"""The webhook inbox: every accepted delivery, stored before it is acknowledged."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, UniqueConstraint
from sqlmodel import Field, SQLModel

from ..db import UtcDateTime, utcnow


class EventStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    FAILED = "failed"  # the last attempt failed; another is scheduled at next_attempt_at
    DONE = "done"
    DEAD = "dead"


class WebhookEvent(SQLModel, table=True):
    __tablename__ = "webhook_event"
    __table_args__ = (UniqueConstraint("tenant_id", "event_id", name="uq_webhook_event_delivery"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenant.id", index=True)
    event_id: str = Field(max_length=200)
    type: str = Field(max_length=100)
    payload: dict = Field(default_factory=dict, sa_type=JSON)
    status: str = Field(default=EventStatus.PENDING, max_length=20, index=True)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)
    last_error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class WebhookReceipt(SQLModel):
    status: str = "received"
    event_id: str


class WebhookEventPublic(SQLModel):
    event_id: str
    type: str
    status: EventStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    payload: dict
    created_at: datetime
    updated_at: datetime


class WebhookEventsPublic(SQLModel):
    data: list[WebhookEventPublic]
    count: int
