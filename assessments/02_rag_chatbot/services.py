"""The RAG chatbot's use cases: companies, documents, chat turns and their history.

A chat turn: check the company and the session → rewrite a follow-up into a
standalone question → retrieve (refuse below the similarity threshold) →
answer (LLM, or the local extractive answerer on the local provider or when
the LLM fails) → optionally make it friendlier → check citations → store both
messages → respond with sources and confidence.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace

import anyio
import structlog
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.ai_step import LOCAL_PROVIDER, StepOutcome, run_step
from core.config import Settings
from core.exceptions import LLMException, NotFoundException, ValidationException
from core.llm_client import LLMClient
from core.vector_store import SearchResult, VectorStoreBackend

from . import ingest, ingest_jobs, refusal
from .answerability import company_term_stats
from .answering import (
    AnswerContext,
    Turn,
    best_passage_scores,
    check_answer,
    confidence,
    extractive_answer,
    grounded_llm_answer,
    llm_answer_stream,
    unsupported_claims,
)
from .models import ChatMessage, Company, Document
from .refusal import REFUSAL_MESSAGE, RefusalReason, is_refusal
from .retrieval import Retrieval, RetrievalMode, company_corpus, retrieve
from .rewriting import (
    llm_friendlier,
    llm_standalone_question,
    local_friendlier,
    local_standalone_question,
)
from .schemas import (
    ChatRequest,
    ChatResponse,
    CompaniesPublic,
    CompanyPublic,
    DocumentDeleted,
    DocumentPublic,
    DocumentsPublic,
    DocumentsUploaded,
    DocumentUploaded,
    MessagePublic,
    MessagesPublic,
    SourcePublic,
)
from .streaming import sse_event

log = structlog.get_logger(__name__)

HISTORY_MESSAGES = 6
SNIPPET_CHARS = 300
THRESHOLD_MODEL = "similarity-threshold"


# ---------------------------------------------------------------- companies


def get_company(session: Session, company_id: str) -> Company:
    company = session.get(Company, company_id)
    if company is None:
        raise NotFoundException(f"Company '{company_id}' not found")
    return company


def list_companies(session: Session) -> CompaniesPublic:
    counts = dict(
        session.exec(select(Document.company_id, func.count()).group_by(Document.company_id)).all()
    )
    companies = session.exec(select(Company).order_by(col(Company.id))).all()
    data = [CompanyPublic(id=c.id, name=c.name, documents=counts.get(c.id, 0)) for c in companies]
    return CompaniesPublic(data=data, count=len(data))


# ---------------------------------------------------------------- documents


async def upload_documents(
    *,
    session: Session,
    settings: Settings,
    vector_store: VectorStoreBackend,
    company_id: str,
    files: Sequence[tuple[str, bytes]],
    company_name: str | None = None,
) -> DocumentsUploaded:
    """Store small files now and queue large ones (`ingest_jobs`); the caller submits the jobs.

    Every small file is read and chunked before anything is stored, so one bad
    file fails the request whole; a large file is only checked for its name and
    type here, and a job that cannot read it fails with the same error code.
    """
    large = [(name, data) for name, data in files if len(data) >= settings.INGEST_ASYNC_MIN_BYTES]
    small = [(name, data) for name, data in files if len(data) < settings.INGEST_ASYNC_MIN_BYTES]
    # Parsing and chunking are CPU work (a PDF takes seconds): off the event loop, which
    # serves every other request meanwhile.
    prepared = await anyio.to_thread.run_sync(
        lambda: [
            ingest.prepare_upload(name, data, settings=settings, embedder=vector_store.embedder)
            for name, data in small
        ]
    )
    queued_names = [ingest.sanitise_filename(name) for name, _ in large]
    names = [document.source for document in prepared] + queued_names
    if len(set(names)) != len(names):
        raise ValidationException(
            "Two files in one upload have the same name", code="duplicate_filename"
        )
    for name in queued_names:
        ingest.check_supported(name)
    ingest.ensure_company(session, company_id, name=company_name)
    results = await ingest.ingest_documents(
        prepared,
        company_id=company_id,
        session=session,
        vector_store=vector_store,
        upload_dir=settings.upload_dir,
    )
    # Queued last: a request that fails above leaves no job behind to run later.
    jobs = [
        ingest_jobs.queue_upload(
            session, settings=settings, company_id=company_id, filename=name, data=data
        )
        for name, data in large
    ]
    data = [
        DocumentUploaded(
            id=r.document.id, source=r.document.source, chunks=r.document.chunks, status=r.status
        )
        for r in results
    ]
    return DocumentsUploaded(
        company_id=company_id,
        data=data,
        count=len(data),
        jobs=[ingest_jobs.to_public(job) for job in jobs],
    )


def list_documents(session: Session, company_id: str) -> DocumentsPublic:
    get_company(session, company_id)
    documents = session.exec(
        select(Document).where(Document.company_id == company_id).order_by(col(Document.source))
    ).all()
    data = [DocumentPublic.model_validate(document, from_attributes=True) for document in documents]
    return DocumentsPublic(data=data, count=len(data))


async def delete_document(
    *,
    session: Session,
    settings: Settings,
    vector_store: VectorStoreBackend,
    document_id: str,
    company_id: str | None = None,
) -> DocumentDeleted:
    document = session.get(Document, document_id)
    if document is None or (company_id is not None and document.company_id != company_id):
        raise NotFoundException(f"Document '{document_id}' not found")
    removed = await anyio.to_thread.run_sync(
        lambda: vector_store.delete_document(document.id, company_id=document.company_id)
    )
    deleted = DocumentDeleted(
        id=document.id,
        company_id=document.company_id,
        source=document.source,
        chunks_removed=removed,
    )
    session.delete(document)
    session.commit()
    ingest.remove_upload(settings.upload_dir, deleted.company_id, deleted.source)
    return deleted


# ---------------------------------------------------------------- chat


@dataclass(frozen=True)
class PreparedTurn:
    """Everything decided before the answer is written."""

    company_id: str
    session_id: str
    query: str  # as the user asked it
    search_query: str  # standalone: what was retrieved for
    history: list[Turn]
    retrieval: Retrieval
    engine: Engine

    @property
    def chunks(self) -> list[SearchResult]:
        return self.retrieval.chunks

    @property
    def context(self) -> AnswerContext:
        return AnswerContext(
            question=self.search_query,
            chunks=self.chunks,
            history=self.history,
            company_id=self.company_id,
        )


@dataclass(frozen=True)
class FinalAnswer:
    text: str
    provider: str
    model: str
    fallback: bool = False
    rewritten: bool = False
    refusal_reason: RefusalReason | None = None
    fallback_reason: str | None = None  # the failed LLM step's error code


async def prepare_turn(
    *,
    session: Session,
    settings: Settings,
    llm: LLMClient | None,
    vector_store: VectorStoreBackend,
    chat_in: ChatRequest,
    mode: RetrievalMode | None = None,
) -> PreparedTurn:
    """Validate the company and session, resolve a follow-up, and retrieve."""
    company_id = chat_in.company_id or settings.SAMPLE_COMPANY_ID
    get_company(session, company_id)
    session_id = chat_in.session_id or uuid.uuid4().hex
    history = _history(session, session_id=session_id, company_id=company_id)
    query = chat_in.query.strip()
    search_query = query
    if history:
        condensed = await run_step(
            "rag.condense",
            llm=(lambda: llm_standalone_question(llm, query, history)) if llm else None,
            local=lambda: local_standalone_question(query, history),
        )
        search_query = condensed.value
    retrieval = await retrieve(
        search_query,
        company_id=company_id,
        vector_store=vector_store,
        k=settings.RETRIEVAL_TOP_K,
        threshold=settings.SIMILARITY_THRESHOLD,
        mode=mode or settings.RETRIEVAL_MODE,
    )
    if not retrieval.relevant and retrieval.ranked:
        # The second look of the gate (`refusal.gate`): a short, specific question can match
        # one sentence of a chunk far better than the whole chunk.
        retrieval = retrieval.with_passage_scores(
            await best_passage_scores(vector_store.embedder, search_query, retrieval.ranked)
        )
    log.info(
        "rag_retrieval",
        company_id=company_id,
        mode=retrieval.mode,
        best_score=round(retrieval.best_score, 4),
        chunks=len(retrieval.chunks),
    )
    engine: Engine = session.get_bind()  # type: ignore[assignment]
    return PreparedTurn(
        company_id=company_id,
        session_id=session_id,
        query=query,
        search_query=search_query,
        history=history,
        retrieval=retrieval,
        engine=engine,
    )


async def chat(
    *,
    session: Session,
    settings: Settings,
    llm: LLMClient | None,
    vector_store: VectorStoreBackend,
    chat_in: ChatRequest,
) -> ChatResponse:
    turn = await prepare_turn(
        session=session, settings=settings, llm=llm, vector_store=vector_store, chat_in=chat_in
    )
    answer = await answer_turn(turn, llm=llm, vector_store=vector_store, rewrite=chat_in.rewrite)
    return record_turn(turn, answer)


async def answer_turn(
    turn: PreparedTurn, *, llm: LLMClient | None, vector_store: VectorStoreBackend, rewrite: bool
) -> FinalAnswer:
    if reason := refusal.gate(turn.retrieval):
        return FinalAnswer(
            REFUSAL_MESSAGE, provider=LOCAL_PROVIDER, model=THRESHOLD_MODEL, refusal_reason=reason
        )
    context = turn.context
    outcome = await run_step(
        "rag.answer",
        llm=(lambda: grounded_llm_answer(llm, context)) if llm else None,
        local=lambda: local_answer(turn, vector_store=vector_store),
    )
    answer = _final(outcome)
    return await make_friendlier(answer, llm=llm) if rewrite else answer


async def local_answer(turn: PreparedTurn, *, vector_store: VectorStoreBackend) -> StepOutcome[str]:
    """The extractive answer, checked against the company's term statistics.

    Read here, not in `prepare_turn`: only this answerer needs them (an LLM answer
    does not), and they are cached per company until its chunks change.
    """
    context = turn.context
    if turn.chunks:  # with none the answer is the refusal: nothing to check
        corpus = turn.retrieval.corpus or await anyio.to_thread.run_sync(
            company_corpus, vector_store, turn.company_id
        )
        context = replace(context, term_stats=corpus.build(company_term_stats))
    return await extractive_answer(vector_store.embedder, context)


async def make_friendlier(answer: FinalAnswer, *, llm: LLMClient | None) -> FinalAnswer:
    """The friendliness pass; a refusal stays the exact refusal. Facts cannot change: an LLM
    rewrite that alters numbers or markers is rejected (`llm_friendlier`, then the template),
    and the template only adds words around the answer."""
    if is_refusal(answer.text):
        return answer
    outcome = await run_step(
        "rag.rewrite",
        llm=(lambda: llm_friendlier(llm, answer.text)) if llm else None,
        local=lambda: local_friendlier(answer.text),
    )
    return replace(answer, text=outcome.value, rewritten=True)


def record_turn(turn: PreparedTurn, answer: FinalAnswer) -> ChatResponse:
    """Validate citations, score confidence, store both messages, build the response."""
    checked = check_answer(answer.text, sources=len(turn.chunks))
    chunks = [] if checked.refused else turn.chunks
    sources = [
        SourcePublic(
            source=chunk.source or "unknown",
            chunk_id=chunk.chunk_id,
            score=round(chunk.score, 4),
            snippet=_snippet(chunk.text),
            document_id=chunk.document_id,
            cited=number in checked.cited,
            above_threshold=turn.retrieval.above_threshold(chunk),
        )
        for number, chunk in enumerate(chunks, start=1)
    ]
    reason = None
    if checked.refused and answer.fallback_reason == refusal.UNSUPPORTED_CLAIM:
        reason = refusal.UNSUPPORTED_CLAIM
    elif checked.refused:
        reason = answer.refusal_reason or (
            refusal.LLM_REFUSED if answer.provider != LOCAL_PROVIDER else refusal.NOT_SUPPORTED
        )
    response = ChatResponse(
        answer=checked.text,
        sources=sources,
        confidence=confidence(checked, chunks),
        session_id=turn.session_id,
        refused=checked.refused,
        refusal_reason=reason,
        company_id=turn.company_id,
        provider=answer.provider,
        model=answer.model,
        fallback=answer.fallback,
        fallback_reason=answer.fallback_reason,
        rewritten=answer.rewritten and not checked.refused,
        search_query=turn.search_query,
    )
    with Session(turn.engine) as session:
        session.add(
            ChatMessage(
                session_id=turn.session_id,
                company_id=turn.company_id,
                role="user",
                content=turn.query,
                search_query=turn.search_query if turn.search_query != turn.query else None,
            )
        )
        session.add(
            ChatMessage(
                session_id=turn.session_id,
                company_id=turn.company_id,
                role="assistant",
                content=response.answer,
                sources=[source.model_dump() for source in sources],
                confidence=response.confidence,
                refused=response.refused,
                provider=response.provider,
                model=response.model,
            )
        )
        session.commit()
    log.info(
        "rag_answer",
        company_id=turn.company_id,
        refused=response.refused,
        refusal_reason=response.refusal_reason,
        confidence=response.confidence,
        provider=response.provider,
        fallback=response.fallback,
    )
    return response


async def stream_turn(
    turn: PreparedTurn, *, llm: LLMClient | None, vector_store: VectorStoreBackend, rewrite: bool
) -> AsyncIterator[str]:
    """SSE events: `token`s, a `reset` if the LLM fails mid-answer or words its own refusal,
    then `done` (the response)."""
    if llm is None or rewrite or not turn.chunks:
        answer = await answer_turn(turn, llm=llm, vector_store=vector_store, rewrite=rewrite)
        for token in _tokens(answer.text):
            yield sse_event("token", {"text": token})
    else:
        parts: list[str] = []
        try:
            async for delta in llm_answer_stream(llm, turn.context):
                parts.append(delta)
                yield sse_event("token", {"text": delta})
            answer = FinalAnswer("".join(parts), provider=llm.provider, model=llm.model)
            if unsupported_claims(answer.text, turn.chunks):
                # Streamed tokens cannot be taken back, so no re-ask: the client drops them
                # and gets the local answer, as `POST /chat` would after its re-ask.
                log.warning("rag_stream_unsupported", company_id=turn.company_id)
                yield sse_event("reset", {"reason": refusal.UNSUPPORTED_CLAIM})
                local = await local_answer(turn, vector_store=vector_store)
                answer = replace(
                    _final(local), fallback=True, fallback_reason=refusal.UNSUPPORTED_CLAIM
                )
                for token in _tokens(answer.text):
                    yield sse_event("token", {"text": token})
            elif is_refusal(answer.text) and answer.text.strip() != REFUSAL_MESSAGE:
                # The LLM said the documents do not answer it in its own words: the client
                # drops them and gets the exact refusal, as `POST /chat` returns it.
                yield sse_event("reset", {"reason": "refused"})
                for token in _tokens(REFUSAL_MESSAGE):
                    yield sse_event("token", {"text": token})
        except LLMException as exc:
            log.warning("rag_stream_fallback", reason=exc.code, after_tokens=bool(parts))
            if parts:
                yield sse_event("reset", {"reason": exc.code})
            local = await local_answer(turn, vector_store=vector_store)
            answer = replace(_final(local), fallback=True, fallback_reason=exc.code)
            for token in _tokens(answer.text):
                yield sse_event("token", {"text": token})
    response = await anyio.to_thread.run_sync(record_turn, turn, answer)
    yield sse_event("done", response.model_dump(mode="json"))


def read_messages(
    session: Session, session_id: str, company_id: str | None = None
) -> MessagesPublic:
    messages = session.exec(
        select(ChatMessage)
        .where(ChatMessage.session_id == session_id)
        .order_by(col(ChatMessage.created_at), col(ChatMessage.id))
    ).all()
    if not messages or (company_id is not None and messages[0].company_id != company_id):
        raise NotFoundException(f"Session '{session_id}' not found")
    data = [MessagePublic.model_validate(message, from_attributes=True) for message in messages]
    return MessagesPublic(
        session_id=session_id, company_id=messages[0].company_id, data=data, count=len(data)
    )


def _history(session: Session, *, session_id: str, company_id: str) -> list[Turn]:
    """The session's last messages, oldest first; a session belongs to one company."""
    recent = session.exec(
        select(ChatMessage)
        .where(ChatMessage.session_id == session_id)
        .order_by(col(ChatMessage.id).desc())
        .limit(HISTORY_MESSAGES)
    ).all()
    # Every message of a session has its company (checked here before each turn is stored).
    if recent and recent[0].company_id != company_id:
        # 404, not 409: another company's session is not this company's business.
        raise NotFoundException(f"Session '{session_id}' not found for company '{company_id}'")
    return [Turn(role=m.role, content=m.search_query or m.content) for m in reversed(recent)]


def _final(outcome: StepOutcome[str]) -> FinalAnswer:
    return FinalAnswer(
        outcome.value,
        provider=outcome.provider,
        model=outcome.model,
        fallback=outcome.fallback,
        refusal_reason=outcome.extra.get("refusal_reason"),
        fallback_reason=(outcome.fallback_reason or "").split(":", 1)[0] or None,
    )


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= SNIPPET_CHARS:
        return text
    return text[:SNIPPET_CHARS].rsplit(" ", 1)[0] + " …"


def _tokens(text: str) -> list[str]:
    words = text.split(" ")
    return [word if i == 0 else f" {word}" for i, word in enumerate(words)]
