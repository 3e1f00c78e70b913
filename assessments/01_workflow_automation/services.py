"""The lead pipeline: classify → decide → extract → validate → persist, every step audited.

```
message → classify → decide: confidence > 0.7? ─ yes → extract (LLM) ──┬→ validate → persist
                                                └ no ─→ extract (rules) ┘   explicit fields win
                                                                            unless invalid; LLM
                                                                            values must be in the
                                                                            input; gaps filled by
                                                                            the rules
```

Each AI step runs its LLM implementation when there is an LLM and falls back
to the local one when it fails (`core.ai_step.run_step`), so an LLM outage
changes `extraction_method` to "fallback" and shows in the audit, but never
loses a lead or fails a request.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from core.config import Settings
from core.exceptions import ConflictException, NotFoundException
from core.llm_client import LLMClient

from .audit import AuditTrail, read_trail
from .classifier import LEADS_DATA_DIR, Intent, classify_intent
from .config import WorkflowSettings
from .extraction import FIELD_NAMES, extract_candidates, found_by, resolve_fields
from .models import Lead, LeadAudit, new_lead_row
from .schemas import (
    LeadCreate,
    LeadDetail,
    LeadPublic,
)

SAMPLE_LEADS = LEADS_DATA_DIR / "sample_leads.json"
log = structlog.get_logger(__name__)


@dataclass
class ProcessedLead:
    """A classified and extracted lead, not yet stored, with the trail of how it got here.

    `row` is the lead's `leads` row (every column). It is a plain dict, not a `Lead`:
    building the ORM object and flushing it cost more than classifying the lead.
    """

    row: dict[str, Any]
    trail: AuditTrail


async def process_lead(
    lead_in: LeadCreate,
    *,
    llm: LLMClient | None,
    settings: Settings,
    workflow: WorkflowSettings,
    request_id: str,
) -> ProcessedLead:
    """Classify, decide, extract and validate one lead; nothing is stored yet."""
    trail = AuditTrail(request_id)

    with trail.step("classify", message=lead_in.message) as step:
        classified = await classify_intent(text=lead_in.message, llm=llm, settings=settings)
        step.from_outcome(classified)
        prediction = classified.value
        step.output = prediction.model_dump()
        step.confidence = prediction.confidence

    threshold = workflow.INTENT_CONFIDENCE_THRESHOLD
    with trail.step("decide", confidence=prediction.confidence, threshold=threshold) as step:
        confident = prediction.confidence > threshold
        route = "llm_extraction" if confident else "rule_extraction"
        step.output = {"low_confidence": not confident, "route": route}
        step.confidence = prediction.confidence

    region = workflow.PHONE_DEFAULT_REGION
    with trail.step("extract", message=lead_in.message, route=route) as step:
        # Low confidence goes to the rules by design; an LLM that has just failed is not retried.
        use_llm = llm if confident and not classified.fallback else None
        extracted = await extract_candidates(
            text=lead_in.message, llm=use_llm, settings=settings, default_region=region
        )
        step.from_outcome(extracted)
        if confident and classified.fallback:
            step.status = "fallback"
            step.error = "LLM failed during classification; local rules used"
        # Dumped once: the same dict is this step's output and the next step's input.
        candidates = extracted.value.model_dump()
        step.output = candidates
    extraction_method = "llm" if confident and step.status == "ok" else "fallback"

    explicit = lead_in.explicit_fields()
    with trail.step("validate", explicit=explicit, extracted=candidates) as step:
        resolution = resolve_fields(
            extracted.value,
            explicit,
            found_by=found_by(extracted),
            text=lead_in.message,
            default_region=region,
        )
        step.output = resolution.audit()
        resolved = step.output["fields"]

    row = new_lead_row(
        request_id=request_id,
        message=lead_in.message,
        source=lead_in.source,
        **resolved,
        intent=prediction.intent,
        confidence=prediction.confidence,
        low_confidence=not confident,
        extraction_method=extraction_method,
        field_sources=resolution.sources,
        provider=classified.provider,
        model=classified.model,
    )
    return ProcessedLead(row=row, trail=trail)


def persist_lead(session: Session, processed: ProcessedLead) -> LeadPublic:
    """Store the lead and its audit trail in one transaction (one commit); the lead as answered."""
    row = processed.row
    with processed.trail.step("persist", table="leads") as step:
        # Core inserts, as for the trail: the ORM's unit of work would double the cost.
        session.execute(insert(Lead.__table__), [row])
        step.output = {"lead_id": row["id"]}
    processed.trail.save(session, lead_id=row["id"])
    session.commit()
    return public_lead(row)


async def create_lead(
    *,
    session: Session,
    lead_in: LeadCreate,
    llm: LLMClient | None,
    settings: Settings,
    workflow: WorkflowSettings,
    request_id: str,
    idempotency_key: str | None = None,
) -> tuple[LeadPublic, bool]:
    """Process and store one lead; with a key seen before, the stored lead and `True`."""
    fingerprint = _fingerprint(lead_in)
    if idempotency_key and (stored := _replay(session, idempotency_key, fingerprint)):
        return stored, True
    processed = await process_lead(
        lead_in, llm=llm, settings=settings, workflow=workflow, request_id=request_id
    )
    processed.row["idempotency_key"] = idempotency_key
    processed.row["request_fingerprint"] = fingerprint
    try:
        return persist_lead(session, processed), False
    except IntegrityError:
        # A concurrent request with the same key stored its lead first.
        session.rollback()
        if idempotency_key and (stored := _replay(session, idempotency_key, fingerprint)):
            return stored, True
        raise


def _fingerprint(lead_in: LeadCreate) -> str:
    canonical = json.dumps(lead_in.model_dump(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(session: Session, key: str, fingerprint: str) -> LeadPublic | None:
    stored = session.exec(select(Lead).where(Lead.idempotency_key == key)).first()
    replay = to_public(stored) if stored is not None else None
    reused = stored is not None and stored.request_fingerprint != fingerprint
    # End the read transaction: no connection may be held while the LLM is awaited.
    session.rollback()
    if reused:
        raise ConflictException(
            "This Idempotency-Key was already used with a different request body",
            code="idempotency_key_reused",
        )
    return replay


def to_public(lead: Lead) -> LeadPublic:
    return public_lead(lead.model_dump())


def public_lead(row: Mapping[str, Any]) -> LeadPublic:
    """What `POST /leads` answers for a `leads` row."""
    return LeadPublic.model_validate({**row, "fields": {name: row[name] for name in FIELD_NAMES}})


def to_detail(lead: Lead) -> LeadDetail:
    return LeadDetail.model_validate(
        {**to_public(lead).model_dump(), "message": lead.message, "source": lead.source}
    )


def list_leads(
    session: Session,
    *,
    intent: Intent | None = None,
    low_confidence: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Lead], int]:
    """Newest first, with the total that matches the filters."""
    conditions = []
    if intent is not None:
        conditions.append(col(Lead.intent) == intent)
    if low_confidence is not None:
        conditions.append(col(Lead.low_confidence) == low_confidence)
    count = session.exec(select(func.count()).select_from(Lead).where(*conditions)).one()
    statement = (
        select(Lead)
        .where(*conditions)
        .order_by(col(Lead.processed_at).desc(), col(Lead.id))
        .offset(offset)
        .limit(limit)
    )
    return list(session.exec(statement).all()), count


def get_lead(session: Session, lead_id: str) -> Lead:
    lead = session.get(Lead, lead_id)
    if lead is None:
        raise NotFoundException(f"Lead {lead_id!r} not found", code="lead_not_found")
    return lead


def get_audit_trail(session: Session, lead_id: str) -> list[LeadAudit]:
    get_lead(session, lead_id)
    return read_trail(session, lead_id)


async def load_sample_leads(
    session: Session, settings: Settings, workflow: WorkflowSettings
) -> int:
    """Store the shipped sample leads (local provider, no LLM cost) when there are none yet."""
    if session.exec(select(func.count()).select_from(Lead)).one() > 0:
        return 0
    items = json.loads(SAMPLE_LEADS.read_text(encoding="utf-8"))
    request_id = f"sample-{uuid.uuid4().hex[:12]}"
    stored = 0
    for item in items:
        processed = await process_lead(
            LeadCreate.model_validate(item),
            llm=None,
            settings=settings,
            workflow=workflow,
            request_id=request_id,
        )
        persist_lead(session, processed)
        stored += 1
    return stored
