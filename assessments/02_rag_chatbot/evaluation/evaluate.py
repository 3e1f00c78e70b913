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
  check and held out for it; the gate change of 2026-12-06 was chosen on it,
  so for that change it is a tuning set;
- `companies-2`: `data/evals/rag_eval_companies_2.jsonl` on the companies of
  `data/evals/heldout_companies_2/`, written before the gate's tuning of 2026-12-06
  (the first set had been read to find its failures), never tuned on;
- `squad-tune`, `squad-report`: SQuAD 2.0 articles laid out as companies
  (`../shared/datasets/squad2`, or `--squad DIR`); the check is trained on
  `tune`, `report` is never tuned on.

`-v` lists the misses; `--details` also prints the shipped sets' retrieval and
citation figures (hit@4, MRR, refusal precision/recall, citation correctness).

    .venv/bin/python assessments/02_rag_chatbot/evaluation/evaluate.py \\
        [--sets shipped,held-out,companies,squad-report] [--retrieval vector|hybrid|both] [-v]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file path (a package named "02_…" cannot be `python -m`'d).
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    __package__ = "assessments.02_rag_chatbot.evaluation"

import argparse
import asyncio
import os
import re
import tempfile
import time
from collections.abc import Sequence

from fastapi import FastAPI
from sqlmodel import Session

from core.config import Settings
from core.vector_chunks import SearchResult

from .. import chat, grounding, samples
from ..answering import CITATION
from ..config import RagSettings, rag_settings
from ..passages import is_verbatim
from ..retrieval import RETRIEVAL_MODES, RetrievalMode
from ..schemas import ChatRequest
from .question_sets import SQUAD_DIR, EvalItem, load_items, question_sets
from .report import HEADER, EvalReport, ItemResult


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
    check_grounding: bool = True,
) -> EvalReport:
    """Ask every question through the product's chat pipeline; `state` is a started app's.
    `check_grounding=False` takes LLM answers unchecked (the "before" of the grounding check)."""
    settings: Settings = state.settings  # type: ignore[attr-defined]
    rag = rag_settings(state)
    mode = mode or rag.RETRIEVAL_MODE
    results = []
    provider = "local"
    with Session(state.engine) as session:  # type: ignore[attr-defined]
        for item in items:
            started = time.perf_counter()
            turn = await chat.prepare_turn(
                session=session,
                rag=rag,
                llm=state.llm,  # type: ignore[attr-defined]
                vector_store=state.vector_store,  # type: ignore[attr-defined]
                chat_in=ChatRequest(query=item.question, company_id=item.company_id),
                mode=mode,
            )
            answer = await chat.answer_turn(
                turn,
                llm=state.llm,  # type: ignore[attr-defined]
                vector_store=state.vector_store,  # type: ignore[attr-defined]
                rewrite=False,
                check_grounding=check_grounding,
            )
            seconds = time.perf_counter() - started
            response = chat.record_turn(turn, answer)
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
    settings: Settings,
    *,
    mode: RetrievalMode | None = None,
    items: Sequence[EvalItem] = (),
    rag: RagSettings | None = None,
) -> EvalReport:
    """`run_sets` for one question set (default: the shipped one), without a label."""
    [report] = await run_sets(settings, [("", items or load_items())], mode=mode, rag=rag)
    return report


async def run_sets(
    settings: Settings,
    item_sets: Sequence[tuple[str, Sequence[EvalItem]]],
    *,
    mode: RetrievalMode | None = None,
    modes: Sequence[RetrievalMode] = (),
    company_folders: Sequence[Path] = (),
    check_grounding: bool = True,
    rag: RagSettings | None = None,
) -> list[EvalReport]:
    """Start the app with `settings` once (its start-up loads the sample data), ingest each
    folder of `company_folders` (one subfolder per company), and evaluate each labelled
    question set in each mode (Assessment 2's settings: `rag`, else `offline_app`'s)."""
    app = offline_app(settings, rag)
    async with app.router.lifespan_context(app):
        state = app.state
        with Session(state.engine) as session:
            for root in company_folders:
                await samples.load_sample_companies(
                    session=session,
                    settings=state.settings,
                    rag=state.rag_settings,
                    vector_store=state.vector_store,
                    root=root,
                )
        return [
            await evaluate(state, items, mode=each, label=label, check_grounding=check_grounding)
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


def offline_app(settings: Settings, rag: RagSettings | None = None) -> FastAPI:
    """The product's app over `settings`; Assessment 2's settings are `rag`, else the
    environment's without `.env`, like `offline_settings`."""
    from backend.main import create_app

    app = create_app(settings)
    app.state.rag_settings = rag or RagSettings(_env_file=None)  # type: ignore[call-arg]
    return app


def _chunk_texts(retrieved: Sequence[SearchResult], chunk_ids: list[int]) -> list[str]:
    """The text of each cited chunk, "" for one that was not retrieved (never correct)."""
    by_id = {chunk.chunk_id: chunk.text for chunk in retrieved}
    return [by_id.get(chunk_id, "") for chunk_id in chunk_ids]


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
        help="comma-separated: shipped, held-out, companies, companies-2, squad-tune, "
        "squad-report, all",
    )
    parser.add_argument("--squad", type=Path, default=SQUAD_DIR, help="the SQuAD 2.0 set's folder")
    parser.add_argument("--limit", type=int, help="at most this many questions per set")
    parser.add_argument("--held-out", action="store_true", help="same as adding held-out")
    parser.add_argument("--details", action="store_true", help="the detailed table per set")
    parser.add_argument("-v", "--verbose", action="store_true", help="list the misses")
    parser.add_argument(
        "--without-grounding",
        action="store_true",
        help="take the LLM's answers unchecked (no claim check, no re-ask): the 'before' figure",
    )
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
        reports = asyncio.run(
            run_sets(
                settings,
                sets,
                modes=modes,
                company_folders=folders,
                check_grounding=not args.without_grounding,
            )
        )
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
