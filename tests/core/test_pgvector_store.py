"""Both vector stores, FAISS files and PostgreSQL + pgvector, pass the same behaviour checks.

Each test runs once per backend (`store` is parametrised); what only FAISS has
(index files, rollback of a failed save) is in test_faiss_store.py. The pgvector runs
use a throwaway PostgreSQL database for this module (`tests/services.py`):
they skip when PostgreSQL does not answer, and fail under CI=true.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import anyio
import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

import core.pgvector_search_plan as search_plan
from core.database import create_db_engine, init_db
from core.embedding_client import EmbeddingClient, LocalEmbeddingClient
from core.exceptions import AppException, ValidationException
from core.faiss_store import FaissVectorStore
from core.pgvector_store import PgVectorStore
from core.vector_store import VectorStoreBackend, create_vector_store
from tests.services import throwaway_database
from tests.support import make_settings

from .vector_support import (
    DOCS,
    MODEL,
    PRICE_QUESTION,
    UNRELATED_QUESTION,
    BarrierEmbedder,
    FakeEmbedder,
    add_docs,
    search,
)

pytestmark = pytest.mark.core

StoreFactory = Callable[[EmbeddingClient], VectorStoreBackend]


@pytest.fixture(scope="module")
def pg_engine() -> Iterator[Engine]:
    with throwaway_database() as url:
        engine = create_db_engine(url)
        yield engine
        engine.dispose()


def _empty_pgvector_tables(engine: Engine) -> None:
    with engine.begin() as connection:
        exists = connection.execute(text("SELECT to_regclass('pgvector_chunk')")).scalar()
        if exists is not None:
            connection.execute(text("TRUNCATE pgvector_chunk, pgvector_company"))


@pytest.fixture(params=["faiss", "pgvector"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Stores of one backend over the same storage, each with the embedder it is given."""
    if request.param == "faiss":
        engine = create_db_engine("sqlite://")
        init_db(engine)
        yield lambda embedder: FaissVectorStore(
            engine=engine, embedder=embedder, index_dir=tmp_path / "faiss_indexes"
        )
        engine.dispose()
        return
    pg: Engine = request.getfixturevalue("pg_engine")
    _empty_pgvector_tables(pg)
    yield lambda embedder: PgVectorStore(engine=pg, embedder=embedder)
    _empty_pgvector_tables(pg)


@pytest.fixture
def store(make_store: StoreFactory, embedder: LocalEmbeddingClient) -> VectorStoreBackend:
    return make_store(embedder)


class LookupEmbedder:
    """The local model's name and size, with vectors looked up by text (made beforehand)."""

    provider = "local"
    model = MODEL
    dimension = 384
    max_input_tokens = 256

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    async def embed_documents(self, texts: Sequence[str], *, on_progress=None) -> np.ndarray:
        return np.stack([self.vectors[text] for text in texts])

    async def embed_query(self, text: str) -> np.ndarray:
        return self.vectors[text]


# --- the same behaviour on both backends ---------------------------------------------------


@pytest.mark.anyio
async def test_search_returns_the_best_chunk_first_with_its_metadata(store):
    ids = await add_docs(store)

    results = await search(store, PRICE_QUESTION)

    best = results[0]
    assert best.chunk_id == ids[2]
    assert best.text == DOCS[2]
    assert (best.document_id, best.source, best.chunk_index) == ("handbook", "handbook.md", 2)
    assert best.metadata == {"page": 3}
    assert best.score > 0.7
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    assert len(set(ids)) == len(DOCS)
    assert store.count("acme") == len(DOCS)


@pytest.mark.anyio
async def test_only_chunks_at_or_above_the_threshold_are_returned(store):
    await add_docs(store)

    assert await search(store, UNRELATED_QUESTION) == []
    precise = await search(store, PRICE_QUESTION, threshold=0.45)
    assert [r.text for r in precise] == [DOCS[2]]
    everything = await search(store, UNRELATED_QUESTION, k=10, threshold=-1.0)
    assert len(everything) == len(DOCS)


@pytest.mark.anyio
async def test_k_caps_the_number_of_results(store):
    await add_docs(store)

    results = await search(store, PRICE_QUESTION, k=2, threshold=-1.0)

    assert len(results) == 2
    assert results[0].text == DOCS[2]
    assert await search(store, PRICE_QUESTION, k=0, threshold=-1.0) == []


@pytest.mark.anyio
async def test_shared_metadata_applies_to_every_chunk(store):
    await store.add_documents(
        documents=DOCS[:2], company_id="acme", metadata={"source": "faq.txt", "lang": "en"}
    )

    results = await search(store, DOCS[0], k=10, threshold=-1.0)

    assert sorted((r.source, r.chunk_index, r.metadata) for r in results) == [
        ("faq.txt", 0, {"lang": "en"}),
        ("faq.txt", 1, {"lang": "en"}),
    ]


@pytest.mark.anyio
async def test_delete_document_removes_its_chunks(store):
    await add_docs(store)
    await store.add_documents(
        documents=["Shipping to Canada takes five business days."],
        company_id="acme",
        metadata={"document_id": "shipping"},
    )

    removed = store.delete_document("handbook", company_id="acme")

    assert removed == len(DOCS)
    assert store.count("acme") == 1
    everything = await search(store, PRICE_QUESTION, k=10, threshold=-1.0)
    assert [r.document_id for r in everything] == ["shipping"]
    assert store.delete_document("handbook", company_id="acme") == 0
    assert store.delete_document("handbook", company_id="nobody") == 0


@pytest.mark.anyio
async def test_replace_document_leaves_only_the_new_chunks(store):
    old_ids = await add_docs(store)

    new_ids = await store.replace_document(
        document_id="handbook",
        documents=["The Pro plan now costs 59 dollars per month.", "Support is open 24/7."],
        company_id="acme",
        metadata={"source": "handbook.md"},
    )

    assert store.count("acme") == 2
    assert not set(old_ids) & set(new_ids)
    everything = await search(store, PRICE_QUESTION, k=10, threshold=-1.0)
    assert sorted(r.chunk_id for r in everything) == sorted(new_ids)
    assert everything[0].text == "The Pro plan now costs 59 dollars per month."
    assert {r.document_id for r in everything} == {"handbook"}


@pytest.mark.anyio
async def test_replace_document_changes_nothing_when_embedding_fails(store, make_store):
    old_ids = await add_docs(store)
    failing = make_store(FakeEmbedder(MODEL, fail=True))

    with pytest.raises(RuntimeError):
        await failing.replace_document(
            document_id="handbook", documents=["new text"], company_id="acme"
        )

    assert store.count("acme") == len(DOCS)
    results = await search(store, PRICE_QUESTION, k=10, threshold=-1.0)
    assert sorted(r.chunk_id for r in results) == sorted(old_ids)


@pytest.mark.anyio
async def test_a_new_store_over_the_same_storage_finds_the_chunks(store, make_store, embedder):
    ids = await add_docs(store)

    reopened = make_store(embedder)
    results = await search(reopened, PRICE_QUESTION)

    assert reopened.has_index("acme")
    assert results[0].chunk_id == ids[2]


@pytest.mark.anyio
async def test_an_index_built_by_another_model_is_refused(store, make_store):
    await add_docs(store)
    other = make_store(FakeEmbedder("another-model"))

    with pytest.raises(AppException) as caught:
        other.similarity_search(np.ones(384, dtype=np.float32) / np.sqrt(384), company_id="acme")
    with pytest.raises(AppException):
        await other.add_documents(documents=["text"], company_id="acme")

    assert caught.value.code == "embedding_model_mismatch"
    assert caught.value.status_code == 409
    assert "all-MiniLM-L6-v2" in caught.value.message
    assert not other.is_compatible("acme")
    assert store.is_compatible("acme")
    assert store.count("acme") == len(DOCS)

    other.delete_company("acme")
    assert not other.has_index("acme")
    assert await other.add_documents(documents=["text"], company_id="acme")
    assert other.is_compatible("acme")
    assert not store.is_compatible("acme")


@pytest.mark.anyio
async def test_a_company_never_sees_another_companys_chunks(store):
    await add_docs(store, "company-a")
    await store.add_documents(documents=["Company B sells garden tools."], company_id="company-b")

    results = await search(store, DOCS[2], company_id="company-b", k=10, threshold=-1.0)

    assert [r.text for r in results] == ["Company B sells garden tools."]
    assert await search(store, DOCS[2], company_id="company-c") == []
    assert store.count("company-a") == len(DOCS)
    assert store.count("company-b") == 1
    assert not store.has_index("company-c")


@pytest.mark.anyio
async def test_keyword_corpus_and_stored_scores_are_the_companys_own(store):
    ids = await add_docs(store, "company-a")
    [other] = await store.add_documents(
        documents=["Company B sells tools."], company_id="company-b"
    )
    before = store.chunk_version("company-a")
    query = await store.embedder.embed_query(PRICE_QUESTION)

    texts = store.chunk_texts("company-a")
    searched = store.similarity_search(query, company_id="company-a", k=4, threshold=-1.0)
    scored = store.score_chunks(query, company_id="company-a", chunk_ids=[ids[3], other, ids[2]])

    assert texts == list(zip(ids, DOCS, strict=True))
    assert before == (len(DOCS), max(ids))
    # Another company's id is skipped; scores are the ones a search gives.
    assert [hit.chunk_id for hit in scored] == [ids[3], ids[2]]
    by_id = {hit.chunk_id: hit.score for hit in searched}
    assert [hit.score for hit in scored] == pytest.approx([by_id[ids[3]], by_id[ids[2]]], abs=1e-5)
    assert scored[1].source == "handbook.md" and scored[1].metadata == {"page": 3}
    store.delete_document("handbook", company_id="company-a")
    assert store.chunk_version("company-a") != before
    assert store.chunk_texts("company-a") == []
    assert store.score_chunks(query, company_id="company-a", chunk_ids=ids) == []


@pytest.mark.parametrize("company_id", ["", "../etc", "Acme", "a/b", "x" * 64, "-acme"])
def test_invalid_company_ids_are_rejected(store, company_id):
    with pytest.raises(ValidationException):
        store.similarity_search(np.zeros(384, dtype=np.float32), company_id=company_id)


def test_a_query_of_the_wrong_dimension_is_rejected(store):
    with pytest.raises(ValidationException):
        store.similarity_search(np.zeros(128, dtype=np.float32), company_id="acme")


@pytest.mark.anyio
async def test_metadata_count_must_match_the_documents(store):
    with pytest.raises(ValidationException):
        await store.add_documents(documents=DOCS, company_id="acme", metadata=[{}])
    assert await store.add_documents(documents=[], company_id="acme") == []
    assert not store.has_index("acme")


def test_concurrent_adds_to_a_new_company_keep_every_chunk(make_store, embedder):
    workers = 8
    store = make_store(BarrierEmbedder(embedder, threading.Barrier(workers)))
    ids: list[int] = []
    errors: list[BaseException] = []

    def ingest(worker: int) -> None:
        try:
            texts = [f"Worker {worker} writes chunk number {n}." for n in range(5)]
            ids.extend(anyio.run(lambda: store.add_documents(documents=texts, company_id="acme")))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ingest, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(set(ids)) == workers * 5
    assert store.count("acme") == workers * 5
    query = np.ones(384, dtype=np.float32) / np.sqrt(384)
    found = make_store(embedder).similarity_search(query, company_id="acme", k=100, threshold=-1.0)
    assert sorted(r.chunk_id for r in found) == sorted(ids)


# --- a selective company filter still returns k rows ---------------------------------------

OWN_CHUNKS = [
    "Our warehouse in Rotterdam ships pallets every Tuesday.",
    "Forklift drivers must renew their licence every two years.",
    "The loading dock closes at 6pm on weekdays.",
    "Damaged goods are photographed before they are returned.",
    "Night shifts are paid a 20 percent premium.",
]
OTHER_COMPANIES = 10
OTHER_CHUNKS_EACH = 500


@pytest.fixture(scope="module")
def crowded_vectors(embedder: LocalEmbeddingClient) -> dict[str, np.ndarray]:
    """Real embeddings: a pricing question, one company's 5 chunks on another topic, and
    5,000 chunks of other companies that all sit closer to the question than those 5."""
    seeds = [
        f"The Pro plan costs {price} dollars per month with {seats} seats."
        for price, seats in zip(range(19, 99, 4), range(1, 21), strict=True)
    ]
    real = anyio.run(embedder.embed_documents, [PRICE_QUESTION, *OWN_CHUNKS, *seeds])
    vectors = dict(zip([PRICE_QUESTION, *OWN_CHUNKS], real[: 1 + len(OWN_CHUNKS)], strict=True))
    rng = np.random.default_rng(7)
    for n in range(OTHER_COMPANIES * OTHER_CHUNKS_EACH):
        nearby = real[1 + len(OWN_CHUNKS) + n % len(seeds)] + rng.normal(0, 0.01, 384)
        vectors[f"pricing note {n}"] = (nearby / np.linalg.norm(nearby)).astype(np.float32)
    return vectors


async def _crowd(store: VectorStoreBackend) -> VectorStoreBackend:
    for company in range(OTHER_COMPANIES):
        start = company * OTHER_CHUNKS_EACH
        texts = [f"pricing note {n}" for n in range(start, start + OTHER_CHUNKS_EACH)]
        await store.add_documents(documents=texts, company_id=f"other-{company}")
    await store.add_documents(documents=OWN_CHUNKS, company_id="warehouse")
    return store


@pytest.fixture(scope="module")
def pg_crowded(crowded_vectors) -> Iterator[PgVectorStore]:
    """The crowd in a database of its own, loaded once for the module."""
    with throwaway_database() as url:
        engine = create_db_engine(url)
        store = PgVectorStore(engine=engine, embedder=LookupEmbedder(crowded_vectors))
        yield anyio.run(_crowd, store)
        engine.dispose()


@pytest.fixture(scope="module", params=["faiss", "pgvector"])
def crowded(request, crowded_vectors, tmp_path_factory) -> Iterator[VectorStoreBackend]:
    if request.param == "pgvector":
        yield request.getfixturevalue("pg_crowded")
        return
    engine = create_db_engine("sqlite://")
    init_db(engine)
    store = FaissVectorStore(
        engine=engine,
        embedder=LookupEmbedder(crowded_vectors),
        index_dir=tmp_path_factory.mktemp("crowded"),
    )
    yield anyio.run(_crowd, store)
    engine.dispose()


def _exact_order(vectors: dict[str, np.ndarray]) -> list[str]:
    query = vectors[PRICE_QUESTION]
    return sorted(OWN_CHUNKS, key=lambda chunk: -float(vectors[chunk] @ query))


def test_other_companies_crowd_the_question(crowded, crowded_vectors):
    query = crowded_vectors[PRICE_QUESTION]

    others = crowded.similarity_search(query, company_id="other-3", k=10, threshold=-1.0)

    assert len(others) == 10
    assert all(r.text.startswith("pricing note") for r in others)
    # Each of them is nearer the question than the warehouse's best chunk.
    assert others[-1].score > max(float(crowded_vectors[c] @ query) for c in OWN_CHUNKS)


@pytest.mark.parametrize("k", [4, 5, 10])
def test_a_selective_company_filter_still_returns_the_exact_top_k(crowded, crowded_vectors, k):
    query = crowded_vectors[PRICE_QUESTION]

    results = crowded.similarity_search(query, company_id="warehouse", k=k, threshold=-1.0)

    assert [r.text for r in results] == _exact_order(crowded_vectors)[:k]


@pytest.mark.parametrize("k", [4, 5, 10])
def test_the_hnsw_path_behind_a_selective_filter_still_returns_k_rows(
    pg_crowded, crowded_vectors, monkeypatch, k
):
    monkeypatch.setattr(search_plan, "EXACT_SEARCH_MAX_CHUNKS", 0)
    monkeypatch.setattr(search_plan, "HNSW_MIN_SHARE", 0)
    query = crowded_vectors[PRICE_QUESTION]

    results = pg_crowded.similarity_search(query, company_id="warehouse", k=k, threshold=-1.0)

    assert len(results) == min(k, len(OWN_CHUNKS))
    assert {r.text for r in results} <= set(OWN_CHUNKS)
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)


def test_the_iterative_hnsw_scan_itself_finds_the_rows_behind_a_selective_filter(
    pg_crowded, crowded_vectors, monkeypatch
):
    if pg_crowded.pgvector_version < search_plan.ITERATIVE_SCAN_PGVECTOR:
        pytest.skip("iterative index scans need pgvector 0.8+")
    monkeypatch.setattr(search_plan, "EXACT_SEARCH_MAX_CHUNKS", 0)
    monkeypatch.setattr(search_plan, "HNSW_MIN_SHARE", 0)
    scans: list[tuple[bool, int]] = []
    nearest = PgVectorStore._nearest

    def recording(self, connection, query, company_id, k, *, exact):
        rows = nearest(self, connection, query, company_id, k, exact=exact)
        scans.append((exact, len(rows)))
        return rows

    monkeypatch.setattr(PgVectorStore, "_nearest", recording)
    query = crowded_vectors[PRICE_QUESTION]

    results = pg_crowded.similarity_search(query, company_id="warehouse", k=5, threshold=-1.0)

    assert scans == [(False, 5)]  # no exact fallback was needed
    assert [r.text for r in results] == _exact_order(crowded_vectors)


def test_exact_search_never_walks_the_hnsw_index(pg_crowded, crowded_vectors):
    parameters = {"query": crowded_vectors[PRICE_QUESTION], "company_id": "other-1", "k": 10}

    def plan(*, exact: bool) -> str:
        statement = search_plan.search_statement(384, exact=exact)
        explain = text(f"EXPLAIN {statement.text}").bindparams(*statement._bindparams.values())
        with pg_crowded._engine.begin() as connection:
            # Make the index the cheapest way in: only a plan that cannot use it goes elsewhere.
            connection.execute(text("SET LOCAL enable_seqscan = off"))
            connection.execute(text("SET LOCAL enable_bitmapscan = off"))
            connection.execute(text("SET LOCAL enable_sort = off"))
            return "\n".join(connection.execute(explain, parameters).scalars())

    assert "pgvector_chunk_hnsw_384" in plan(exact=False)
    assert "hnsw" not in plan(exact=True)


# --- pgvector specifics --------------------------------------------------------------------


@pytest.mark.anyio
async def test_scores_are_the_same_cosine_similarities_on_both_backends(
    tmp_path, embedder, pg_engine
):
    _empty_pgvector_tables(pg_engine)
    sqlite = create_db_engine("sqlite://")
    init_db(sqlite)
    faiss_store = FaissVectorStore(engine=sqlite, embedder=embedder, index_dir=tmp_path / "faiss")
    pg_store = PgVectorStore(engine=pg_engine, embedder=embedder)
    query = await embedder.embed_query(PRICE_QUESTION)
    try:
        for current in (faiss_store, pg_store):
            await add_docs(current)
        on_faiss = faiss_store.similarity_search(query, company_id="acme", k=4, threshold=-1.0)
        on_pg = pg_store.similarity_search(query, company_id="acme", k=4, threshold=-1.0)
    finally:
        _empty_pgvector_tables(pg_engine)
        sqlite.dispose()

    assert [r.text for r in on_pg] == [r.text for r in on_faiss]
    np.testing.assert_allclose([r.score for r in on_pg], [r.score for r in on_faiss], atol=1e-5)


def test_the_factory_picks_the_backend_from_settings(tmp_path, embedder, pg_engine):
    sqlite = create_db_engine("sqlite://")
    pg_url = pg_engine.url.render_as_string(hide_password=False)

    faiss_store = create_vector_store(make_settings(tmp_path), engine=sqlite, embedder=embedder)
    shared = create_vector_store(
        make_settings(tmp_path, VECTOR_STORE="pgvector", DATABASE_URL=pg_url),
        engine=pg_engine,
        embedder=embedder,
    )
    separate = create_vector_store(
        make_settings(tmp_path, VECTOR_STORE="pgvector", PGVECTOR_DATABASE_URL=pg_url),
        engine=sqlite,
        embedder=embedder,
    )

    assert isinstance(faiss_store, FaissVectorStore)
    assert isinstance(shared, PgVectorStore) and shared._engine is pg_engine
    assert isinstance(separate, PgVectorStore) and separate._engine is not sqlite
    separate.close()
    sqlite.dispose()


def test_pgvector_without_postgresql_is_a_startup_error_naming_the_setting(tmp_path, embedder):
    sqlite = create_db_engine("sqlite://")
    missing = make_settings(tmp_path, VECTOR_STORE="pgvector")
    unreachable = make_settings(
        tmp_path,
        VECTOR_STORE="pgvector",
        PGVECTOR_DATABASE_URL="postgresql+psycopg://postgres:secret@127.0.0.1:1/none",
    )

    with pytest.raises(RuntimeError, match="PGVECTOR_DATABASE_URL"):
        create_vector_store(missing, engine=sqlite, embedder=embedder)
    with pytest.raises(RuntimeError, match="PGVECTOR_DATABASE_URL") as caught:
        create_vector_store(unreachable, engine=sqlite, embedder=embedder)
    assert "secret" not in str(caught.value)
    sqlite.dispose()


def test_the_app_searches_pgvector_when_configured(tmp_path, pg_engine):
    from fastapi.testclient import TestClient

    from backend.main import create_app

    _empty_pgvector_tables(pg_engine)
    pg_url = pg_engine.url.render_as_string(hide_password=False)
    settings = make_settings(tmp_path, VECTOR_STORE="pgvector", PGVECTOR_DATABASE_URL=pg_url)

    with TestClient(create_app(settings)) as client:
        health = client.get("/health").json()
        state_store = client.app.state.vector_store

    assert health["vector_store"] == "pgvector"
    assert isinstance(state_store, PgVectorStore)
