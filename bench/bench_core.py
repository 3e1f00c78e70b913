"""Embedding and vector-search figures for this machine.

    python bench/bench_core.py [--quick]

Prints local embedding throughput on ~200-token chunks, short-query embedding
latency, FAISS search latency for one company at 10k and 100k chunks (raw
index, and the whole `FaissVectorStore.similarity_search` with its SQLite lookup),
and the process's peak memory. The big indexes hold random unit vectors: search
cost depends on the count and dimension, not on the content.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import faiss
import numpy as np

from core.config import get_settings
from core.database import create_db_engine, init_db
from core.embedding_client import LocalEmbeddingClient
from core.faiss_store import FaissVectorStore

VOCABULARY = (
    "customer invoice refund policy shipping delivery account password support team "
    "subscription plan monthly annual discount warehouse order tracking number return "
    "product warranty repair replacement battery screen laptop phone tablet headphones "
    "office hours holiday weekend email phone chat response time escalation manager "
    "contract renewal cancellation notice period data privacy security compliance audit "
    "integration api webhook dashboard report export import user role permission admin"
)
WORDS = VOCABULARY.split()
DIMENSION = 384


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def timed(call: Callable[[], object], repeats: int) -> list[float]:
    """Milliseconds per call."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def make_chunk(rng: random.Random, embedder: LocalEmbeddingClient, tokens: int) -> str:
    words: list[str] = []
    while embedder.count_tokens(" ".join(words)) < tokens:
        sentence = rng.sample(WORDS, rng.randint(6, 14))
        words += [sentence[0].capitalize(), *sentence[1:-1], sentence[-1] + "."]
    return " ".join(words)


def random_unit_vectors(count: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, DIMENSION), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class RandomEmbedder:
    """Random unit vectors: fills a big index without running the model."""

    provider = "bench"
    model = "random"
    dimension = DIMENSION
    max_input_tokens = 256

    def __init__(self) -> None:
        self._seed = 0

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    async def embed_documents(self, texts: Sequence[str], *, on_progress=None) -> np.ndarray:
        self._seed += 1
        return random_unit_vectors(len(texts), self._seed)

    async def embed_query(self, text: str) -> np.ndarray:
        return (await self.embed_documents([text]))[0]


def bench_local_embeddings(quick: bool) -> None:
    settings = get_settings()
    embedder = LocalEmbeddingClient(
        threads=settings.LOCAL_EMBEDDING_THREADS, batch_size=settings.LOCAL_EMBEDDING_BATCH_SIZE
    )
    started = time.perf_counter()
    embedder.load()
    print(f"local model load: {time.perf_counter() - started:.2f} s")

    rng = random.Random(7)
    chunks = [make_chunk(rng, embedder, 200) for _ in range(64 if quick else 256)]
    mean_tokens = statistics.mean(embedder.count_tokens(chunk) for chunk in chunks)
    asyncio.run(embedder.embed_documents(chunks[: embedder.batch_size]))  # warm-up
    started = time.perf_counter()
    asyncio.run(embedder.embed_documents(chunks))
    elapsed = time.perf_counter() - started
    print(
        f"local embedding: {len(chunks)} chunks of ~{mean_tokens:.0f} tokens in {elapsed:.2f} s "
        f"= {len(chunks) / elapsed:.1f} chunks/s "
        f"(threads={embedder.threads}, batch={embedder.batch_size}, cores={os.cpu_count()})"
    )

    queries = [" ".join(rng.sample(WORDS, rng.randint(5, 10))) + "?" for _ in range(100)]
    queries = queries[: 30 if quick else 100]
    samples = [
        ms
        for query in queries
        for ms in timed(lambda q=query: asyncio.run(embedder.embed_query(q)), 1)
    ]
    print(
        f"query embedding ({len(samples)} queries of 5-10 words): "
        f"p50 {percentile(samples, 50):.1f} ms, p99 {percentile(samples, 99):.1f} ms"
    )


def bench_raw_faiss(count: int, repeats: int) -> None:
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(DIMENSION))
    index.add_with_ids(random_unit_vectors(count, seed=1), np.arange(count, dtype=np.int64))
    queries = random_unit_vectors(repeats, seed=2)
    default_threads = faiss.omp_get_max_threads()
    for threads in sorted({1, default_threads}):
        faiss.omp_set_num_threads(threads)
        samples = [
            ms for query in queries for ms in timed(lambda q=query: index.search(q[None], 4), 1)
        ]
        print(
            f"faiss search, {count:>7,} chunks (k=4, raw index, {threads} OpenMP thread(s)): "
            f"p50 {percentile(samples, 50):.2f} ms, p99 {percentile(samples, 99):.2f} ms"
        )
    faiss.omp_set_num_threads(default_threads)


def bench_store_search(count: int, repeats: int, folder: Path) -> None:
    engine = create_db_engine(f"sqlite:///{folder / f'bench-{count}.db'}")
    init_db(engine)
    store = FaissVectorStore(engine=engine, embedder=RandomEmbedder(), index_dir=folder / "faiss")
    company = f"bench-{count}"
    started = time.perf_counter()
    step = 20_000
    for start in range(0, count, step):
        texts = [f"chunk {i}" for i in range(start, min(count, start + step))]
        asyncio.run(store.add_documents(documents=texts, company_id=company))
    load_seconds = time.perf_counter() - started
    del store

    reopened = FaissVectorStore(
        engine=engine, embedder=RandomEmbedder(), index_dir=folder / "faiss"
    )
    queries = random_unit_vectors(repeats, seed=3)
    started = time.perf_counter()
    reopened.similarity_search(queries[0], company_id=company, k=4, threshold=-1.0)
    first_ms = (time.perf_counter() - started) * 1000
    samples = [
        ms
        for query in queries
        for ms in timed(
            lambda q=query: reopened.similarity_search(q, company_id=company, k=4, threshold=-1.0),
            1,
        )
    ]
    size_mb = (folder / "faiss" / f"{company}.faiss").stat().st_size / 1e6
    print(
        f"store search,  {count:>7,} chunks (k=4, + SQLite rows): "
        f"p50 {percentile(samples, 50):.2f} ms, p99 {percentile(samples, 99):.2f} ms "
        f"(ingest {load_seconds:.1f} s, index file {size_mb:.0f} MB, "
        f"first search with load from disk {first_ms:.0f} ms)"
    )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer chunks and queries")
    args = parser.parse_args()

    bench_local_embeddings(args.quick)
    print(f"peak memory after the embedding runs: {peak_memory_mb():.0f} MB")
    repeats = 100 if args.quick else 1000
    for count in (10_000, 100_000):
        bench_raw_faiss(count, repeats)
    with tempfile.TemporaryDirectory() as folder:
        for count in (10_000, 100_000):
            bench_store_search(count, repeats // 2, Path(folder))
    print(f"peak memory of the whole run (ru_maxrss): {peak_memory_mb():.0f} MB")


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


if __name__ == "__main__":
    main()
