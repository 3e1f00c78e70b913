"""Evaluate the chatbot on the shipped question set (`data/evals/rag_eval.jsonl`).

Runs the product itself — the app's start-up (sample data ingested into a
temporary folder), then each question through the same retrieval, answering
and citation checks as `POST /chat` — and prints:

- retrieval hit@4 and MRR@4: the expected source among the top 4 chunks
  (answerable questions, ranking before the threshold is applied);
- refusal precision and recall: "refused" as the positive class, unanswerable
  questions as the truth;
- answer fact recall: the share of expected facts found in the answers to
  answerable questions (a refusal finds none);
- citation correctness: every `[n]` in an answer points at a returned source
  whose chunk contains, verbatim, the sentence the marker ends;
- the best cosine similarity per question, answerable vs unanswerable, to see
  how well the 0.45 threshold separates them.

`--held-out` also runs `data/evals/rag_eval_heldout.jsonl` (18 answerable, 14
unanswerable questions written before the answerability check was tuned, and
never tuned on) and prints its table after the main one.

    .venv/bin/python assessments/02_rag_chatbot/evaluate.py \\
        [--retrieval vector|hybrid] [--held-out] [-v]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file path (a package named "02_…" cannot be `python -m`'d).
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    __package__ = "assessments.02_rag_chatbot"

import argparse
import asyncio
import json
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlmodel import Session

from core.config import PROJECT_ROOT, Settings
from core.vector_store import SearchResult

from . import services
from .answering import CITATION
from .passages import is_verbatim
from .retrieval import RETRIEVAL_MODES, RetrievalMode
from .schemas import ChatRequest, ChatResponse

EVAL_SET = PROJECT_ROOT / "data" / "evals" / "rag_eval.jsonl"
HELD_OUT_SET = PROJECT_ROOT / "data" / "evals" / "rag_eval_heldout.jsonl"
TOP_K = 4


@dataclass(frozen=True)
class EvalItem:
    company_id: str
    question: str
    answerable: bool
    expected_source: str | None
    expected_facts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ItemResult:
    item: EvalItem
    ranked_sources: list[str]
    best_score: float
    response: ChatResponse
    citations_correct: bool

    @property
    def rank(self) -> int | None:
        sources = self.ranked_sources[:TOP_K]
        source = self.item.expected_source
        return sources.index(source) + 1 if source in sources else None

    @property
    def facts_found(self) -> int:
        answer = self.response.answer.lower()
        return sum(1 for fact in self.item.expected_facts if fact.lower() in answer)


@dataclass
class EvalReport:
    results: list[ItemResult]
    mode: RetrievalMode
    provider: str
    label: str = ""  # which question set, in the table's title
    store: str = "faiss"  # VECTOR_STORE

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

    def table(self) -> str:
        rows = [
            ("retrieval hit@4", self.hit_rate, ">= 0.90"),
            ("retrieval MRR@4", self.mrr, ""),
            ("refusal precision", self.refusal_precision, ">= 0.85"),
            ("refusal recall", self.refusal_recall, ">= 0.85"),
            ("answer fact recall", self.fact_recall, ""),
            ("citation correctness", self.citation_correctness, "= 1.00"),
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
                problems.append("refused" if r.response.refused else "answered")
            if r.item.answerable and r.facts_found < len(r.item.expected_facts):
                problems.append(f"facts {r.facts_found}/{len(r.item.expected_facts)}")
            if not r.citations_correct:
                problems.append("citation not verbatim")
            if problems:
                lines.append(
                    f"- [{r.item.company_id}] {r.item.question} (best {r.best_score:.3f}): "
                    f"{'; '.join(problems)}\n    answer: {r.response.answer[:300]}"
                )
        return "\n".join(lines) or "(none)"


def load_items(path: Path = EVAL_SET) -> list[EvalItem]:
    with path.open(encoding="utf-8") as handle:
        return [EvalItem(**json.loads(line)) for line in handle if line.strip()]


def citations_correct(answer: str, chunk_texts: Sequence[str]) -> bool:
    """Every marker points at a returned chunk that contains the text the marker ends."""
    parts = re.split(r"((?:\s*\[\d{1,3}\])+)", answer)
    for text, markers in zip(parts[::2], parts[1::2], strict=False):
        for number in (int(n) for n in CITATION.findall(markers)):
            if not 1 <= number <= len(chunk_texts):
                return False
            if not is_verbatim(text, chunk_texts[number - 1]):
                return False
    return True


async def evaluate(
    state: object,
    items: Sequence[EvalItem],
    *,
    mode: RetrievalMode | None = None,
    label: str = "",
) -> EvalReport:
    """Ask every question through the product's chat pipeline; `state` is a started app's."""
    settings: Settings = state.settings  # type: ignore[attr-defined]
    mode = mode or settings.RETRIEVAL_MODE
    results = []
    provider = "local"
    with Session(state.engine) as session:  # type: ignore[attr-defined]
        for item in items:
            turn = await services.prepare_turn(
                session=session,
                settings=settings,
                llm=state.llm,  # type: ignore[attr-defined]
                vector_store=state.vector_store,  # type: ignore[attr-defined]
                chat_in=ChatRequest(query=item.question, company_id=item.company_id),
                mode=mode,
            )
            answer = await services.answer_turn(
                turn,
                llm=state.llm,  # type: ignore[attr-defined]
                vector_store=state.vector_store,  # type: ignore[attr-defined]
                rewrite=False,
            )
            response = services.record_turn(turn, answer)
            if not response.refused:
                provider = f"{response.provider} ({response.model})"
            texts = _chunk_texts(turn.retrieval.chunks, [s.chunk_id for s in response.sources])
            results.append(
                ItemResult(
                    item=item,
                    ranked_sources=[c.source or "" for c in turn.retrieval.ranked],
                    best_score=turn.retrieval.best_score,
                    response=response,
                    citations_correct=citations_correct(response.answer, texts),
                )
            )
    return EvalReport(
        results=results, mode=mode, provider=provider, label=label, store=settings.VECTOR_STORE
    )


async def run(
    settings: Settings, *, mode: RetrievalMode | None = None, items: Sequence[EvalItem] = ()
) -> EvalReport:
    """`run_sets` for one question set (default: the shipped one), without a label."""
    [report] = await run_sets(settings, [("", items or load_items())], mode=mode)
    return report


async def run_sets(
    settings: Settings,
    item_sets: Sequence[tuple[str, Sequence[EvalItem]]],
    *,
    mode: RetrievalMode | None = None,
) -> list[EvalReport]:
    """Start the app with `settings` once (its start-up loads the sample data) and
    evaluate each labelled question set."""
    from backend.main import create_app

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        return [
            await evaluate(app.state, items, mode=mode, label=label) for label, items in item_sets
        ]


def _chunk_texts(retrieved: Sequence[SearchResult], chunk_ids: list[int]) -> list[str]:
    """The text of each cited chunk, "" for one that was not retrieved (never correct)."""
    by_id = {chunk.chunk_id: chunk.text for chunk in retrieved}
    return [by_id.get(chunk_id, "") for chunk_id in chunk_ids]


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--retrieval", choices=RETRIEVAL_MODES, help="default: the product's")
    parser.add_argument(
        "--provider",
        choices=("local", "auto"),
        default="local",
        help="answer with the local provider (default) or as configured (auto)",
    )
    parser.add_argument("--eval-set", type=Path, default=EVAL_SET)
    parser.add_argument(
        "--held-out",
        action="store_true",
        help=f"also evaluate the held-out set ({HELD_OUT_SET.relative_to(PROJECT_ROOT)})",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="list the misses")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="rag-eval-") as data_dir:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            DATA_DIR=Path(data_dir),
            LLM_PROVIDER=args.provider,
            EMBEDDING_PROVIDER=args.provider,
            LOAD_SAMPLE_DATA=True,
            LOG_LEVEL="WARNING",
        )
        sets = [(args.eval_set.name, load_items(args.eval_set))]
        if args.held_out:
            sets.append(("held-out: " + HELD_OUT_SET.name, load_items(HELD_OUT_SET)))
        reports = asyncio.run(run_sets(settings, sets, mode=args.retrieval))
    for number, report in enumerate(reports):
        print(("\n" if number else "") + report.table())
        if args.verbose:
            print("\nmisses:\n" + report.failures())
    return 0


if __name__ == "__main__":
    sys.exit(main())
