"""The audit trail: what each step of the pipeline saw, did and produced, and when.

An `AuditTrail` collects one row per step while a lead is processed and is
saved with the lead in one transaction, so a lead never exists without its
trail (and vice versa).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, select

from core.ai_step import StepOutcome
from core.telemetry import current_trace_id, span

from .models import LeadAudit, utc_now


@dataclass
class StepRecord:
    """Filled in by the step while it runs; becomes one `LeadAudit` row when it ends."""

    step: str
    input: dict[str, Any]
    output: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"
    raw_output: str | None = None
    provider: str | None = None
    model: str | None = None
    prompt_version: str | None = None
    confidence: float | None = None
    error: str | None = None
    # Every request made to the LLM for this step; saved under `output.llm_attempts`.
    llm_attempts: list[dict[str, Any]] | None = None

    def from_outcome(self, outcome: StepOutcome[Any]) -> None:
        """Provenance of an AI step; a fallback is recorded with the LLM's failure."""
        self.provider = outcome.provider
        self.model = outcome.model
        self.raw_output = outcome.raw_output
        self.prompt_version = outcome.extra.get("prompt_version")
        self.llm_attempts = outcome.extra.get("llm_attempts")
        if outcome.fallback:
            self.status = "fallback"
            self.error = outcome.fallback_reason

    def row(self) -> dict[str, Any]:
        """The `lead_audit` columns of this step."""
        row = vars(self).copy()
        if attempts := row.pop("llm_attempts"):
            row["output"] = {**self.output, "llm_attempts": attempts}
        return row


class AuditTrail:
    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.rows: list[dict[str, Any]] = []

    @contextmanager
    def step(self, name: str, **input: Any) -> Iterator[StepRecord]:
        record = StepRecord(step=name, input=input)
        started_at = utc_now()
        started = time.perf_counter()
        with span(f"lead.{name}"):
            try:
                yield record
            except Exception as exc:
                record.status = "failed"
                record.error = f"{type(exc).__name__}: {exc}"
                raise
            finally:
                self.rows.append(
                    {
                        **record.row(),
                        "request_id": self.request_id,
                        "trace_id": current_trace_id(),
                        "started_at": started_at,
                        "finished_at": utc_now(),
                        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    }
                )

    def save(self, session: Session, *, lead_id: str | None) -> None:
        """Insert the rows in the session's transaction; the caller commits them with the lead."""
        # One Core executemany: an ORM object per step would cost more than the step itself.
        rows = [{**row, "lead_id": lead_id} for row in self.rows]
        session.execute(insert(LeadAudit.__table__), rows)


def read_trail(session: Session, lead_id: str) -> list[LeadAudit]:
    statement = select(LeadAudit).where(LeadAudit.lead_id == lead_id).order_by(col(LeadAudit.id))
    return list(session.exec(statement).all())
