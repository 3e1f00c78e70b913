"""RAG chatbot on the local provider: ingestion throughput, chat latency, peak memory.

    .venv/bin/python bench/bench_rag.py [--chunks 10000] [--questions 50]

Builds one company with about `--chunks` chunks through the product's own path
(`ingest.prepare_upload` → `ingest_documents`: chunking, embedding, FAISS and
SQL writes), from synthetic documents made of the sample companies' sentences
with per-document names, then times chat turns (`chat.chat`, as
`POST /chat` runs them: retrieval, extractive answer, history write).
Search latency across many companies is measured by bench_vector_search.py.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_core import peak_memory_mb, percentile  # noqa: E402
from sqlmodel import Session  # noqa: E402

from backend.main import create_app  # noqa: E402
from core.config import PROJECT_ROOT, Settings  # noqa: E402

ingest = importlib.import_module("assessments.02_rag_chatbot.ingest")
chat = importlib.import_module("assessments.02_rag_chatbot.chat")
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
    target_chunks: int, chunks_per_document: int = 20
) -> list[tuple[str, bytes]]:
    sentences = []
    for path in sorted((PROJECT_ROOT / "data" / "companies").glob("*/*.[mt][dx]*")):
        text = path.read_text(encoding="utf-8")
        sentences += [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) > 5]
    rng = random.Random(7)
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


async def run(chunks: int, questions: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-rag-") as data_dir:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            DATA_DIR=Path(data_dir),
            LLM_PROVIDER="local",
            EMBEDDING_PROVIDER="local",
            LOAD_SAMPLE_DATA=False,
            LOG_LEVEL="WARNING",
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            state = app.state
            files = synthetic_documents(chunks)
            started = time.perf_counter()
            with Session(state.engine) as session:
                prepared = [
                    ingest.prepare_upload(name, data, settings=settings, embedder=state.embedder)
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
            total = state.vector_store.count(COMPANY)
            print(
                f"ingestion: {total} chunks in {len(files)} documents, {elapsed:.1f} s, "
                f"{total / elapsed:.1f} chunks/s"
            )

            latencies = []
            with Session(state.engine) as session:
                for i in range(questions):
                    chat_in = schemas.ChatRequest(
                        query=QUESTIONS[i % len(QUESTIONS)], company_id=COMPANY
                    )
                    started = time.perf_counter()
                    await chat.chat(
                        session=session,
                        settings=settings,
                        llm=None,
                        vector_store=state.vector_store,
                        chat_in=chat_in,
                    )
                    latencies.append((time.perf_counter() - started) * 1000)
            p99 = percentile(latencies, 99)
            p50 = statistics.median(latencies)
            print(f"chat ({questions} turns, {total} chunks): p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    print(f"peak memory (max RSS): {peak_memory_mb():.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--questions", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(run(args.chunks, args.questions))


if __name__ == "__main__":
    main()
