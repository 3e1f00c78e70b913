"""The answerability decision's cost per question (features + logistic model), without the
passage embeddings it reads (those are the answerer's cost, cached by text).

    .venv/bin/python bench/bench_answerability.py [--questions 200]

Prints the first call on passages not read before (cold) and the mean over further
questions on the same passages (warm), on the sample company's documents; and, measured in
the same run as the floor under it, what the answerer pays anyway for those passages: their
embeddings with all-MiniLM-L6-v2 and the question's.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.config import PROJECT_ROOT  # noqa: E402
from core.embedding_client import LocalEmbeddingClient  # noqa: E402
from core.vector_chunks import SearchResult  # noqa: E402

answerability = importlib.import_module("assessments.02_rag_chatbot.answerability")
question_terms = importlib.import_module("assessments.02_rag_chatbot.question_terms")
passages = importlib.import_module("assessments.02_rag_chatbot.passages")

DOCUMENTS = ("about_company.txt", "policies.txt", "pricing.md", "team.md")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=200)
    args = parser.parse_args()
    folder = PROJECT_ROOT / "data" / "companies" / "acme-corp"
    texts = [(folder / name).read_text(encoding="utf-8")[:900] for name in DOCUMENTS]
    chunks = [
        SearchResult(
            chunk_id=i, score=0.6, text=t, document_id="d", source="s", chunk_index=i, metadata={}
        )
        for i, t in enumerate(texts)
    ]
    read = [p.ranking_text for text in texts for p in passages.passages(text)]
    similarities = np.random.default_rng(0).random(len(read))
    stats = question_terms.TermStats.of(texts)
    answerability.load_model()

    def assess(question: str) -> None:
        answerability.assess(
            question, read, similarities, chunks, stats=stats, embedding_model="all-MiniLM-L6-v2"
        )

    started = time.perf_counter()
    assess("Who is the CTO of Acme?")
    cold = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    for number in range(args.questions):
        assess(f"Who is the CTO of Acme, question {number}?")
    warm = (time.perf_counter() - started) * 1000 / args.questions
    embedder = LocalEmbeddingClient()
    asyncio.run(embedder.embed_query("warm-up"))
    started = time.perf_counter()
    asyncio.run(embedder.embed_documents(read))
    asyncio.run(embedder.embed_query("Who is the CTO of Acme?"))
    embedding = (time.perf_counter() - started) * 1000
    print(f"{len(read)} passages from {len(chunks)} chunks")
    print(f"answerability decision: cold {cold:.1f} ms, warm {warm:.2f} ms per question")
    print(f"floor, embedding those passages and the question: {embedding:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
