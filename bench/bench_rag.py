"""RAG chatbot on the local provider: ingestion throughput, chat latency, peak memory.

    .venv/bin/python bench/bench_rag.py [--chunks 10000] [--questions 50]

Builds one company with about `--chunks` chunks through the product's own path
(`ingest.prepare_upload` → `ingest_documents`: chunking, embedding, FAISS and
SQL writes), from synthetic documents made of the sample companies' sentences
with per-document names, then times chat turns (`chat.chat`, as
`POST /chat` runs them: retrieval, extractive answer, history write): the company's
first question ever, the first one after a second, smaller upload (its chunks join the
keyword index at ingest), the warm ones (seven questions asked again and again), a warm turn
stage by stage, and the shipped evaluation set's questions asked once each (a question never
asked embeds its chunks' passages, which the warm ones find cached). The floor, in the
same run: the embedding model alone on the same chunk texts, half in one call just before
the ingest and half just after (this machine's speed drifts within minutes).
Search latency across many companies is measured by bench_vector_search.py.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_core import peak_memory_mb  # noqa: E402
from live_server import load_average, percentile  # noqa: E402
from sqlmodel import Session  # noqa: E402
from table import Row, print_table  # noqa: E402

from backend.main import create_app  # noqa: E402
from core.config import PROJECT_ROOT, Settings  # noqa: E402

ingest = importlib.import_module("assessments.02_rag_chatbot.ingest")
chat = importlib.import_module("assessments.02_rag_chatbot.chat")
corpora = importlib.import_module("assessments.02_rag_chatbot.corpus")
config = importlib.import_module("assessments.02_rag_chatbot.config")
schemas = importlib.import_module("assessments.02_rag_chatbot.schemas")

COMPANY = "bench-co"
QUESTIONS = [
    "What does the Starter plan cost per month?",
    "Who is the chief executive officer?",
    "How long is the free trial?",
    "Which security certifications does the company hold?",
    "What is the refund window?",
    "How many stops can a vehicle handle per day?",
    "What is the capital of France?",
]


def synthetic_documents(
    target_chunks: int, chunks_per_document: int = 20, *, seed: int = 7
) -> list[tuple[str, bytes]]:
    sentences = []
    for path in sorted((PROJECT_ROOT / "data" / "companies").glob("*/*.[mt][dx]*")):
        text = path.read_text(encoding="utf-8")
        sentences += [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) > 5]
    rng = random.Random(seed)
    documents = []
    for number in range(max(1, target_chunks // chunks_per_document)):
        # About 75 new words per 128-token chunk with its 24-token overlap.
        words = chunks_per_document * 75
        body, count = [], 0
        while count < words:
            sentence = rng.choice(sentences).replace("Acme", f"Unit{number}")
            body.append(sentence)
            count += len(sentence.split())
        documents.append((f"doc_{number:05d}.txt", " ".join(body).encode()))
    return documents


async def measure_all(chunks: int, questions: int) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-rag-") as data_dir:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            DATA_DIR=Path(data_dir),
            LLM_PROVIDER="local",
            EMBEDDING_PROVIDER="local",
            LOAD_SAMPLE_DATA=False,
            LOG_LEVEL="WARNING",
            REDIS_URL=None,  # no embedding cache: the floor below must not warm the ingest's
        )
        rag = config.RagSettings(_env_file=None)  # type: ignore[call-arg]
        app = create_app(settings)
        app.state.rag_settings = rag
        async with app.router.lifespan_context(app):
            state = app.state
            files = synthetic_documents(chunks)
            # The floor embeds the same chunk texts, half just before the ingest and half
            # just after, so that a drift in this machine's speed weighs on both sides.
            texts = [
                text
                for name, data in files
                for text in ingest.prepare_upload(
                    name, data, settings=settings, rag=rag, embedder=state.embedder
                ).chunks
            ]
            raw_before = await raw_model_seconds(state, texts[: len(texts) // 2])
            started = time.perf_counter()
            with Session(state.engine) as session:
                prepared = [
                    ingest.prepare_upload(
                        name, data, settings=settings, rag=rag, embedder=state.embedder
                    )
                    for name, data in files
                ]
                ingest.ensure_company(session, COMPANY)
                await ingest.ingest_documents(
                    prepared,
                    company_id=COMPANY,
                    session=session,
                    vector_store=state.vector_store,
                    upload_dir=settings.upload_dir,
                )
            elapsed = time.perf_counter() - started
            ingest_load = load_average()
            total = state.vector_store.count(COMPANY)
            print(
                f"ingestion: {total} chunks in {len(files)} documents, {elapsed:.1f} s, "
                f"{total / elapsed:.1f} chunks/s"
            )
            if total != len(texts):
                raise RuntimeError(f"the ingest stored {total} chunks of {len(texts)}")
            raw_after = await raw_model_seconds(state, texts[len(texts) // 2 :])
            raw = raw_before + raw_after
            print(
                f"floor: the raw model on the same {total} chunk texts, half before the ingest "
                f"and half after: {raw:.1f} s ({raw_before:.1f} + {raw_after:.1f})"
            )

            with Session(state.engine) as session:
                cold = await turn_ms(session, rag, state, QUESTIONS[0])
                print(f"chat: the company's first question ever {cold:.0f} ms (corpus built)")
                for question in QUESTIONS * 2:  # each asked before: the turn below is warm
                    await turn_ms(session, rag, state, question)
                before = await turn_ms(session, rag, state, QUESTIONS[1])
                # A later upload: its chunks join the keyword index at ingest, not at the
                # next question.
                extra = synthetic_documents(max(20, total // 20), seed=11)
                started = time.perf_counter()
                await ingest.ingest_documents(
                    [
                        ingest.prepare_upload(
                            f"more_{name}",
                            data,
                            settings=settings,
                            rag=rag,
                            embedder=state.embedder,
                        )
                        for name, data in extra
                    ],
                    company_id=COMPANY,
                    session=session,
                    vector_store=state.vector_store,
                    upload_dir=settings.upload_dir,
                )
                second_upload = time.perf_counter() - started
                after_total = state.vector_store.count(COMPANY)
                first = await turn_ms(session, rag, state, QUESTIONS[1])
                warm = [
                    await turn_ms(session, rag, state, QUESTIONS[i % len(QUESTIONS)])
                    for i in range(questions)
                ]
                stages = await stage_breakdown(session, rag, state, questions)
                # Questions asked once each: the warm turns repeat seven, whose chunks'
                # passages the answerer has embedded and cached by then.
                fresh = [await turn_ms(session, rag, state, q) for q in new_questions()]
            p50, p99 = statistics.median(warm), percentile(warm, 99)
            fresh_p50, fresh_p99 = statistics.median(fresh), percentile(fresh, 99)
            print(f"second upload: {len(extra)} documents in {second_upload:.1f} s")
            print(
                f"chat: the same question before the second upload {before:.0f} ms, the first "
                f"turn after it {first:.0f} ms ({after_total} chunks)"
            )
            print(f"chat, {questions} warm turns: p50 {p50:.0f} ms, p99 {p99:.0f} ms")
            print(
                f"chat, {len(fresh)} questions never asked before: p50 {fresh_p50:.0f} ms, "
                f"p99 {fresh_p99:.0f} ms"
            )
            print("warm turn by stage (p50 / p99 ms):")
            for stage, times in stages.items():
                p50_ms, p99_ms = statistics.median(times), percentile(times, 99)
                print(f"  {stage:<22} {p50_ms:7.2f} / {p99_ms:7.2f}")
    print(f"peak memory (max RSS): {peak_memory_mb():.0f} MB")
    return [
        Row(
            f"A2 ingest, {total:,} chunks in {len(files)} documents",
            f"{elapsed:.1f} s, {total / elapsed:.0f} chunks/s",
            f"raw model, same chunk texts, half before and half after: {raw:.1f} s, "
            f"{total / raw:.0f} chunks/s",
            elapsed / raw,
            ingest_load,
        ),
        Row(
            f"A2 first chat turn after a second upload, {after_total:,} chunks",
            f"{first:.0f} ms (the same question before it: {before:.0f} ms)",
            f"warm turns after it: p50 {p50:.0f} ms, p99 {p99:.0f} ms",
            first / p50,
            load_average(),
        ),
        Row(
            f"A2 chat turn, a question never asked, {after_total:,} chunks",
            f"p50 {fresh_p50:.0f} ms, p99 {fresh_p99:.0f} ms ({len(fresh)} questions, once each)",
            f"warm turns ({len(QUESTIONS)} questions asked again): p50 {p50:.0f} ms, "
            f"p99 {p99:.0f} ms",
            fresh_p99 / p99,
            load_average(),
        ),
    ]


def new_questions() -> list[str]:
    """The shipped evaluation set's questions (about the sample companies, whose sentences
    the synthetic documents are made of), less those the warm turns ask."""
    lines = (PROJECT_ROOT / "data" / "evals" / "rag_eval.jsonl").read_text().splitlines()
    asked = set(QUESTIONS)
    return [q for q in (json.loads(line)["question"] for line in lines if line) if q not in asked]


async def turn_ms(session: Session, rag: Any, state: Any, question: str) -> float:
    """One chat turn as `POST /chat` runs it (local provider), in ms."""
    started = time.perf_counter()
    await chat.chat(
        session=session,
        rag=rag,
        llm=None,
        vector_store=state.vector_store,
        chat_in=schemas.ChatRequest(query=question, company_id=COMPANY),
    )
    return (time.perf_counter() - started) * 1000


async def stage_breakdown(
    session: Session, rag: Any, state: Any, questions: int
) -> dict[str, list[float]]:
    """Each stage of a warm turn timed on its own: the query's embedding, the vector search,
    BM25 scoring, the whole preparation (those + company and history reads), the answer,
    and the history write."""
    store = state.vector_store
    stages: dict[str, list[float]] = {
        name: []
        for name in ("embed query", "vector search", "keyword scoring", "prepare (all)", "answer")
    }
    stages["history write"] = []

    def timed(name: str, started: float) -> None:
        stages[name].append((time.perf_counter() - started) * 1000)

    for i in range(questions):
        question = QUESTIONS[i % len(QUESTIONS)]
        started = time.perf_counter()
        embedding = await store.embedder.embed_query(question)
        timed("embed query", started)
        started = time.perf_counter()
        store.similarity_search(embedding, company_id=COMPANY, k=20, threshold=-1.0)
        timed("vector search", started)
        started = time.perf_counter()
        corpora.company_corpus(store, COMPANY).search(question, k=20)
        timed("keyword scoring", started)
        started = time.perf_counter()
        turn = await chat.prepare_turn(
            session=session,
            rag=rag,
            llm=None,
            vector_store=store,
            chat_in=schemas.ChatRequest(query=question, company_id=COMPANY),
        )
        timed("prepare (all)", started)
        started = time.perf_counter()
        answer = await chat.answer_turn(turn, llm=None, vector_store=store, rewrite=False)
        timed("answer", started)
        started = time.perf_counter()
        chat.record_turn(turn, answer)
        timed("history write", started)
    return stages


async def raw_model_seconds(state: Any, texts: list[str]) -> float:
    """The embedding model alone on `texts`, in one call."""
    started = time.perf_counter()
    await state.embedder.embed_documents(texts)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--questions", type=int, default=50)
    args = parser.parse_args()
    print_table(asyncio.run(measure_all(args.chunks, args.questions)))


if __name__ == "__main__":
    main()
