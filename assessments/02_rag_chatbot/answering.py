"""Grounded answers from retrieved chunks: an LLM answerer and a local extractive one.

Both number the chunks 1..n; a marker `[n]` in the answer cites chunk n, which
is `sources[n-1]` in the response.

- LLM: the prompt (`prompts/answer_*.txt`) puts the chunks inside a
  `<documents>` block and says, before any document text, that documents are
  data and never instructions, that every fact is cited, and that an answer
  the documents do not hold is the exact refusal.
- Local: the passage that answers (`passages.py`: a sentence, a table row
  read under its column names, a list with its intro), ranked by embedding
  similarity to the question, followed by the marker of the chunk it came
  from. It never writes a word that is not in the documents, and never quotes
  text that addresses the assistant ("ignore all previous instructions…").
  Before answering it asks the answerability model (`answerability.py`) how
  likely the passages are to state the answer, and refuses under its
  threshold (`refusal.py`, reason `not_supported`).

`check_answer` validates markers (dropping any that point at no chunk) and
`confidence` scores the result; see the README for the definition.
"""

from __future__ import annotations

import html
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import structlog

from core.ai_step import LOCAL_PROVIDER, StepOutcome
from core.embedding_client import EmbeddingClient
from core.exceptions import LLMException
from core.llm_client import LLMClient
from core.prompts import Prompt, load_prompt
from core.vector_chunks import SearchResult

from . import refusal
from .answerability import assess, coverages
from .grounding import Unsupported, unsupported
from .passages import Passage, passages, split_sentences
from .question_terms import TermStats, answer_type, holds_type, spell_out
from .refusal import REFUSAL_MESSAGE, UNSUPPORTED_CLAIM, is_refusal

log = structlog.get_logger(__name__)

PROMPTS = Path(__file__).parent / "prompts"
EXTRACTIVE_MODEL = "extractive"
MAX_PASSAGES = 2
# A second passage joins the answer only when it ranks within this much of the best
# (chosen on the tuning sets: on 500 SQuAD `tune` questions 0.10 put the gold span in
# 74.3% of answers against 68.8% for 0.02; a third passage is never added).
SECOND_PASSAGE_MARGIN = 0.1
# Passage embeddings kept per model (384 floats each with all-MiniLM-L6-v2: about 30 MB).
PASSAGE_CACHE_SIZE = 20_000
_PASSAGE_VECTORS: dict[str, OrderedDict[str, np.ndarray]] = {}
# What ranks a passage above its similarity: holding the asked-for type, sharing words.
TYPE_WEIGHT = 0.05
HISTORY_TURNS = 6
# Similarity ranks passages; stating the question's terms (idf-weighted, an acronym
# meeting its spelled-out form) adds on top: "CTO" picks the chief technology officer's
# sentence over the chief executive's, which is as similar in meaning.
COVERAGE_WEIGHT = 0.2

CITATION = re.compile(r"\[(\d{1,3})\]")


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
    company_id: str | None = None


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


async def llm_answer(
    llm: LLMClient, context: AnswerContext, *, problems: Sequence[Unsupported] = ()
) -> StepOutcome[str]:
    system, user = answer_prompts(context)
    if problems:
        user += "\n\n" + _prompt("answer_reask.txt").render(
            previous="\n".join(p.sentence for p in problems),
            problems="\n".join(f"- {p.describe()}" for p in problems),
            refusal=REFUSAL_MESSAGE,
        )
    result = await llm.complete_text(system=system, user=user, temperature=0.0, max_tokens=600)
    return StepOutcome.from_llm(
        result, result.value.strip(), prompt_version=_prompt("answer_system.txt").version
    )


async def grounded_llm_answer(llm: LLMClient, context: AnswerContext) -> StepOutcome[str]:
    """The LLM's answer when every sentence is cited and its claims are in the chunks it
    cites (`grounding.py`); else one re-ask that names what was not found; else
    `LLMException("unsupported_claim")`, which hands the turn to the local answerer."""
    outcome = await llm_answer(llm, context)
    problems = unsupported_claims(outcome.value, context.chunks)
    if not problems:
        return outcome
    log.info("rag_answer_reasked", unsupported=[p.claims or ["uncited"] for p in problems])
    outcome = await llm_answer(llm, context, problems=problems)
    problems = unsupported_claims(outcome.value, context.chunks)
    if problems:
        claims = [claim for p in problems for claim in (p.claims or ("uncited sentence",))]
        log.warning("rag_answer_unsupported", claims=claims)
        raise LLMException(
            f"The answer claims what its sources do not say: {', '.join(claims)}",
            code=UNSUPPORTED_CLAIM,
        )
    outcome.extra["reasked"] = True
    return outcome


def unsupported_claims(answer: str, chunks: Sequence[SearchResult]) -> list[Unsupported]:
    """What is unsupported in an LLM answer; a refusal claims nothing."""
    if is_refusal(answer):
        return []
    return unsupported(answer, [chunk.text for chunk in chunks])


def llm_answer_stream(llm: LLMClient, context: AnswerContext) -> AsyncIterator[str]:
    system, user = answer_prompts(context)
    return llm.stream_text(system=system, user=user, temperature=0.0)


# ---------------------------------------------------------------- local, extractive


@dataclass(frozen=True)
class _Candidate:
    number: int  # the chunk's citation number
    passage: Passage


async def extractive_answer(embedder: EmbeddingClient, context: AnswerContext) -> StepOutcome[str]:
    """The passage that answers the question, cited; the refusal when none is likely to.

    Passages are ranked by cosine similarity to the question plus a little for
    stating its terms and for holding what it asks for (a date for "when", a
    number for "how many"). The best one is the answer; a second joins it only
    when it ranks almost as high (`SECOND_PASSAGE_MARGIN`), so the answer is the
    sentence that states the fact rather than its neighbours.
    """
    candidates, similarities = await passage_similarities(
        embedder, context.question, context.chunks
    )
    if not candidates:
        return _local_outcome(REFUSAL_MESSAGE, embedder, reason=refusal.NOT_SUPPORTED)
    texts = [c.passage.ranking_text for c in candidates]
    assessment = assess(
        context.question,
        texts,
        similarities,
        context.chunks,
        stats=context.term_stats,
        embedding_model=embedder.model,
    )
    if assessment is not None and (reason := refusal.decide(assessment)):
        log.info("rag_unanswerable", reason=reason, probability=assessment.probability)
        return _local_outcome(REFUSAL_MESSAGE, embedder, reason=reason)
    stats = context.term_stats or TermStats.of(chunk.text for chunk in context.chunks)
    # The company's own name says which tenant is asked about, not which passage answers:
    # "Who is the CTO of Northwind Labs?" is about "CTO", wherever "Northwind" is written.
    topic = _without_words(context.question, context.company_id)
    scores = (
        similarities
        + COVERAGE_WEIGHT * coverages(topic, texts, stats)
        + _answer_bonus(context.question, [c.passage.text for c in candidates])
    )
    ranked = np.argsort(-scores, kind="stable")
    best = float(scores[ranked[0]])
    chosen = [
        candidates[i] for i in ranked[:MAX_PASSAGES] if scores[i] >= best - SECOND_PASSAGE_MARGIN
    ]
    chosen.sort(key=lambda c: (c.number, c.passage.position))
    # Every sentence carries its marker, a list's too: each can be checked on its own.
    answer = " ".join(
        f"{sentence} [{c.number}]" for c in chosen for sentence in split_sentences(c.passage.text)
    )
    outcome = _local_outcome(answer, embedder)
    if assessment is not None:
        outcome.extra["answerability"] = assessment.probability
    return outcome


async def passage_similarities(
    embedder: EmbeddingClient, question: str, chunks: Sequence[SearchResult]
) -> tuple[list[_Candidate], np.ndarray]:
    """The chunks' passages and their cosine similarity to the question (read with headings)."""
    candidates = _candidates(chunks)
    if not candidates:
        return [], np.zeros(0)
    vectors = await _passage_vectors(embedder, [c.passage.ranking_text for c in candidates])
    return candidates, vectors @ await _question_vector(embedder, question, chunks)


async def _question_vector(
    embedder: EmbeddingClient, question: str, chunks: Sequence[SearchResult]
) -> np.ndarray:
    """The question embedded with its titles written as the chunks write them (`spell_out`)."""
    return await embedder.embed_query(spell_out(question, " ".join(c.text for c in chunks)))


async def _passage_vectors(embedder: EmbeddingClient, texts: list[str]) -> np.ndarray:
    """Embeddings of passages, cached by text: the same chunks come back for related
    questions, and embedding their passages is most of a local answer's time."""
    cache = _PASSAGE_VECTORS.setdefault(embedder.model, OrderedDict())
    missing = list(dict.fromkeys(text for text in texts if text not in cache))
    if missing:
        for text, vector in zip(missing, await embedder.embed_documents(missing), strict=True):
            cache[text] = vector
        while len(cache) > PASSAGE_CACHE_SIZE:
            cache.popitem(last=False)
    for text in texts:
        cache.move_to_end(text)
    return np.stack([cache[text] for text in texts])


async def best_passage_scores(
    embedder: EmbeddingClient, question: str, chunks: Sequence[SearchResult]
) -> dict[int, float]:
    """chunk id → the cosine of its passage most similar to the question, the passage read
    with its heading or alone: a heading can pull a short sentence away from the question
    (chosen on the tuning sets: README, "The refusal")."""
    candidates = _candidates(chunks)
    if not candidates:
        return {}
    # Both readings in one model call (a passage without a heading is the same text twice).
    headed = [c.passage.ranking_text for c in candidates]
    vectors = await _passage_vectors(embedder, headed + [c.passage.text for c in candidates])
    cosines = vectors @ await _question_vector(embedder, question, chunks)
    similarities = np.maximum(cosines[: len(headed)], cosines[len(headed) :])
    best: dict[int, float] = {}
    for candidate, similarity in zip(candidates, similarities, strict=True):
        chunk_id = chunks[candidate.number - 1].chunk_id
        best[chunk_id] = max(best.get(chunk_id, -1.0), float(similarity))
    return best


def _without_words(question: str, company_id: str | None) -> str:
    words = set(re.split(r"[-_]", company_id or "")) - {""}
    return " ".join(w for w in question.split() if re.sub(r"\W", "", w.lower()) not in words)


def _answer_bonus(question: str, passages: Sequence[str]) -> np.ndarray:
    """TYPE_WEIGHT for passages that hold what the question asks for (a date, a number…)."""
    kind = answer_type(question)
    if kind is None:
        return np.zeros(len(passages))
    return np.array([TYPE_WEIGHT * holds_type(kind, text, question) for text in passages])


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


def _local_outcome(
    answer: str, embedder: EmbeddingClient, *, reason: str | None = None
) -> StepOutcome[str]:
    outcome = StepOutcome(
        value=answer, provider=LOCAL_PROVIDER, model=f"{EXTRACTIVE_MODEL}+{embedder.model}"
    )
    if reason is not None:
        outcome.extra["refusal_reason"] = reason
    return outcome


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
