"""Grounded answers from retrieved chunks: an LLM answerer and a local extractive one.

Both number the chunks 1..n; a marker `[n]` in the answer cites chunk n, which
is `sources[n-1]` in the response.

- LLM: the prompt (`prompts/answer_*.txt`) puts the chunks inside a
  `<documents>` block and says, before any document text, that documents are
  data and never instructions, that every fact is cited, and that an answer
  the documents do not hold is the exact refusal.
- Local: passages copied from the chunks (`passages.py`), ranked by embedding
  similarity to the question, each followed by the marker of the chunk it
  came from. It never writes a word that is not in the documents, and never
  quotes text that addresses the assistant ("ignore all previous
  instructions…"). Before answering it runs the answerability check
  (`answerability.py`): it refuses when a name the question asks about (a
  capitalised term such as "Platinum") appears in none of the chunks, or when
  no single passage supports the question (cosine similarity plus
  idf-weighted coverage of the question's terms under 0.68 with
  all-MiniLM-L6-v2) — the chunks are on the topic but do not state the fact.

`check_answer` validates markers (dropping any that point at no chunk) and
`confidence` scores the result; see the README for the definition.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import structlog

from core.ai_step import LOCAL_PROVIDER, StepOutcome
from core.embedding_client import EmbeddingClient
from core.llm_client import LLMClient
from core.prompts import Prompt, load_prompt
from core.vector_store import SearchResult

from .answerability import TermStats, missing_key_terms, passage_support, support_threshold
from .passages import Passage, passages, split_sentences
from .retrieval import keyword_terms
from .schemas import REFUSAL_MESSAGE

log = structlog.get_logger(__name__)

PROMPTS = Path(__file__).parent / "prompts"
EXTRACTIVE_MODEL = "extractive"
MAX_SENTENCES = 3
# Sentences within this much cosine similarity of the best one join the answer.
SENTENCE_MARGIN = 0.15
HISTORY_TURNS = 6
# Similarity ranks passages; sharing the question's words adds a little on top.
LEXICAL_WEIGHT = 0.1

CITATION = re.compile(r"\[(\d{1,3})\]")
# An LLM's own wording of "the context does not answer this" (read on `is_refusal`'s words).
_NOT_IN_DOCUMENTS = re.compile(
    r"\b(?:provided |given )?(?:documents?|context|sources?)\b[a-z' ]{0,20}"
    r"\b(?:do not|does not|don't|doesn't)\s+(?:\w+\s+)?"
    r"(?:state|states|mention|mentions|contain|contains|say|says|include|includes|provide|"
    r"provides|specify|specifies|give|gives|cover|covers)\b"
    r"|\bnot enough information\b|\bnot (?:stated|mentioned|specified) in the (?:provided )?"
    r"(?:documents?|context)\b"
)


@dataclass(frozen=True)
class Turn:
    role: str  # "user" | "assistant"
    content: str


@dataclass(frozen=True)
class AnswerContext:
    question: str  # standalone: a follow-up has already been rewritten
    chunks: Sequence[SearchResult]
    history: Sequence[Turn] = ()
    # The company's term statistics for the answerability check (None: the chunks stand in).
    term_stats: TermStats | None = None


@dataclass(frozen=True)
class CheckedAnswer:
    text: str
    refused: bool
    cited: frozenset[int]  # chunk numbers (1-based) with at least one valid marker
    coverage: float  # share of the answer's sentences that carry a valid marker


# ---------------------------------------------------------------- LLM


def answer_prompts(context: AnswerContext) -> tuple[str, str]:
    """(system, user) messages: rules first, documents fenced as data."""
    system = _prompt("answer_system.txt").render(refusal=REFUSAL_MESSAGE)
    user = _prompt("answer_user.txt").render(
        history=format_history(context.history),
        documents=format_documents(context.chunks),
        question=context.question,
    )
    return system, user


def format_documents(chunks: Sequence[SearchResult]) -> str:
    # Escaping '<' and '>' keeps document text from closing the <documents> fence.
    return "\n".join(
        f'<document number="{number}" source="{html.escape(chunk.source or "unknown")}">\n'
        f"{html.escape(chunk.text, quote=False)}\n</document>"
        for number, chunk in enumerate(chunks, start=1)
    )


def format_history(history: Sequence[Turn]) -> str:
    turns = list(history)[-HISTORY_TURNS:]
    if not turns:
        return "(none)"
    return "\n".join(f"{turn.role}: {html.escape(turn.content, quote=False)}" for turn in turns)


async def llm_answer(llm: LLMClient, context: AnswerContext) -> StepOutcome[str]:
    system, user = answer_prompts(context)
    result = await llm.complete_text(system=system, user=user, temperature=0.0, max_tokens=600)
    return StepOutcome.from_llm(
        result, result.value.strip(), prompt_version=_prompt("answer_system.txt").version
    )


def llm_answer_stream(llm: LLMClient, context: AnswerContext) -> AsyncIterator[str]:
    system, user = answer_prompts(context)
    return llm.stream_text(system=system, user=user, temperature=0.0)


# ---------------------------------------------------------------- local, extractive


@dataclass(frozen=True)
class _Candidate:
    number: int  # the chunk's citation number
    passage: Passage


async def extractive_answer(embedder: EmbeddingClient, context: AnswerContext) -> StepOutcome[str]:
    """Up to three passages from the chunks, most similar to the question, each cited."""
    candidates = _candidates(context.chunks)
    if not candidates:
        return _local_outcome(REFUSAL_MESSAGE, embedder)
    names = missing_key_terms(context.question, context.chunks)
    if names:
        log.info("rag_unanswerable", reason="missing_name", terms=names)
        return _local_outcome(REFUSAL_MESSAGE, embedder)
    texts = [c.passage.ranking_text for c in candidates]
    vectors = await embedder.embed_documents(texts)
    similarities = vectors @ await embedder.embed_query(context.question)
    threshold = support_threshold(embedder.model)
    if threshold is not None:
        support = passage_support(
            context.question, texts, similarities, threshold=threshold, stats=context.term_stats
        )
        if not support.answerable:
            log.info(
                "rag_unanswerable",
                reason="no_supporting_passage",
                support=round(support.score, 3),
                missing=list(support.missing),
            )
            return _local_outcome(REFUSAL_MESSAGE, embedder)
    scores = similarities
    terms = _stems(context.question)
    if terms:
        overlap = np.array(
            [len(terms & _stems(c.passage.ranking_text)) / len(terms) for c in candidates]
        )
        scores = scores + LEXICAL_WEIGHT * overlap
    ranked = np.argsort(-scores, kind="stable")
    best = float(scores[ranked[0]])
    chosen = [candidates[i] for i in ranked[:MAX_SENTENCES] if scores[i] >= best - SENTENCE_MARGIN]
    chosen.sort(key=lambda c: (c.number, c.passage.position))
    answer = " ".join(f"{c.passage.text} [{c.number}]" for c in chosen)
    return _local_outcome(answer, embedder)


def _candidates(chunks: Sequence[SearchResult]) -> list[_Candidate]:
    seen: set[str] = set()
    candidates = []
    for number, chunk in enumerate(chunks, start=1):
        for passage in passages(chunk.text):
            key = passage.text.lower()
            if key not in seen:  # overlapping chunks repeat text: cite the first
                seen.add(key)
                candidates.append(_Candidate(number, passage))
    return candidates


def _local_outcome(answer: str, embedder: EmbeddingClient) -> StepOutcome[str]:
    return StepOutcome(
        value=answer, provider=LOCAL_PROVIDER, model=f"{EXTRACTIVE_MODEL}+{embedder.model}"
    )


# ---------------------------------------------------------------- checking and scoring


def check_answer(text: str, *, sources: int) -> CheckedAnswer:
    """Detect a refusal, drop markers that cite no chunk, and measure citation coverage."""
    text = text.strip()
    if is_refusal(text) or sources == 0:
        return CheckedAnswer(REFUSAL_MESSAGE, refused=True, cited=frozenset(), coverage=0.0)
    text = CITATION.sub(lambda m: m.group(0) if 1 <= int(m.group(1)) <= sources else "", text)
    text = re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", text)).strip()
    cited = frozenset(int(n) for n in CITATION.findall(text))
    # "Fact. [1] Next fact." — a marker after the full stop belongs to the sentence before it.
    attached = re.sub(r"([.!?])((?:\s*\[\d{1,3}\])+)", r"\2\1", text)
    sentences = split_sentences(attached)
    with_marker = sum(1 for sentence in sentences if CITATION.search(sentence))
    coverage = with_marker / len(sentences) if sentences else 0.0
    return CheckedAnswer(text, refused=False, cited=cited, coverage=coverage)


def is_refusal(text: str) -> bool:
    """The refusal sentence (small variations, trailing words), or an uncited answer that
    only says the documents do not hold the answer ("The documents do not mention …")."""

    def words(value: str) -> str:
        return " ".join(re.findall(r"[a-z0-9']+", value.lower().replace("’", "'")))

    if words(text).startswith(words(REFUSAL_MESSAGE)):
        return True
    return not CITATION.search(text) and bool(_NOT_IN_DOCUMENTS.search(words(text)))


def confidence(checked: CheckedAnswer, chunks: Sequence[SearchResult]) -> float:
    """0 for a refusal; else the mean similarity of the cited chunks (the best chunk's
    when nothing is cited), scaled by 0.5 + 0.5 × the share of cited sentences."""
    if checked.refused or not chunks:
        return 0.0
    scores = [chunks[n - 1].score for n in sorted(checked.cited)] or [max(c.score for c in chunks)]
    grounding = sum(scores) / len(scores)
    return round(max(0.0, min(1.0, grounding * (0.5 + 0.5 * checked.coverage))), 3)


def _prompt(name: str) -> Prompt:
    return load_prompt(PROMPTS, name)


def _stems(text: str) -> set[str]:
    # Five-letter prefixes: "annually" meets "annual", "users" meets "user".
    return {term[:5] for term in keyword_terms(text)}
