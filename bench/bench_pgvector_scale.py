"""The pgvector profile at scale: many companies and one big one in one table.

    python bench/bench_pgvector_scale.py --quick        # 40,000 chunks, a few minutes
    python bench/bench_pgvector_scale.py                # 1,000,000 chunks over 10,000 companies

Synthetic data, nothing embedded: 384-d unit vectors around cluster centres (as in
bench_vector_search.py) and chunk texts of 40 words drawn from a Zipf-distributed
vocabulary of made-up words, so that some terms are in most chunks and most are rare,
as in text. One company holds `--big` chunks, the rest share the remaining ones. Rows are
stamped with the local embedding model's name, so the API accepts questions about them.

Prints:
- load: COPY rate (PostgreSQL computing each row's tsvector) and the HNSW build time;
- search: `similarity_search(k=10)` p50/p99 and recall@10 against exact search (numpy),
  for the small companies (exact path) and the big one (HNSW path);
- hybrid: what `retrieval.retrieve` runs on this store (vector search for 20, then BM25
  and reciprocal-rank fusion in one SQL statement) p50/p99, small and big;
- ingest: chunks per second through `add_documents` (batches of 64, index in place);
- hybrid p50/p99 for the big company while another company uploads without pause;
- memory: RSS of an API process (uvicorn, VECTOR_STORE=pgvector) after it has ingested a
  document for the big company, and after it has answered questions for it; next to it,
  what the previous path held for the same company (every chunk's text read into the
  process, BM25 and term statistics built from it), measured as this process's RSS.

Needs PostgreSQL with pgvector on 127.0.0.1:5432 (scripts/ci_services.sh --install): works in
a throwaway database, dropped at the end; without them it prints why and stops.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from itertools import product
from pathlib import Path

import anyio
import httpx
import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_vector_search import (  # noqa: E402
    ADMIN_DSN,
    clustered_vectors,
    copy_chunks,
    throwaway_database,
)
from live_server import percentile, serve  # noqa: E402

from core.database import create_db_engine  # noqa: E402
from core.pgvector_schema import hnsw_index_ddl  # noqa: E402
from core.pgvector_store import PgVectorStore  # noqa: E402

DIMENSION = 384
K = 10
DEPTH = 20  # the vector and keyword depth of hybrid retrieval at k=4 (retrieval.MIN_CANDIDATES)
WORDS_PER_CHUNK = 40
VOCABULARY = 20_000
FUNCTION_WORDS = 100
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "companies" / "acme-corp" / "pricing.md"
BIG = "big-company"
QUESTIONS = ("How much does the Pro plan cost?", "Is there a free trial?", "kalo mira tesu")


class BenchEmbedder:
    """The local model's identity with made-up vectors: the store's write path runs for real."""

    provider = "local"
    model = "all-MiniLM-L6-v2"
    dimension = DIMENSION
    max_input_tokens = 256

    def __init__(self) -> None:
        self._rng = np.random.default_rng(7)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    async def embed_documents(self, texts: Sequence[str], *, on_progress=None) -> np.ndarray:
        vectors = clustered_vectors(len(texts), self._rng)
        if on_progress is not None:
            on_progress(len(texts))
        return vectors

    async def embed_query(self, text: str) -> np.ndarray:
        return clustered_vectors(1, self._rng)[0]


def pgvector_missing() -> str | None:
    try:
        with psycopg.connect(ADMIN_DSN, connect_timeout=2) as connection:
            found = connection.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
            ).fetchone()
    except psycopg.Error as exc:
        return f"PostgreSQL does not answer on 127.0.0.1:5432 ({str(exc).strip()})"
    if found is None:
        return "the pgvector extension is not installed (scripts/ci_services.sh --install)"
    return None


def vocabulary(rng: np.random.Generator) -> np.ndarray:
    """VOCABULARY made-up words of two to four syllables, in random order (rank = frequency)."""
    syllables = ["ka", "lo", "mi", "ra", "te", "su", "no", "vi", "pe", "do", "xa", "lu"]
    words = ["".join(parts) for size in (2, 3, 4) for parts in product(syllables, repeat=size)]
    return rng.permutation(np.array(words))[:VOCABULARY]


class Corpus:
    def __init__(self, chunks: int, companies: int, big: int, seed: int = 11) -> None:
        rng = np.random.default_rng(seed)
        self.words = vocabulary(rng)
        self.vectors = clustered_vectors(chunks, rng)
        # Row 0..big-1 belong to the big company; the rest are spread over the others.
        small = rng.integers(1, companies, size=chunks - big)
        self.company_numbers = np.concatenate([np.zeros(big, dtype=np.int64), small])
        # The most frequent ranks stand for function words, which to_tsvector('english') drops.
        zipf = rng.zipf(1.3, size=(chunks, WORDS_PER_CHUNK)) + FUNCTION_WORDS
        ranks = np.minimum(zipf, VOCABULARY) - 1
        self.word_ranks = ranks.astype(np.int32)
        self.companies = companies

    def company_id(self, number: int) -> str:
        return BIG if number == 0 else f"company-{number:05d}"

    def text(self, row: int) -> str:
        return " ".join(self.words[self.word_ranks[row]])

    def rows_of(self, number: int) -> np.ndarray:
        return np.flatnonzero(self.company_numbers == number)


def load(corpus: Corpus, engine: Engine) -> tuple[PgVectorStore, float, float]:
    """COPY every chunk, then build the HNSW index: (store, rows per second, build seconds)."""
    store = PgVectorStore(engine=engine, embedder=BenchEmbedder())
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        register_vector(driver)
        with driver.cursor() as cursor:
            cursor.execute(f"DROP INDEX IF EXISTS pgvector_chunk_hnsw_{DIMENSION}")
        driver.commit()
        started = time.perf_counter()
        copy_chunks(
            driver,
            corpus.vectors,
            corpus.company_numbers,
            company_id=corpus.company_id,
            text_of=corpus.text,
            model=BenchEmbedder.model,
            provider=BenchEmbedder.provider,
        )
        driver.commit()
        rate = len(corpus.vectors) / (time.perf_counter() - started)
        started = time.perf_counter()
        with driver.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '2GB'")
            cursor.execute(hnsw_index_ddl(DIMENSION))
        driver.commit()
        built = time.perf_counter() - started
        # As autovacuum leaves a table that has settled: statistics and the visibility map.
        driver.autocommit = True
        driver.execute("VACUUM (ANALYZE) pgvector_chunk")
        driver.autocommit = False
    finally:
        raw.close()
    return store, rate, built


class Questions:
    """Per company: query vectors near one of its chunks, the exact top 10, and a question
    made of a few of that chunk's words."""

    def __init__(self, corpus: Corpus, numbers: Sequence[int], rng: np.random.Generator) -> None:
        self.items: list[tuple[str, np.ndarray, set[int], str]] = []
        for number in numbers:
            rows = corpus.rows_of(number)
            row = int(rng.choice(rows))
            noise = rng.normal(0, 0.03, DIMENSION).astype(np.float32)
            vector = corpus.vectors[row] + noise
            vector = (vector / np.linalg.norm(vector)).astype(np.float32)
            truth = rows[np.argsort(-(corpus.vectors[rows] @ vector))[:K]]
            words = corpus.text(row).split()
            question = " ".join(rng.choice(words, size=5, replace=False))
            self.items.append(
                (corpus.company_id(number), vector, {int(r) + 1 for r in truth}, question)
            )


def timed(call: Callable[[tuple[str, np.ndarray, set[int], str]], object], questions: Questions):
    latencies, results = [], []
    for item in questions.items[:5]:
        call(item)  # warm connections and caches
    for item in questions.items:
        started = time.perf_counter()
        results.append(call(item))
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies, results


def spread(latencies: list[float]) -> str:
    return f"p50 {percentile(latencies, 50):6.1f} ms  p99 {percentile(latencies, 99):6.1f} ms"


def upload(store: PgVectorStore, company: str, texts: list[str], document_id: str) -> None:
    metadata = [{"document_id": document_id, "source": f"{document_id}.txt"}] * len(texts)

    async def write() -> None:
        await store.add_documents(documents=texts, company_id=company, metadata=metadata)

    anyio.run(write)


def search_figures(store: PgVectorStore, questions: Questions) -> str:
    def search(item):  # type: ignore[no-untyped-def]
        company, vector, _, _ = item
        hits = store.similarity_search(vector, company_id=company, k=K, threshold=-1.0)
        return {hit.chunk_id for hit in hits}

    latencies, found = timed(search, questions)
    recall = statistics.mean(
        len(truth & hits) / K for (_, _, truth, _), hits in zip(questions.items, found, strict=True)
    )
    return f"{spread(latencies)}  recall@10 {recall:.3f}"


def hybrid(store: PgVectorStore, item) -> list:  # type: ignore[no-untyped-def]
    company, vector, _, question = item
    by_vector = store.similarity_search(vector, company_id=company, k=DEPTH, threshold=-1.0)
    return store.keyword_search.fuse(
        question,
        vector,
        company_id=company,
        vector_ids=[hit.chunk_id for hit in by_vector],
        k=4,
        depth=DEPTH,
    )


def hybrid_figures(store: PgVectorStore, questions: Questions) -> str:
    latencies, _ = timed(lambda item: hybrid(store, item), questions)
    return spread(latencies)


def ingest_rate(store: PgVectorStore, corpus: Corpus, company: str, batches: int) -> float:
    texts = [corpus.text(row) for row in range(64)]
    started = time.perf_counter()
    for batch in range(batches):
        upload(store, company, texts, f"upload-{batch}")
    return batches * len(texts) / (time.perf_counter() - started)


def while_uploading(store: PgVectorStore, corpus: Corpus, questions: Questions) -> str:
    stop = threading.Event()
    uploaded = 0

    def keep_uploading() -> None:
        nonlocal uploaded
        texts = [corpus.text(row) for row in range(64)]
        while not stop.is_set():
            upload(store, "uploader", texts, f"busy-{uploaded}")
            uploaded += len(texts)

    uploader = threading.Thread(target=keep_uploading, daemon=True)
    uploader.start()
    try:
        figures = hybrid_figures(store, questions)
    finally:
        stop.set()
        uploader.join()
    return f"{figures}  ({uploaded} chunks uploaded meanwhile)"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def api_memory(url: str, data_dir: Path) -> str:
    """RSS of an API process before and after answering questions for the big company."""
    settings = {
        "VECTOR_STORE": "pgvector",
        "PGVECTOR_DATABASE_URL": url,
        "DATA_DIR": str(data_dir),
        "LOAD_SAMPLE_DATA": "false",
        "LLM_PROVIDER": "local",
        "EMBEDDING_PROVIDER": "local",
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "WARNING",
    }
    with serve(settings) as server:
        pid = server.pid  # one uvicorn process, no workers: the one answering
        with httpx.Client(base_url=server.url, timeout=300) as client:
            with SAMPLE.open("rb") as handle:
                uploaded = client.post(
                    "/api/02-rag/documents",
                    data={"company_id": BIG},
                    files=[("files", (SAMPLE.name, handle, "text/markdown"))],
                )
            uploaded.raise_for_status()
            before = rss_mb(pid)
            answers, refused = [], 0
            for question in QUESTIONS:
                started = time.perf_counter()
                reply = client.post("/api/02-rag/chat", json={"query": question, "company_id": BIG})
                reply.raise_for_status()
                answers.append((time.perf_counter() - started) * 1000)
                refused += bool(reply.json()["refused"])
            after = rss_mb(pid)
    return (
        f"RSS {before:.0f} MB before, {after:.0f} MB after {len(QUESTIONS)} questions "
        f"({refused} refused; {', '.join(f'{ms:.0f}' for ms in answers)} ms each)"
    )


def previous_path_memory(store: PgVectorStore) -> str:
    """What reading the big company's chunks and building BM25 + term statistics held:
    this process's RSS before and after, the objects kept alive as a process keeps them."""
    corpora = importlib.import_module("assessments.02_rag_chatbot.corpus")
    gc.collect()
    before = rss_mb(os.getpid())
    started = time.perf_counter()
    corpus = corpora.CompanyCorpus(store.chunk_texts(BIG))  # BM25 and term statistics
    elapsed = time.perf_counter() - started
    held = rss_mb(os.getpid()) - before
    del corpus
    return f"+{held:.0f} MB RSS, {elapsed:.1f} s to build (in each process)"


def sizes(engine: Engine) -> str:
    """On disk: the table (with its TOAST), the HNSW index, the keyword (GIN) index."""
    with engine.connect() as connection:
        table, hnsw, gin = connection.exec_driver_sql(
            "SELECT pg_size_pretty(pg_table_size('pgvector_chunk')),"
            f" pg_size_pretty(pg_relation_size('pgvector_chunk_hnsw_{DIMENSION}')),"
            " pg_size_pretty(pg_relation_size('pgvector_chunk_text_search'))"
        ).one()
    return f"table {table}, HNSW index {hnsw}, keyword (GIN) index {gin}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=1_000_000)
    parser.add_argument("--companies", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=200_000, help="chunks of the big company")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="40,000 chunks: a few minutes")
    args = parser.parse_args()
    if args.quick:
        args.chunks, args.companies, args.big, args.queries = 40_000, 300, 12_000, 100
    if reason := pgvector_missing():
        print(f"skipped: {reason}")
        return 0
    machine = f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPUs"
    print(
        f"{datetime.now(UTC):%Y-%m-%d} {machine}; {args.chunks:,} chunks, "
        f"{args.companies:,} companies, the big one {args.big:,}"
    )
    corpus = Corpus(args.chunks, args.companies, args.big)
    rng = np.random.default_rng(3)
    with throwaway_database() as url:
        engine = create_db_engine(url)
        try:
            store, rate, built = load(corpus, engine)
            print(f"load      COPY {rate:,.0f} chunks/s; HNSW index built in {built:.0f} s")
            print(f"size      {sizes(engine)}")
            small = Questions(corpus, rng.integers(1, args.companies, size=args.queries), rng)
            big = Questions(corpus, [0] * args.queries, rng)
            print(f"search    small companies  {search_figures(store, small)}")
            print(f"search    big company      {search_figures(store, big)}")
            print(f"hybrid    small companies  {hybrid_figures(store, small)}")
            print(f"hybrid    big company      {hybrid_figures(store, big)}")
            rate = ingest_rate(store, corpus, "newcomer", batches=10)
            print(f"ingest    {rate:,.0f} chunks/s (batches of 64, HNSW and GIN indexes in place)")
            print(
                f"busy      big company, another uploading  {while_uploading(store, corpus, big)}"
            )
            with tempfile.TemporaryDirectory(prefix="bench-scale-") as data_dir:
                print(f"memory    API process, big company: {api_memory(url, Path(data_dir))}")
            print(f"memory    previous path, big company: {previous_path_memory(store)}")
        finally:
            engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
