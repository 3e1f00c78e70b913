"""The evaluation's figures: one result per question, and a report per set and retrieval mode."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..retrieval import RetrievalMode
from ..schemas import ChatResponse
from .question_sets import EvalItem, Kind, squad_normalise

TOP_K = 4


@dataclass(frozen=True)
class ItemResult:
    item: EvalItem
    ranked_sources: list[str]
    best_score: float
    response: ChatResponse
    citations_correct: bool
    seconds: float = 0.0
    unsupported: bool = False  # an answer with a claim its cited chunks do not hold

    @property
    def rank(self) -> int | None:
        sources = self.ranked_sources[:TOP_K]
        source = self.item.expected_source
        return sources.index(source) + 1 if source in sources else None

    @property
    def facts_found(self) -> int:
        answer = self.response.answer.lower()
        return sum(1 for fact in self.item.expected_facts if fact.lower() in answer)

    @property
    def gold(self) -> bool:
        """The answer holds the gold: every expected fact, or one SQuAD span."""
        if self.response.refused:
            return False
        if self.item.gold_spans:
            answer = squad_normalise(self.response.answer)
            return any(squad_normalise(span) in answer for span in self.item.gold_spans)
        return self.facts_found == len(self.item.expected_facts)

    @property
    def right_source(self) -> bool:
        cited = {s.source for s in self.response.sources if s.cited}
        return not self.response.refused and self.item.expected_source in cited


@dataclass
class EvalReport:
    results: list[ItemResult]
    mode: RetrievalMode
    provider: str
    label: str = ""  # which question set, in the table's title
    store: str = "faiss"  # VECTOR_STORE

    def of(self, kind: Kind) -> list[ItemResult]:
        return [r for r in self.results if r.item.category == kind]

    @property
    def answerable(self) -> list[ItemResult]:
        return [r for r in self.results if r.item.answerable]

    @property
    def unanswerable(self) -> list[ItemResult]:
        return [r for r in self.results if not r.item.answerable]

    @property
    def hit_rate(self) -> float:
        return _mean([r.rank is not None for r in self.answerable])

    @property
    def mrr(self) -> float:
        return _mean([1 / r.rank if r.rank else 0.0 for r in self.answerable])

    @property
    def refusal_precision(self) -> float:
        refused = [r for r in self.results if r.response.refused]
        return _mean([not r.item.answerable for r in refused]) if refused else 1.0

    @property
    def refusal_recall(self) -> float:
        return _mean([r.response.refused for r in self.unanswerable])

    @property
    def fact_recall(self) -> float:
        facts = sum(len(r.item.expected_facts) for r in self.answerable)
        return sum(r.facts_found for r in self.answerable) / facts if facts else 0.0

    @property
    def citation_correctness(self) -> float:
        answered = [r for r in self.results if not r.response.refused]
        return _mean([r.citations_correct for r in answered]) if answered else 1.0

    @property
    def answered(self) -> float:
        return _mean([not r.response.refused for r in self.answerable])

    @property
    def false_refusals(self) -> float:
        return 1.0 - self.answered if self.answerable else 0.0

    @property
    def right_source(self) -> float:
        return _mean([r.right_source for r in self.answerable])

    @property
    def gold(self) -> float:
        return _mean([r.gold for r in self.answerable])

    @property
    def hallucination_rate(self) -> float:
        """Share of answers (not refusals) with a claim their cited chunks do not hold
        (`grounding.py`); the extractive answerer quotes, so it scores 0 by construction."""
        answered = [r for r in self.results if not r.response.refused]
        return _mean([r.unsupported for r in answered]) if answered else 0.0

    @property
    def gate_refusals(self) -> float:
        """Answerable questions refused by the 0.45 gate (the rest of the false refusals
        are the answerability model's)."""
        return _mean([r.response.refusal_reason == "below_threshold" for r in self.answerable])

    def refused(self, kind: Kind) -> float | None:
        results = self.of(kind)
        return _mean([r.response.refused for r in results]) if results else None

    @property
    def ms_per_question(self) -> float:
        return 1000 * _mean([r.seconds for r in self.results])

    def row(self) -> str:
        def share(value: float | None) -> str:
            return "    –" if value is None else f"{value:5.3f}"

        unanswerable, off_topic = len(self.of("unanswerable")), len(self.of("off_topic"))
        counts = f"{len(self.answerable)}/{unanswerable}/{off_topic}"
        return (
            f"{self.label:<14}{self.mode:<8}{counts:>12}  {share(self.answered)}  "
            f"{share(self.right_source)}  {share(self.gold)}  {share(self.false_refusals)}  "
            f"{share(self.gate_refusals)}  "
            f"{share(self.refused('unanswerable'))}  {share(self.refused('off_topic'))}  "
            f"{self.ms_per_question:6.1f}"
        )

    def table(self) -> str:
        """The shipped sets' detailed figures (retrieval, refusal, citations)."""
        rows = [
            ("retrieval hit@4", self.hit_rate, ">= 0.90"),
            ("retrieval MRR@4", self.mrr, ""),
            ("refusal precision", self.refusal_precision, ">= 0.85"),
            ("refusal recall", self.refusal_recall, ""),
            ("answer fact recall", self.fact_recall, ""),
            ("citation correctness", self.citation_correctness, "= 1.00"),
            ("unsupported claims", self.hallucination_rate, "<= 0.05"),
            ("unanswerable answered", 1.0 - self.refusal_recall, "<= 0.05"),
        ]
        title = f"RAG eval ({self.label})" if self.label else "RAG eval"
        lines = [
            f"{title}: {len(self.results)} questions ({len(self.answerable)} answerable, "
            f"{len(self.unanswerable)} unanswerable); answers by {self.provider}, "
            f"{self.mode} retrieval, {self.store} store",
            f"{'metric':<24}{'value':>7}  target",
            *(f"{name:<24}{value:>7.3f}  {target}" for name, value, target in rows),
            "best cosine similarity per question (threshold separates these):",
            f"  answerable    {_distribution([r.best_score for r in self.answerable])}",
            f"  unanswerable  {_distribution([r.best_score for r in self.unanswerable])}",
        ]
        return "\n".join(lines)

    def failures(self) -> str:
        lines = []
        for r in self.results:
            problems = []
            if r.item.answerable and r.rank is None:
                problems.append(f"expected {r.item.expected_source} not in {r.ranked_sources}")
            if r.response.refused == r.item.answerable:
                reason = r.response.refusal_reason or ""
                problems.append(f"refused ({reason})" if r.response.refused else "answered")
            if r.item.answerable and not r.response.refused and not r.gold:
                problems.append("gold not in answer")
            if not r.citations_correct:
                problems.append("citation not verbatim")
            if problems:
                lines.append(
                    f"- [{r.item.company_id}] {r.item.question} (best {r.best_score:.3f}): "
                    f"{'; '.join(problems)}\n    answer: {r.response.answer[:300]}"
                )
        return "\n".join(lines) or "(none)"


HEADER = (
    f"{'set':<14}{'mode':<8}{'ans/unans/off':>12}  answd  right  gold   f.ref  gate   "
    "unans  offtp  ms/q"
)


def _mean(values: Sequence[float | bool]) -> float:
    return float(np.mean(values)) if len(values) else 0.0


def _distribution(scores: Sequence[float]) -> str:
    if not scores:
        return "(none)"
    p10, median, p90 = np.percentile(scores, [10, 50, 90])
    return (
        f"min {min(scores):.3f}  p10 {p10:.3f}  median {median:.3f}  "
        f"p90 {p90:.3f}  max {max(scores):.3f}  (n={len(scores)})"
    )
