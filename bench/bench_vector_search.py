"""Tenant-filtered vector search: FAISS (one index per company) against pgvector (one table).

    python bench/bench_vector_search.py [--chunks 100000] [--quick] [--queries 400]

For 100k chunks spread over 1, 100 and 1,000 companies, prints the latency
(p50/p99, ms) of `similarity_search(k=10)` through each store, and recall@10
against exact search (numpy brute force over the querying company's vectors).

Rows:
- raw IndexFlatIP (floor): the company's own exact index, no store around it.
- faiss: `FaissVectorStore`, one exact `IndexFlatIP` per company, chunk rows in SQLite.
- pgvector: `PgVectorStore` as shipped: exact search for companies up to
  EXACT_SEARCH_MAX_CHUNKS chunks or under HNSW_MIN_SHARE of the table, the
  HNSW index (iterative scan) otherwise.
- pgvector hnsw ef=N: the HNSW path forced for every company, with
  hnsw.ef_search = N; "fallback" counts queries the scan left short, answered
  by exact search instead.
- pgvector exact: the exact path forced for every company.

Data: random 384-d unit vectors around 256 cluster centres (so nearest
neighbours are meaningful), assigned to companies at random, the hardest case
for a filtered graph search: a company's chunks are scattered over the whole
graph. Queries are perturbed copies of one of the company's own chunks. Every
chunk carries ~200 characters of text, as a real chunk row would. pgvector is
bulk-loaded with binary COPY and its HNSW index built after the load. Needs
PostgreSQL with pgvector on 127.0.0.1:5432 (scripts/ci_services.sh --install),
in a throwaway database dropped at the end; without them the pgvector rows are
skipped with the reason. The floor, in the same run: each company's own raw
`IndexFlatIP`, searched directly.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg.types.json import Jsonb
from sqlalchemy import insert, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

import core.pgvector_search_plan as search_plan
from core.database import create_db_engine, init_db
from core.faiss_store import FaissVectorStore
from core.pg_keyword_search import RECOUNT_TERMS
from core.pgvector_schema import hnsw_index_ddl
from core.pgvector_store import PgVectorStore
from core.vector_chunks import VectorChunk

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_server import load_average  # noqa: E402
from table import Row, print_table  # noqa: E402

DIMENSION = 384
CLUSTERS = 256
K = 10
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
FILLER = (
    "Customers on the annual plan can change their billing contact, download invoices and "
    "update the company address from the account page; changes apply to the next invoice. "
)


class BenchEmbedder:
    """Only the model's identity: the bench hands the stores ready-made vectors."""

    provider = "bench"
    model = "bench-random-384"
    dimension = DIMENSION
    max_input_tokens = 256

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    async def embed_documents(self, texts: Sequence[str], *, on_progress=None) -> np.ndarray:
        raise NotImplementedError

    async def embed_query(self, text: str) -> np.ndarray:
        raise NotImplementedError


@dataclass
class Dataset:
    vectors: np.ndarray  # (n, d) float32 unit rows; chunk id = row + 1
    companies: np.ndarray  # (n,) company number of each row
    count: int  # companies

    def company_id(self, number: int) -> str:
        return f"company-{number:04d}"

    def rows_of(self, number: int) -> np.ndarray:
        return np.flatnonzero(self.companies == number)


@dataclass
class Query:
    company: int
    vector: np.ndarray
    truth: set[int]  # chunk ids of the exact top K


def clustered_vectors(n: int, rng: np.random.Generator) -> np.ndarray:
    centres = rng.normal(size=(CLUSTERS, DIMENSION)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = np.empty((n, DIMENSION), dtype=np.float32)
    for start in range(0, n, 20_000):
        stop = min(n, start + 20_000)
        noise = rng.normal(0, 0.06, size=(stop - start, DIMENSION)).astype(np.float32)
        vectors[start:stop] = centres[rng.integers(CLUSTERS, size=stop - start)] + noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def make_queries(data: Dataset, count: int, rng: np.random.Generator) -> list[Query]:
    queries = []
    for _ in range(count):
        company = int(rng.integers(data.count))
        rows = data.rows_of(company)
        base = data.vectors[rng.choice(rows)]
        vector = base + rng.normal(0, 0.03, DIMENSION).astype(np.float32)
        vector = (vector / np.linalg.norm(vector)).astype(np.float32)
        scores = data.vectors[rows] @ vector
        top = rows[np.argsort(-scores)[:K]]
        queries.append(Query(company, vector, {int(row) + 1 for row in top}))
    return queries


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@dataclass
class Figures:
    p50: float
    p99: float
    recall: float
    extra: str = ""


def measure(search: Callable[[Query], list[int]], queries: list[Query]) -> Figures:
    for query in queries[:10]:
        search(query)  # warm caches and connections
    latencies, recalls = [], []
    for query in queries:
        started = time.perf_counter()
        found = search(query)
        latencies.append((time.perf_counter() - started) * 1000)
        recalls.append(len(query.truth & set(found)) / min(K, len(query.truth)))
    return Figures(percentile(latencies, 50), percentile(latencies, 99), statistics.mean(recalls))


# --- FAISS: one index per company, rows in SQLite ------------------------------------------


def load_faiss(data: Dataset, folder: Path) -> FaissVectorStore:
    engine = create_db_engine(f"sqlite:///{folder / 'bench.db'}")
    init_db(engine)
    rows = [
        {
            "id": row + 1,
            "company_id": data.company_id(int(data.companies[row])),
            "document_id": f"doc-{row // 20}",
            "chunk_index": row % 20,
            "text": FILLER,
            "source": "bench.txt",
            "metadata_json": {},
            "embedding_model": BenchEmbedder.model,
        }
        for row in range(len(data.vectors))
    ]
    with Session(engine) as session:
        session.execute(insert(VectorChunk), rows)
        session.commit()
    store = FaissVectorStore(engine=engine, embedder=BenchEmbedder(), index_dir=folder / "faiss")
    for number in range(data.count):
        own = data.rows_of(number)
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(DIMENSION))
        index.add_with_ids(data.vectors[own], (own + 1).astype(np.int64))
        store._save(data.company_id(number), index)
    # Each company's first search loads its index and rows: done here, outside the timing.
    probe = np.zeros(DIMENSION, dtype=np.float32)
    for number in range(data.count):
        store.similarity_search(probe, company_id=data.company_id(number), k=1, threshold=-1.0)
    return store


def faiss_figures(data: Dataset, queries: list[Query], folder: Path) -> Figures:
    store = load_faiss(data, folder)

    def search(query: Query) -> list[int]:
        results = store.similarity_search(
            query.vector, company_id=data.company_id(query.company), k=K, threshold=-1.0
        )
        return [result.chunk_id for result in results]

    try:
        return measure(search, queries)
    finally:
        store._engine.dispose()


def raw_faiss_figures(data: Dataset, queries: list[Query]) -> Figures:
    """The floor: the querying company's own `IndexFlatIP`, searched directly."""
    indexes = {}
    for number in range(data.count):
        own = data.rows_of(number)
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(DIMENSION))
        index.add_with_ids(data.vectors[own], (own + 1).astype(np.int64))
        indexes[number] = index

    def search(query: Query) -> list[int]:
        _, ids = indexes[query.company].search(query.vector[None], K)
        return [int(i) for i in ids[0] if i >= 0]

    # One OpenMP thread, as the store searches: threads' spin-waits only cost on a busy CPU.
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return measure(search, queries)
    finally:
        faiss.omp_set_num_threads(threads)


# --- pgvector: one table, HNSW, company filter ----------------------------------------------


def pgvector_missing() -> str | None:
    """Why the pgvector rows cannot run here, or None when they can."""
    try:
        with psycopg.connect(ADMIN_DSN, connect_timeout=3) as admin:
            available = admin.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
            ).fetchone()
    except psycopg.Error as exc:
        return f"PostgreSQL unreachable at {ADMIN_DSN} ({type(exc).__name__})"
    if available is None:
        return "PostgreSQL has no pgvector extension (scripts/ci_services.sh --install adds it)"
    return None


@contextmanager
def throwaway_database() -> Iterator[str]:
    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def copy_chunks(
    driver: psycopg.Connection,
    vectors: np.ndarray,
    numbers: np.ndarray,
    *,
    company_id: Callable[[int], str],
    text_of: Callable[[int], str],
    model: str,
    provider: str,
) -> None:
    """Binary COPY of one chunk per vector (id = row + 1, company `numbers[row]`), then the
    companies' rows, their term counts and the id sequence, as the store's own writes
    would leave them."""
    with driver.cursor() as cursor:
        columns = "id, company_id, document_id, chunk_index, source, text, metadata, "
        columns += "embedding_model, embedding"
        with cursor.copy(f"COPY pgvector_chunk ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(
                ["int8", "varchar", "text", "int4", "text", "text", "jsonb", "text", "vector"]
            )
            empty = Jsonb({})
            for row, vector in enumerate(vectors):
                company = company_id(int(numbers[row]))
                copy.write_row(
                    (row + 1, company, f"doc-{row // 20}", row % 20, "bench.txt", text_of(row))
                    + (empty, model, vector)
                )
        counts = np.bincount(numbers)
        cursor.executemany(
            "INSERT INTO pgvector_company "
            "(company_id, embedding_model, embedding_provider, dimension, chunk_count) "
            "VALUES (%s, %s, %s, %s, %s)",
            [
                (company_id(n), model, provider, vectors.shape[1], int(count))
                for n, count in enumerate(counts)
                if count
            ],
        )
        for statement in RECOUNT_TERMS:
            cursor.execute(statement)
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('pgvector_chunk', 'id'), %s)", (len(vectors),)
        )


def load_pgvector(data: Dataset, engine: Engine) -> tuple[PgVectorStore, float, float]:
    """Bulk load with binary COPY, then build the HNSW index; returns the load and build seconds."""
    store = PgVectorStore(engine=engine, embedder=BenchEmbedder())
    index_name = f"pgvector_chunk_hnsw_{DIMENSION}"
    with engine.begin() as connection:
        connection.execute(text(f"DROP INDEX IF EXISTS {index_name}"))
        connection.execute(text("TRUNCATE pgvector_chunk, pgvector_company"))
    started = time.perf_counter()
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        register_vector(driver)
        copy_chunks(
            driver,
            data.vectors,
            data.companies,
            company_id=data.company_id,
            text_of=lambda _row: FILLER,
            model=BenchEmbedder.model,
            provider="bench",
        )
        driver.commit()
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        with driver.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '2GB'")
            cursor.execute("SET max_parallel_maintenance_workers = 1")
            cursor.execute(hnsw_index_ddl(DIMENSION))
            cursor.execute("ANALYZE pgvector_chunk")
        driver.commit()
        built = time.perf_counter() - started
    finally:
        raw.close()
    return store, loaded, built


@contextmanager
def patched(**values: object) -> Iterator[None]:
    saved = {name: getattr(search_plan, name) for name in values}
    for name, value in values.items():
        setattr(search_plan, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(search_plan, name, value)


def pg_figures(
    store: PgVectorStore, data: Dataset, queries: list[Query], **constants: object
) -> Figures:
    fallbacks = 0
    nearest = PgVectorStore._nearest

    def counting(self, connection, query, company_id, k, *, exact):  # type: ignore[no-untyped-def]
        nonlocal fallbacks
        rows = nearest(self, connection, query, company_id, k, exact=exact)
        if not exact and len(rows) < k:
            fallbacks += 1
        return rows

    def search(query: Query) -> list[int]:
        results = store.similarity_search(
            query.vector, company_id=data.company_id(query.company), k=K, threshold=-1.0
        )
        return [result.chunk_id for result in results]

    PgVectorStore._nearest = counting  # type: ignore[method-assign]
    try:
        with patched(**constants):
            figures = measure(search, queries)
    finally:
        PgVectorStore._nearest = nearest  # type: ignore[method-assign]
    figures.extra = f"fallback {fallbacks}/{len(queries) + 10}" if fallbacks else ""
    return figures


def plan_of(data: Dataset) -> str:
    sizes = np.bincount(data.companies, minlength=data.count)
    hnsw = sum(search_plan.walks_hnsw(int(size), len(data.vectors), K) for size in sizes)
    return "hnsw" if hnsw == data.count else "exact" if hnsw == 0 else f"hnsw for {hnsw} companies"


def measure_all(
    *, chunks: int, queries: int, companies: Sequence[int], ef_values: Sequence[int]
) -> list[Row]:
    rng = np.random.default_rng(2024)
    started = time.perf_counter()
    vectors = clustered_vectors(chunks, rng)
    print(
        f"{chunks:,} chunks, {DIMENSION}-d, {CLUSTERS} clusters, k={K}, "
        f"{queries} queries per row; pgvector store constants: "
        f"EXACT_SEARCH_MAX_CHUNKS={search_plan.EXACT_SEARCH_MAX_CHUNKS:,}, "
        f"HNSW_MIN_SHARE={search_plan.HNSW_MIN_SHARE}, "
        f"HNSW_EF_SEARCH={search_plan.HNSW_EF_SEARCH}"
    )
    header = f"{'companies':>9} {'chunks/co':>9}  {'store':<22} {'p50 ms':>7} {'p99 ms':>7}"
    print(header + f" {'recall@10':>9}  notes")

    def line(count: int, name: str, figures: Figures) -> None:
        size = chunks // count
        print(
            f"{count:>9,} {size:>9,}  {name:<22} {figures.p50:>7.2f} {figures.p99:>7.2f} "
            f"{figures.recall:>9.3f}  {figures.extra}",
            flush=True,
        )

    rows: list[Row] = []
    scenarios = []
    for count in companies:
        data = Dataset(vectors, rng.integers(count, size=chunks), count)
        scenarios.append((data, make_queries(data, queries, rng)))
        raw = raw_faiss_figures(data, scenarios[-1][1])
        line(count, "raw IndexFlatIP (floor)", raw)
        with tempfile.TemporaryDirectory() as folder:
            store = faiss_figures(data, scenarios[-1][1], Path(folder))
        line(count, "faiss (flat/company)", store)
        rows.append(
            Row(
                f"Tenant search, {chunks:,} vectors, {count:,} companies, FAISS store",
                f"p50 {store.p50:.3f} ms, p99 {store.p99:.3f} ms, recall@10 {store.recall:.3f}",
                f"raw per-company IndexFlatIP: p50 {raw.p50:.3f} ms, p99 {raw.p99:.3f} ms",
                store.p50 / raw.p50,
                load_average(),
            )
        )

    reason = pgvector_missing()
    if reason:
        print(f"pgvector rows skipped: {reason}")
        rows.append(Row.skip("Tenant search, pgvector", reason))
    else:
        with throwaway_database() as url:
            engine = create_db_engine(url)
            try:
                for data, qs in scenarios:
                    rows.append(pgvector_rows(engine, data, qs, ef_values, line))
            finally:
                engine.dispose()
    print(f"total {time.perf_counter() - started:.0f}s")
    return rows


def pgvector_rows(
    engine: Engine,
    data: Dataset,
    queries: list[Query],
    ef_values: Sequence[int],
    line: Callable[[int, str, Figures], None],
) -> Row:
    count = data.count
    store, loaded, built = load_pgvector(data, engine)
    figures = pg_figures(store, data, queries)
    figures.extra = (
        f"{plan_of(data)} path; COPY {loaded:.1f}s, HNSW build {built:.1f}s " + figures.extra
    ).strip()
    line(count, "pgvector (store)", figures)
    for ef in ef_values:
        forced = pg_figures(
            store, data, queries, EXACT_SEARCH_MAX_CHUNKS=0, HNSW_MIN_SHARE=0, HNSW_EF_SEARCH=ef
        )
        line(count, f"pgvector hnsw ef={ef}", forced)
    exact_queries = queries[: max(20, len(queries) // 8)] if count == 1 else queries
    exact = pg_figures(store, data, exact_queries, EXACT_SEARCH_MAX_CHUNKS=10**12)
    exact.extra = f"{len(exact_queries)} queries" if count == 1 else exact.extra
    line(count, "pgvector exact", exact)
    return Row(
        f"Tenant search, {len(data.vectors):,} vectors, {count:,} companies, pgvector store",
        f"p50 {figures.p50:.2f} ms, p99 {figures.p99:.2f} ms, recall@10 {figures.recall:.3f}",
        f"pgvector exact: p50 {exact.p50:.2f} ms, p99 {exact.p99:.2f} ms",
        figures.p50 / exact.p50,
        load_average(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--companies", default="1,100,1000", help="comma-separated counts")
    parser.add_argument("--ef-search", default="40,200", help="forced-HNSW rows to run")
    parser.add_argument("--quick", action="store_true", help="20k chunks, 100 queries")
    args = parser.parse_args()
    if args.quick:
        args.chunks, args.queries = min(args.chunks, 20_000), min(args.queries, 100)
    rows = measure_all(
        chunks=args.chunks,
        queries=args.queries,
        companies=[int(count) for count in args.companies.split(",")],
        ef_values=[int(value) for value in args.ef_search.split(",") if value],
    )
    print_table(rows)


if __name__ == "__main__":
    main()
