"""HTTP routes of Assessment 1 (mounted by backend.main under `/api/01-workflow`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import structlog
from fastapi import (
    APIRouter,
    Body,
    Depends,
    FastAPI,
    File,
    Header,
    Query,
    Request,
    Response,
    UploadFile,
)
from sqlmodel import Session

from core.database import SessionDep
from core.dependencies import LLMDep, SettingsDep
from core.exceptions import AppException, PayloadTooLargeException, ValidationException
from core.pagination import Limit, Offset
from core.request_id import RequestIdDep
from core.startup_lock import exclusive

from . import bulk, services
from .classifier import INTENTS, Intent, local_intent_model
from .config import WorkflowSettings, WorkflowSettingsDep
from .importer import parse_leads_csv
from .schemas import (
    AuditEntryPublic,
    AuditTrailPublic,
    BatchResult,
    ImportResult,
    LeadCreate,
    LeadDetail,
    LeadPublic,
    LeadsPublic,
)

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/leads", tags=["Assessment 1 · lead-intent workflow"])


# The dependencies below are `async def`: FastAPI runs a plain `def` dependency in its
# threadpool, and each such hop costs about 0.15 ms of CPU, as much as extracting a lead's
# fields. They do no I/O that could block the event loop for long.


async def get_loop_session(request: Request) -> AsyncIterator[Session]:
    """core.database's session, opened and closed on the event loop, for the async handlers.

    The async handlers use their session on the loop anyway (SQLite, or a short
    PostgreSQL transaction, never while an LLM call is awaited); core's `SessionDep`
    is a sync generator, which would add two threadpool hops to every request.
    """
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        yield session


LoopSessionDep = Annotated[Session, Depends(get_loop_session)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Same key and same body → the stored lead again, no second row",
    ),
]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Train the local intent model once at start, and load the sample leads for the demo."""
    # Tests and embedding apps may set their own before start.
    workflow = getattr(app.state, "workflow_settings", None) or WorkflowSettings()
    app.state.workflow_settings = workflow
    try:
        local_intent_model()
    except AppException:
        log.error("intent_model_unavailable", hint="data/leads/intent_train.csv is missing")
    else:
        if app.state.settings.LOAD_SAMPLE_DATA:
            # Workers starting together take turns: the second finds the leads there.
            with exclusive(app.state.engine, "sample-data"), Session(app.state.engine) as session:
                loaded = await services.load_sample_leads(session, app.state.settings, workflow)
            log.info("sample_leads_loaded", count=loaded)
    yield


@router.post("", status_code=201, response_model=LeadPublic)
async def create_lead(
    lead_in: LeadCreate,
    response: Response,
    session: LoopSessionDep,
    settings: SettingsDep,
    workflow: WorkflowSettingsDep,
    llm: LLMDep,
    request_id: RequestIdDep,
    idempotency_key: IdempotencyKey = None,
) -> LeadPublic:
    """Classify, extract, validate and store one lead, with its audit trail."""
    lead, replayed = await services.create_lead(
        session=session,
        lead_in=lead_in,
        llm=llm,
        settings=settings,
        workflow=workflow,
        request_id=request_id,
        idempotency_key=idempotency_key,
    )
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return lead


@router.get("", response_model=LeadsPublic)
def list_leads(
    session: SessionDep,
    intent: Annotated[str | None, Query(description="Sales, Support or Partnership")] = None,
    low_confidence: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> LeadsPublic:
    """Stored leads, newest first, filtered by intent and confidence, with the total count."""
    leads, count = services.list_leads(
        session,
        intent=_intent(intent),
        low_confidence=low_confidence,
        limit=limit,
        offset=offset,
    )
    return LeadsPublic(data=[services.to_detail(lead) for lead in leads], count=count)


@router.get("/{lead_id}", response_model=LeadDetail)
def read_lead(lead_id: str, session: SessionDep) -> LeadDetail:
    """One stored lead."""
    return services.to_detail(services.get_lead(session, lead_id))


@router.get("/{lead_id}/audit", response_model=AuditTrailPublic)
def read_lead_audit(lead_id: str, session: SessionDep) -> AuditTrailPublic:
    """Every processing step of one lead, in order, with timings and raw model output."""
    entries = services.get_audit_trail(session, lead_id)
    return AuditTrailPublic(
        lead_id=lead_id,
        data=[AuditEntryPublic.model_validate(entry, from_attributes=True) for entry in entries],
        count=len(entries),
    )


@router.post("/batch", response_model=BatchResult)
async def create_leads_batch(
    items: Annotated[list[Any], Body(description="Lead objects, as for POST /leads")],
    session: LoopSessionDep,
    settings: SettingsDep,
    workflow: WorkflowSettingsDep,
    llm: LLMDep,
    request_id: RequestIdDep,
) -> BatchResult:
    """Process a JSON list of leads; each item gets its own result (created, duplicate, failed)."""
    if not items:
        raise ValidationException("The batch is empty", code="empty_batch")
    return await bulk.create_batch(
        session=session,
        items=items,
        llm=llm,
        settings=settings,
        workflow=workflow,
        request_id=request_id,
    )


@router.post("/import", response_model=ImportResult)
async def import_leads(
    file: Annotated[UploadFile, File(description="A UTF-8 CSV with a header row")],
    session: LoopSessionDep,
    settings: SettingsDep,
    workflow: WorkflowSettingsDep,
    llm: LLMDep,
    request_id: RequestIdDep,
) -> ImportResult:
    """Import leads from a CSV upload; each row gets its own result (created, duplicate, failed)."""
    content = await file.read(settings.MAX_UPLOAD_BYTES + 1)
    if len(content) > settings.MAX_UPLOAD_BYTES:
        raise PayloadTooLargeException(
            f"The file is larger than {settings.MAX_UPLOAD_BYTES} bytes", code="file_too_large"
        )
    parsed = parse_leads_csv(content)
    return await bulk.import_csv(
        session=session,
        parsed=parsed,
        filename=file.filename,
        size_bytes=len(content),
        llm=llm,
        settings=settings,
        workflow=workflow,
        request_id=request_id,
    )


def _intent(value: str | None) -> Intent | None:
    if value is None:
        return None
    for intent in INTENTS:
        if value.strip().lower() == intent.lower():
            return intent
    raise ValidationException(
        f"intent must be one of {', '.join(INTENTS)}; got {value!r}", code="invalid_intent"
    )
