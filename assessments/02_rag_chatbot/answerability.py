"""Answerability: do the retrieved passages state the answer to the question?

The 0.45 similarity gate (`refusal.py`) tells whether the company's documents
are about the question's *topic*. An on-topic question about a fact no
document states ("Who is the CFO?" next to a table of the CEO and the CTO)
passes it, so the local answerer asks a second question: how likely is it
that one of the retrieved passages answers this? A logistic model answers it
from features of the question and the passages (a passage is a sentence, a
table row or a list with its intro; see `passages.py`):

- similarity: the best chunk's cosine (the gate's own score), the best
  passage's cosine, and its lead over the second best;
- support and coverage: the share of the question's terms, weighted by their
  idf over the company's chunks, found in one passage (the best one, and the
  one most similar to the question), and that share plus the cosine;
- what is missing: the idf-weighted share of the question's terms that no
  retrieved chunk contains, the rarest such term, names of the question
  (capitalised terms) that no chunk mentions, a number of the question that
  no chunk contains;
- answer type: whether the question asks for a date, an amount of money, a
  number, a person or a place, and whether the best passage holds one;
- a negation in the question that the best passage lacks ("never", "not").

How a question's terms are read and matched (stems, acronyms, names, answer types):
`question_terms.py`.

The model is trained by `evaluation/train_answerability.py` on the `tune` split of the
public SQuAD 2.0 set (adversarially written unanswerable questions) and the
shipped question set, and stored in `answerability_model.json` with its
feature scaling, weights and decision threshold. The threshold is chosen
for precision first: it is the probability under which at most a few percent
of the training set's answerable questions fall. Held-out figures: the README.

The model is measured with all-MiniLM-L6-v2's cosine scale; with another
embedding model (`text-embedding-3-small`) it does not apply and only the
similarity gate refuses (`assess` returns None).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from core.vector_chunks import SearchResult

from .question_terms import (
    CONDITIONAL,
    DIGITS,
    NEGATION,
    Question,
    TermStats,
    Text,
    answer_type,
    holds_type,
    key_terms,
    mentions,
)

MODEL_PATH = Path(__file__).parent / "answerability_model.json"
SUPPORT_COVERAGE_WEIGHT = 0.5

FEATURES = (
    "best_chunk_cosine",
    "best_passage_cosine",
    "cosine_lead",
    "best_support",
    "best_coverage",
    "coverage_of_most_similar",
    "missing_share",
    "rarest_missing",
    "names_missing",
    "typed_question",
    "type_in_best_passage",
    "negation_mismatch",
    "number_missing",
    "question_terms",
)

# ---------------------------------------------------------------- features and the model


def features(
    question: str,
    passages: Sequence[str],
    similarities: np.ndarray,
    chunks: Sequence[SearchResult],
    stats: TermStats,
) -> np.ndarray:
    """The model's inputs, in `FEATURES` order. `similarities[i]` is cosine(question,
    passages[i]); passages are read with their heading (`Passage.ranking_text`)."""
    asked = Question.of(question)
    weights = {term: stats.idf(term) for term in asked.terms}
    total = sum(weights.values()) or 1.0
    covered = coverages(question, passages, stats) if len(passages) else np.zeros(1)
    cosines = np.asarray(similarities, dtype=float) if len(passages) else np.zeros(1)
    support = cosines + SUPPORT_COVERAGE_WEIGHT * covered
    best, most_similar = int(np.argmax(support)), int(np.argmax(cosines))
    ranked = np.sort(cosines)[::-1]
    lead = float(ranked[0] - ranked[1]) if len(ranked) > 1 else 0.0

    joined = Text.of(" ".join(chunk.text for chunk in chunks))
    in_chunks = asked.found_in(joined)
    missing = [term for term in asked.terms if term not in in_chunks]
    names = [term for term in key_terms(question) if not mentions(term, joined)]
    numbers = [n.strip(".,") for n in DIGITS.findall(question)]
    best_passage = passages[best] if passages else ""
    kind = answer_type(question)
    # "If not, what is the cheapest option?" asks on; it negates nothing it asks about.
    negated = bool(NEGATION.search(CONDITIONAL.sub(" ", question.lower())))
    return np.array(
        [
            max((chunk.score for chunk in chunks), default=0.0),
            float(ranked[0]),
            lead,
            float(support[best]),
            float(covered.max()),
            float(covered[most_similar]),
            sum(weights[term] for term in missing) / total,
            max((weights[term] for term in missing), default=0.0) / stats.highest_idf,
            float(min(len(names), 2)),
            float(kind is not None),
            float(kind is not None and holds_type(kind, best_passage, question)),
            float(negated and not NEGATION.search(best_passage.lower())),
            float(any(number and number not in joined.lower for number in numbers)),
            math.log1p(len(asked.terms)),
        ]
    )


def coverages(question: str, passages: Sequence[str], stats: TermStats) -> np.ndarray:
    """Per passage: the idf-weighted share of the question's terms it states (an acronym
    and its spelled-out form count as the same term)."""
    asked = Question.of(question)
    weights = {term: stats.idf(term) for term in asked.terms}
    total = sum(weights.values())
    if not total:
        return np.ones(len(passages))
    shares = []
    for passage in passages:
        found = asked.found_in(Text.of(passage))
        shares.append(sum(weight for term, weight in weights.items() if term in found) / total)
    return np.array(shares)


@dataclass(frozen=True)
class AnswerabilityModel:
    """Standardised features → logistic regression → P(answerable); refuse under threshold."""

    embedding_model: str
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    intercept: float
    threshold: float

    def probability(self, x: np.ndarray) -> float:
        z = float(((x - self.mean) / self.scale) @ self.weights + self.intercept)
        return 1.0 / (1.0 + math.exp(-z))

    @classmethod
    def from_json(cls, data: Mapping) -> AnswerabilityModel:
        if tuple(data["features"]) != FEATURES:
            raise ValueError("the answerability model was trained on other features")
        return cls(
            embedding_model=data["embedding_model"],
            features=tuple(data["features"]),
            mean=np.array(data["mean"], dtype=float),
            scale=np.array(data["scale"], dtype=float),
            weights=np.array(data["weights"], dtype=float),
            intercept=float(data["intercept"]),
            threshold=float(data["threshold"]),
        )


@cache
def load_model(path: Path = MODEL_PATH) -> AnswerabilityModel:
    return AnswerabilityModel.from_json(json.loads(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class Assessment:
    probability: float
    threshold: float
    passage: int | None  # the best-supported passage

    @property
    def answerable(self) -> bool:
        return self.probability >= self.threshold


def assess(
    question: str,
    passages: Sequence[str],
    similarities: np.ndarray,
    chunks: Sequence[SearchResult],
    *,
    stats: TermStats | None,
    embedding_model: str,
    model: AnswerabilityModel | None = None,
) -> Assessment | None:
    """How likely the passages answer the question; None when no model fits the embedder."""
    model = model or load_model()
    if model.embedding_model != embedding_model:
        return None
    stats = stats or TermStats.of(chunk.text for chunk in chunks)
    x = features(question, passages, similarities, chunks, stats)
    support = np.asarray(similarities, dtype=float)
    return Assessment(
        probability=round(model.probability(x), 4),
        threshold=model.threshold,
        passage=int(np.argmax(support)) if len(passages) else None,
    )
