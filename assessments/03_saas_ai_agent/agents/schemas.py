"""Agent inputs and outputs, and the request and response bodies of `/agents/*`."""

from __future__ import annotations

import importlib
import uuid

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Imported with importlib: the package name starts with a digit.
LeadFields = importlib.import_module("assessments.01_workflow_automation").LeadFields

Criterion = str  # "budget" | "authority" | "need" | "timing"
CRITERIA: tuple[Criterion, ...] = ("budget", "authority", "need", "timing")


class LeadProfile(BaseModel):
    """What the tenant knows about a lead (or what a caller sends inline)."""

    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    company: str | None = Field(default=None, max_length=200)
    message: str | None = Field(default=None, max_length=10_000)
    budget: float | None = Field(default=None, ge=0)
    ai_score: float | None = None
    ai_reasons: list[str] | None = None


class Qualification(BaseModel):
    score: float = Field(ge=0, le=1)
    reasons: list[str]
    criteria: dict[Criterion, float]


class ReplyInput(BaseModel):
    thread: str
    lead: LeadProfile | None = None
    sender: str


# --- HTTP bodies ------------------------------------------------------------------------------


class QualifyRequest(BaseModel):
    lead: LeadProfile | None = None
    lead_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _one_source(self) -> QualifyRequest:
        if (self.lead is None) == (self.lead_id is None):
            raise ValueError("send either `lead` or `lead_id`")
        return self


class ExtractRequest(BaseModel):
    text: str = Field(min_length=1, max_length=20_000)


class ReplyRequest(BaseModel):
    thread: str = Field(min_length=1, max_length=50_000)
    lead_id: uuid.UUID | None = None


class UsagePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float | None


class AgentRunPublic(BaseModel):
    """What every agent's answer says about its run (read from an `AgentOutput`)."""

    agent: str
    provider: str
    model: str
    fallback: bool
    fallback_reason: str | None
    prompt_version: str | None
    latency_ms: float
    usage: UsagePublic

    @field_validator("usage", mode="before")
    @classmethod
    def _local_runs_cost_nothing(cls, usage: object) -> object:
        return (
            usage
            if usage is not None
            else UsagePublic(prompt_tokens=0, completion_tokens=0, total_tokens=0, cost_usd=0.0)
        )


class QualifyResponse(AgentRunPublic):
    score: float
    reasons: list[str]
    criteria: dict[Criterion, float]
    criteria_sources: dict[Criterion, str] = Field(
        description="Who judged each criterion: llm, or rules (the local rubric, also when "
        "the LLM's reason cited an amount the lead did not state)"
    )
    lead_id: uuid.UUID | None


class ExtractResponse(AgentRunPublic):
    fields: LeadFields  # Assessment 1's
    field_sources: dict[str, str | None] = Field(
        description="Where each field's value came from: llm (found by the model and stated "
        "in the text) or rules; null for an empty field"
    )
    notes: list[str]


class ReplyResponse(AgentRunPublic):
    reply: str
    lead_id: uuid.UUID | None
