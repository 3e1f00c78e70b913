"""One row per agent run: who ran which agent on which provider and model, at what cost."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from ..db import UtcDateTime, utcnow


class UsageEvent(SQLModel, table=True):
    __tablename__ = "usage_event"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenant.id", index=True)
    agent: str = Field(max_length=20)
    provider: str = Field(max_length=20)
    model: str = Field(max_length=100)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)


class UsageRow(SQLModel):
    day: str
    agent: str
    provider: str
    model: str
    runs: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


class UsageReport(SQLModel):
    period: str
    agent_runs_this_month: int
    monthly_agent_runs: int | None
    total_cost_usd: float
    data: list[UsageRow]
