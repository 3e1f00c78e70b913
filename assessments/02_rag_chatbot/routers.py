"""HTTP routes of the RAG chatbot (mounted by backend.main under /api/02-rag)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import structlog
from fastapi import (
    APIRouter,
    Body,
    Depends,
    FastAPI,
    File,
    Form,
    Query,
    Request,
    Response,
    UploadFile,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from core.database import SessionDep
from core.dependencies import LLMDep, SettingsDep, VectorStoreDep
from core.exceptions import AppException, PayloadTooLargeException, error_body
from core.request_id import request_id
from core.startup_lock import exclusive
from core.tasks import TaskRunner

from . import chat as chat_turn
from . import history, ingest_jobs, samples, services
from . import tasks as _tasks  # noqa: F401  importing it registers the ingest job
from .config import RagSettings, RagSettingsDep
from .schemas import (
    ChatRequest,
    ChatResponse,
    CompaniesPublic,
    DocumentDeleted,
    DocumentsPublic,
    DocumentsUploaded,
    IngestJobPublic,
    MessagesPublic,
)
from .streaming import SSE_HEADERS, sse_event, with_heartbeat
from .uploads import UploadSlots

log = structlog.get_logger(__name__)
router = APIRouter(tags=["Assessment 2 · RAG chatbot"])


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the sample companies when their index does not exist yet; run the ingest jobs
    (and the sweep that submits again the ones nobody holds)."""
    state = app.state
    settings = state.settings
    # Tests and embedding apps may set their own before start.
    rag = getattr(state, "rag_settings", None) or RagSettings()
    state.rag_settings = rag
    state.rag_upload_slots = UploadSlots(rag.MAX_UPLOADS_IN_FLIGHT)
    if settings.LOAD_SAMPLE_DATA:
        # Workers starting together take turns: the second finds the companies indexed.
        with exclusive(state.engine, "sample-data"), Session(state.engine) as session:
            await samples.load_sample_companies(
                session=session, settings=settings, rag=rag, vector_store=state.vector_store
            )
    runner = ingest_jobs.create_ingest_runner(settings, state)
    await runner.start()
    state.rag_ingest_runner = runner
    sweep = ingest_jobs.IngestSweep(state, runner)
    await sweep.start()
    try:
        yield
    finally:
        await sweep.stop()
        await runner.aclose()


def ingest_runner(request: Request) -> TaskRunner:
    return request.app.state.rag_ingest_runner  # type: ignore[no-any-return]


async def upload_slot(request: Request) -> AsyncIterator[None]:
    """A place among the uploads in flight; 503 with Retry-After when they are all taken."""
    with request.app.state.rag_upload_slots.hold():
        yield


def chat_request(
    body: Annotated[ChatRequest | None, Body()] = None,
    query: Annotated[str | None, Query()] = None,
    company_id: Annotated[str | None, Query()] = None,
    session_id: Annotated[str | None, Query()] = None,
    rewrite: Annotated[bool | None, Query()] = None,
) -> ChatRequest:
    """The question from a JSON body or from query parameters (the body wins)."""
    if body is not None:
        return body
    values = {"query": query, "company_id": company_id, "session_id": session_id}
    values = {key: value for key, value in values.items() if value is not None}
    if rewrite is not None:
        values["rewrite"] = rewrite
    try:
        return ChatRequest.model_validate(values)
    except ValidationError as exc:
        errors = [{**error, "loc": ("query", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from None


ChatInput = Annotated[ChatRequest, Depends(chat_request)]


@router.get("/companies", response_model=CompaniesPublic)
def list_companies(session: SessionDep) -> CompaniesPublic:
    """List the companies and how many documents each has."""
    return services.list_companies(session)


@router.post(
    "/documents",
    response_model=DocumentsUploaded,
    status_code=201,
    responses={
        202: {"model": DocumentsUploaded, "description": "Large files queued as jobs"},
        503: {"description": "MAX_UPLOADS_IN_FLIGHT uploads are being ingested; see Retry-After"},
    },
    dependencies=[Depends(upload_slot)],
)
async def upload_documents(
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    rag: RagSettingsDep,
    vector_store: VectorStoreDep,
    runner: Annotated[TaskRunner, Depends(ingest_runner)],
    files: Annotated[list[UploadFile], File(description="One or more .txt, .md or .pdf files")],
    company_id: Annotated[str, Form()],
    company_name: Annotated[str | None, Form()] = None,
) -> DocumentsUploaded:
    """Upload documents for a company (created on first upload); same name = replace.

    Files of INGEST_ASYNC_MIN_BYTES or more are ingested by a background job:
    the answer is then 202 and lists them under `jobs` (poll `/ingest-jobs/{id}`).
    """
    contents = []
    for upload in files:
        data = await upload.read(settings.MAX_UPLOAD_BYTES + 1)
        if len(data) > settings.MAX_UPLOAD_BYTES:
            raise PayloadTooLargeException(
                f"'{upload.filename}' exceeds the limit of {settings.MAX_UPLOAD_BYTES} bytes"
            )
        contents.append((upload.filename or "upload", data))
    uploaded = await services.upload_documents(
        session=session,
        settings=settings,
        rag=rag,
        vector_store=vector_store,
        company_id=company_id,
        files=contents,
        company_name=company_name,
    )
    if uploaded.jobs:
        await run_in_threadpool(ingest_jobs.submit, runner, [job.id for job in uploaded.jobs])
        response.status_code = 202
    return uploaded


@router.get("/ingest-jobs/{job_id}", response_model=IngestJobPublic)
def get_ingest_job(job_id: str, session: SessionDep) -> IngestJobPublic:
    """A large upload's background ingest: queued, running, done (with its document) or failed."""
    return ingest_jobs.get_job(session, job_id)


@router.get("/documents", response_model=DocumentsPublic)
def list_documents(
    session: SessionDep, rag: RagSettingsDep, company_id: str | None = None
) -> DocumentsPublic:
    """List a company's documents (default: the sample company)."""
    return services.list_documents(session, company_id or rag.SAMPLE_COMPANY_ID)


@router.delete("/documents/{document_id}", response_model=DocumentDeleted)
async def delete_document(
    document_id: str,
    session: SessionDep,
    settings: SettingsDep,
    vector_store: VectorStoreDep,
    company_id: str | None = None,
) -> DocumentDeleted:
    """Delete a document with its chunks and vectors."""
    return await services.delete_document(
        session=session,
        settings=settings,
        vector_store=vector_store,
        document_id=document_id,
        company_id=company_id,
    )


@router.post("/chat", response_model=ChatResponse)
async def chat(
    chat_in: ChatInput,
    session: SessionDep,
    rag: RagSettingsDep,
    llm: LLMDep,
    vector_store: VectorStoreDep,
) -> ChatResponse:
    """Answer a question from the company's documents, with sources and confidence."""
    return await chat_turn.chat(
        session=session, rag=rag, llm=llm, vector_store=vector_store, chat_in=chat_in
    )


@router.post(
    "/chat/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def chat_stream(
    request: Request,
    chat_in: ChatInput,
    session: SessionDep,
    rag: RagSettingsDep,
    llm: LLMDep,
    vector_store: VectorStoreDep,
) -> StreamingResponse:
    """The same answer as Server-Sent Events: `token`… then `done` with the full response."""
    # Company, session and retrieval errors are answered as JSON before the stream opens.
    turn = await chat_turn.prepare_turn(
        session=session, rag=rag, llm=llm, vector_store=vector_store, chat_in=chat_in
    )

    async def events() -> AsyncIterator[str]:
        try:
            async for event in chat_turn.stream_turn(
                turn, llm=llm, vector_store=vector_store, rewrite=chat_in.rewrite
            ):
                yield event
        except AppException as exc:
            yield sse_event("error", error_body(exc.code, exc.message, request_id(request)))

    return StreamingResponse(
        with_heartbeat(events(), is_disconnected=request.is_disconnected),
        media_type="text/event-stream",
        headers=SSE_HEADERS,
    )


@router.get("/sessions/{session_id}/messages", response_model=MessagesPublic)
def read_session_messages(
    session_id: str, session: SessionDep, company_id: str | None = None
) -> MessagesPublic:
    """The conversation of a chat session, oldest message first."""
    return history.read_messages(session, session_id, company_id)
