"""A chat turn: the question in, the answer with its sources out, both kept in the history.

Check the company and the session → rewrite a follow-up into a standalone question →
retrieve (refuse below the similarity threshold) → answer (LLM, or the local extractive
answerer on the local provider or when the LLM fails) → optionally make it friendlier →
check citations → store both messages → respond with sources and confidence. `POST /chat`
runs `chat`; `POST /chat/stream` runs `prepare_turn`, then `stream_turn`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import anyio
import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.ai_step import LOCAL_PROVIDER, StepOutcome, run_step
from core.exceptions import LLMException
from core.llm_client import LLMClient
from core.vector_chunks import SearchResult
from core.vector_store import VectorStoreBackend

from . import refusal
from .answering import (
    AnswerContext,
    Turn,
    best_passage_scores,
    check_answer,
    confidence,
    extractive_answer,
    grounded_llm_answer,
    llm_answer,
    llm_answer_stream,
    unsupported_claims,
)
from .config import RagSettings
from .history import recent_turns, save_exchange
from .refusal import REFUSAL_MESSAGE, RefusalReason, is_refusal
from .retrieval import Retrieval, RetrievalMode, company_corpus, retrieve
from .rewriting import (
    llm_friendlier,
    llm_standalone_question,
    local_friendlier,
    local_standalone_question,
)
from .schemas import ChatRequest, ChatResponse, SourcePublic
from .services import get_company
from .streaming import sse_event
from .term_counts import database_term_stats

log = structlog.get_logger(__name__)

SNIPPET_CHARS = 300
THRESHOLD_MODEL = "similarity-threshold"


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
    rag: RagSettings,
    llm: LLMClient | None,
    vector_store: VectorStoreBackend,
    chat_in: ChatRequest,
    mode: RetrievalMode | None = None,
) -> PreparedTurn:
    """Validate the company and session, resolve a follow-up, and retrieve."""
    company_id = chat_in.company_id or rag.SAMPLE_COMPANY_ID
    structlog.contextvars.bind_contextvars(company_id=company_id)  # on its log lines and spans
    get_company(session, company_id)
    session_id = chat_in.session_id or uuid.uuid4().hex
    history = recent_turns(session, session_id=session_id, company_id=company_id)
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
        k=rag.RETRIEVAL_TOP_K,
        threshold=rag.SIMILARITY_THRESHOLD,
        mode=mode or rag.RETRIEVAL_MODE,
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
    rag: RagSettings,
    llm: LLMClient | None,
    vector_store: VectorStoreBackend,
    chat_in: ChatRequest,
) -> ChatResponse:
    turn = await prepare_turn(
        session=session, rag=rag, llm=llm, vector_store=vector_store, chat_in=chat_in
    )
    answer = await answer_turn(turn, llm=llm, vector_store=vector_store, rewrite=chat_in.rewrite)
    return record_turn(turn, answer)


async def answer_turn(
    turn: PreparedTurn,
    *,
    llm: LLMClient | None,
    vector_store: VectorStoreBackend,
    rewrite: bool,
    check_grounding: bool = True,
) -> FinalAnswer:
    """The answer to a prepared turn. `check_grounding=False` returns the LLM's answer as it
    came (no claim check, no re-ask): only for the evaluation's before/after comparison."""
    if reason := refusal.gate(turn.retrieval):
        return FinalAnswer(
            REFUSAL_MESSAGE, provider=LOCAL_PROVIDER, model=THRESHOLD_MODEL, refusal_reason=reason
        )
    context = turn.context
    outcome = await run_step(
        "rag.answer",
        llm=(
            (lambda: (grounded_llm_answer if check_grounding else llm_answer)(llm, context))
            if llm
            else None
        ),
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
    keywords = getattr(vector_store, "keyword_search", None)
    if turn.chunks and keywords is not None:  # pgvector: counted by the database
        stats = await anyio.to_thread.run_sync(
            database_term_stats, keywords, turn.company_id, context.question
        )
        context = replace(context, term_stats=stats)
    elif turn.chunks:  # with none the answer is the refusal: nothing to check
        corpus = turn.retrieval.corpus or await anyio.to_thread.run_sync(
            company_corpus, vector_store, turn.company_id
        )
        context = replace(context, term_stats=corpus.term_stats())
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
    """The response to the turn (`respond`), stored as the session's next two messages."""
    response = respond(turn, answer)
    with Session(turn.engine) as session:
        save_exchange(
            session, question=turn.query, search_query=turn.search_query, response=response
        )
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


def respond(turn: PreparedTurn, answer: FinalAnswer) -> ChatResponse:
    """Validate the answer's citations, score its confidence and list its sources."""
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
    return ChatResponse(
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
