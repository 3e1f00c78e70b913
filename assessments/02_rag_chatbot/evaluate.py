"""Evaluate the chatbot's answers and refusals on several question sets, side by side.

Runs the product itself — the app's start-up (sample data ingested into a
temporary folder), the set's companies ingested the same way, then each
question through the same retrieval, answering and citation checks as
`POST /chat` — and prints one row per set and retrieval mode:

- answered: share of answerable questions answered (1 − false refusals);
- right source: answered, and the expected document among the *cited* sources;
- gold: the answer contains the gold fact(s) — every expected fact of the
  project's sets, or one of SQuAD's gold spans after SQuAD's normalisation;
- false refusals, and of them the share the 0.45 gate made (`gate`; the rest
  are the answerability model's); unanswerable refused (on-topic questions the
  documents do not answer); off-topic refused (questions about something else);
- ms per question (retrieval + answer, in process).

The sets (`--sets`, comma-separated):

- `shipped`: `data/evals/rag_eval.jsonl` on the sample companies (tuned on);
- `held-out`: `data/evals/rag_eval_heldout.jsonl`, written before the
  answerability check was first tuned, never tuned on;
- `companies`: `data/evals/rag_eval_companies.jsonl` on the companies of
  `data/evals/heldout_companies/`, written before the learned answerability
  check, never tuned on;
- `squad-tune`, `squad-report`: SQuAD 2.0 articles laid out as companies
  (`../shared/datasets/squad2`, or `--squad DIR`); the check is trained on
  `tune`, `report` is never tuned on.

`-v` lists the misses; `--details` also prints the shipped sets' retrieval and
citation figures (hit@4, MRR, refusal precision/recall, citation correctness).

    .venv/bin/python assessments/02_rag_chatbot/evaluate.py \\
        [--sets shipped,held-out,companies,squad-report] [--retrieval vector|hybrid|both] [-v]
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
import os
import re
import string
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlmodel import Session

from core.config import PROJECT_ROOT, Settings
from core.vector_store import SearchResult

from . import grounding, ingest, services
from .answering import CITATION
from .passages import is_verbatim
from .retrieval import RETRIEVAL_MODES, RetrievalMode
from .schemas import ChatRequest, ChatResponse

EVALS = PROJECT_ROOT / "data" / "evals"
EVAL_SET = EVALS / "rag_eval.jsonl"
HELD_OUT_SET = EVALS / "rag_eval_heldout.jsonl"
COMPANIES_SET = EVALS / "rag_eval_companies.jsonl"
COMPANIES_DIR = EVALS / "heldout_companies"
SQUAD_DIR = PROJECT_ROOT.parent / "shared" / "datasets" / "squad2"
TOP_K = 4
Kind = str  # "answerable" | "unanswerable" | "off_topic"


@dataclass(frozen=True)
class EvalItem:
    company_id: str
    question: str
    answerable: bool
    expected_source: str | None
    expected_facts: list[str] = field(default_factory=list)  # all must be in the answer
    kind: Kind | None = None  # None: "answerable" or "unanswerable" from `answerable`
    gold_spans: list[str] = field(default_factory=list)  # SQuAD: any one must be

    @property
    def category(self) -> Kind:
        return self.kind or ("answerable" if self.answerable else "unanswerable")


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


def load_items(path: Path = EVAL_SET) -> list[EvalItem]:
    with path.open(encoding="utf-8") as handle:
        return [EvalItem(**json.loads(line)) for line in handle if line.strip()]


def load_squad(split: str, squad_dir: Path = SQUAD_DIR) -> list[EvalItem]:
    """One split of the SQuAD 2.0 set (its README): each article is a company."""
    items = []
    with (squad_dir / "questions.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row["split"] != split:
                continue
            items.append(
                EvalItem(
                    company_id=row["company"],
                    question=row["q"],
                    answerable=row["answerable"],
                    expected_source=row["source"] if row["answerable"] else None,
                    gold_spans=row["answers"],
                )
            )
    return items


def squad_normalise(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


@dataclass(frozen=True)
class QuestionSet:
    label: str
    items: Callable[[], list[EvalItem]]
    companies: Path | None = None  # folders of companies to ingest first (None: sample data)


def question_sets(squad_dir: Path = SQUAD_DIR) -> dict[str, QuestionSet]:
    return {
        "shipped": QuestionSet("shipped", lambda: load_items(EVAL_SET)),
        "held-out": QuestionSet("held-out", lambda: load_items(HELD_OUT_SET)),
        "companies": QuestionSet("companies", lambda: load_items(COMPANIES_SET), COMPANIES_DIR),
        "squad-tune": QuestionSet(
            "squad-tune", lambda: load_squad("tune", squad_dir), squad_dir / "companies"
        ),
        "squad-report": QuestionSet(
            "squad-report", lambda: load_squad("report", squad_dir), squad_dir / "companies"
        ),
    }


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
            started = time.perf_counter()
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
            seconds = time.perf_counter() - started
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
                    seconds=seconds,
                    unsupported=bool(
                        not response.refused and grounding.unsupported(response.answer, texts)
                    ),
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
    modes: Sequence[RetrievalMode] = (),
    company_folders: Sequence[Path] = (),
) -> list[EvalReport]:
    """Start the app with `settings` once (its start-up loads the sample data), ingest each
    folder of `company_folders` (one subfolder per company), and evaluate each labelled
    question set in each mode."""
    from backend.main import create_app

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        state = app.state
        with Session(state.engine) as session:
            for root in company_folders:
                await ingest.load_sample_companies(
                    session=session,
                    settings=state.settings,
                    vector_store=state.vector_store,
                    root=root,
                )
        return [
            await evaluate(state, items, mode=each, label=label)
            for label, items in item_sets
            for each in (modes or [mode])
        ]


def offline_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings for a run of the product in `data_dir` with the sample data, on the local
    provider unless `overrides` say otherwise; no `.env` is read."""
    values: dict[str, object] = {
        "DATA_DIR": data_dir,
        "LLM_PROVIDER": "local",
        "EMBEDDING_PROVIDER": "local",
        "LOAD_SAMPLE_DATA": True,
        "LOG_LEVEL": "WARNING",
    }
    return Settings(_env_file=None, **{**values, **overrides})  # type: ignore[call-arg]


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
    parser.add_argument(
        "--retrieval",
        choices=(*RETRIEVAL_MODES, "both"),
        help="default: the product's; both: hybrid and vector",
    )
    parser.add_argument(
        "--provider",
        choices=("local", "auto"),
        default="local",
        help="answer with the local provider (default) or as configured (auto)",
    )
    parser.add_argument(
        "--sets",
        default="shipped,held-out",
        help="comma-separated: shipped, held-out, companies, squad-tune, squad-report, all",
    )
    parser.add_argument("--squad", type=Path, default=SQUAD_DIR, help="the SQuAD 2.0 set's folder")
    parser.add_argument("--limit", type=int, help="at most this many questions per set")
    parser.add_argument("--held-out", action="store_true", help="same as adding held-out")
    parser.add_argument("--details", action="store_true", help="the detailed table per set")
    parser.add_argument("-v", "--verbose", action="store_true", help="list the misses")
    args = parser.parse_args(argv)

    available = question_sets(args.squad)
    names = list(available) if args.sets == "all" else args.sets.split(",")
    if args.held_out and "held-out" not in names:
        names.append("held-out")
    unknown = [name for name in names if name not in available]
    if unknown:
        parser.error(f"unknown set(s): {', '.join(unknown)}")
    chosen = [available[name] for name in names]
    modes: list[RetrievalMode] = (
        list(RETRIEVAL_MODES)[::-1] if args.retrieval == "both" else [args.retrieval or "hybrid"]
    )
    with tempfile.TemporaryDirectory(prefix="rag-eval-") as data_dir:
        overrides: dict[str, object] = {"LLM_PROVIDER": args.provider}
        if args.provider == "auto":
            # The embeddings are left to the environment: a local chat server (llama.cpp,
            # Ollama) often serves none (EMBEDDING_PROVIDER=local).
            overrides["EMBEDDING_PROVIDER"] = os.environ.get("EMBEDDING_PROVIDER", "auto")
        settings = offline_settings(Path(data_dir), **overrides)
        sets = [(s.label, s.items()[: args.limit]) for s in chosen]
        folders = list(dict.fromkeys(s.companies for s in chosen if s.companies))
        reports = asyncio.run(run_sets(settings, sets, modes=modes, company_folders=folders))
    print(f"answers by {reports[0].provider}, {reports[0].store} store")
    print(HEADER)
    for report in reports:
        print(report.row())
    for report in reports:
        if args.details:
            print("\n" + report.table())
        if args.verbose:
            print(f"\nmisses ({report.label}, {report.mode}):\n" + report.failures())
    return 0


if __name__ == "__main__":
    sys.exit(main())
