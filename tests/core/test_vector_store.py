"""The per-company FAISS store: search, thresholds, deletes, persistence, isolation."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import anyio
import faiss
import numpy as np
import pytest

from core.database import create_db_engine, init_db
from core.embedding_client import LocalEmbeddingClient
from core.exceptions import AppException, ValidationException
from core.vector_store import VectorChunk, VectorStore

pytestmark = pytest.mark.core

DOCS = [
    "Our support team is available Monday to Friday from 9am to 5pm Eastern time.",
    "Refunds are issued within 14 days of purchase if the product is unused.",
    "The Pro plan costs 49 dollars per month and includes priority support.",
    "Our headquarters are located in Austin, Texas.",
]
PRICE_QUESTION = "How much does the Pro plan cost?"
UNRELATED_QUESTION = "How do penguins survive the Antarctic winter?"


@pytest.fixture(scope="session")
def embedder() -> LocalEmbeddingClient:
    client = LocalEmbeddingClient(threads=2, batch_size=8)
    client.load()
    return client


@pytest.fixture
def engine():
    engine = create_db_engine("sqlite://")
    init_db(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def index_dir(tmp_path):
    return tmp_path / "faiss_indexes"


@pytest.fixture
def store(engine, embedder, index_dir) -> VectorStore:
    return VectorStore(engine=engine, embedder=embedder, index_dir=index_dir)


async def _add_docs(store: VectorStore, company_id: str = "acme") -> list[int]:
    return await store.add_documents(
        documents=DOCS,
        company_id=company_id,
        metadata=[
            {"document_id": "handbook", "source": "handbook.md", "chunk_index": i, "page": i + 1}
            for i in range(len(DOCS))
        ],
    )


async def _search(store: VectorStore, query: str, company_id: str = "acme", **kwargs):
    embedding = await store.embedder.embed_query(query)
    return store.similarity_search(embedding, company_id=company_id, **kwargs)


class FakeEmbedder:
    """Another model of the same dimension, or one whose calls fail."""

    provider = "local"
    dimension = 384
    max_input_tokens = 256

    def __init__(self, model: str = "another-model", *, fail: bool = False) -> None:
        self.model = model
        self.fail = fail

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    async def embed_documents(self, texts: Sequence[str], *, on_progress=None) -> np.ndarray:
        if self.fail:
            raise RuntimeError("embedding failed")
        rng = np.random.default_rng(len(texts))
        vectors = rng.normal(size=(len(texts), self.dimension)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    async def embed_query(self, text: str) -> np.ndarray:
        return (await self.embed_documents([text]))[0]


@pytest.mark.anyio
async def test_search_returns_the_best_chunk_first_with_its_metadata(store):
    ids = await _add_docs(store)

    results = await _search(store, PRICE_QUESTION)

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
    await _add_docs(store)

    assert await _search(store, UNRELATED_QUESTION) == []
    precise = await _search(store, PRICE_QUESTION, threshold=0.45)
    assert [r.text for r in precise] == [DOCS[2]]
    everything = await _search(store, UNRELATED_QUESTION, k=10, threshold=-1.0)
    assert len(everything) == len(DOCS)


@pytest.mark.anyio
async def test_k_caps_the_number_of_results(store):
    await _add_docs(store)

    results = await _search(store, PRICE_QUESTION, k=2, threshold=-1.0)

    assert len(results) == 2
    assert results[0].text == DOCS[2]


@pytest.mark.anyio
async def test_shared_metadata_applies_to_every_chunk(store, engine):
    from sqlmodel import Session, select

    await store.add_documents(
        documents=DOCS[:2], company_id="acme", metadata={"source": "faq.txt", "lang": "en"}
    )

    with Session(engine) as session:
        rows = session.exec(select(VectorChunk).order_by(VectorChunk.id)).all()
    assert [(r.source, r.chunk_index, r.metadata_json) for r in rows] == [
        ("faq.txt", 0, {"lang": "en"}),
        ("faq.txt", 1, {"lang": "en"}),
    ]
    assert {r.embedding_model for r in rows} == {"all-MiniLM-L6-v2"}


@pytest.mark.anyio
async def test_delete_document_removes_its_vectors_and_rows(store):
    await _add_docs(store)
    await store.add_documents(
        documents=["Shipping to Canada takes five business days."],
        company_id="acme",
        metadata={"document_id": "shipping"},
    )

    removed = store.delete_document("handbook", company_id="acme")

    assert removed == len(DOCS)
    assert store.count("acme") == 1
    everything = await _search(store, PRICE_QUESTION, k=10, threshold=-1.0)
    assert [r.document_id for r in everything] == ["shipping"]
    assert store.delete_document("handbook", company_id="acme") == 0


@pytest.mark.anyio
async def test_replace_document_leaves_only_the_new_chunks(store):
    old_ids = await _add_docs(store)

    new_ids = await store.replace_document(
        document_id="handbook",
        documents=["The Pro plan now costs 59 dollars per month.", "Support is open 24/7."],
        company_id="acme",
        metadata={"source": "handbook.md"},
    )

    assert store.count("acme") == 2
    assert not set(old_ids) & set(new_ids)
    everything = await _search(store, PRICE_QUESTION, k=10, threshold=-1.0)
    assert sorted(r.chunk_id for r in everything) == sorted(new_ids)
    assert everything[0].text == "The Pro plan now costs 59 dollars per month."
    assert {r.document_id for r in everything} == {"handbook"}


@pytest.mark.anyio
async def test_replace_document_changes_nothing_when_embedding_fails(store, engine, index_dir):
    old_ids = await _add_docs(store)
    failing = VectorStore(
        engine=engine, embedder=FakeEmbedder("all-MiniLM-L6-v2", fail=True), index_dir=index_dir
    )

    with pytest.raises(RuntimeError):
        await failing.replace_document(
            document_id="handbook", documents=["new text"], company_id="acme"
        )

    assert store.count("acme") == len(DOCS)
    results = await _search(store, PRICE_QUESTION, k=10, threshold=-1.0)
    assert sorted(r.chunk_id for r in results) == sorted(old_ids)


@pytest.mark.anyio
async def test_a_failed_save_rolls_back_rows_and_vectors(store, monkeypatch):
    await _add_docs(store)

    def disk_full(index, path):
        raise OSError("No space left on device")

    monkeypatch.setattr(faiss, "write_index", disk_full)
    with pytest.raises(OSError):
        await store.add_documents(documents=["Extra chunk about invoices."], company_id="acme")
    with pytest.raises(OSError):
        await store.replace_document(document_id="handbook", documents=["x"], company_id="acme")
    monkeypatch.undo()

    assert store.count("acme") == len(DOCS)
    results = await _search(store, PRICE_QUESTION, k=10, threshold=-1.0)
    assert sorted(r.text for r in results) == sorted(DOCS)


@pytest.mark.anyio
async def test_a_failed_commit_leaves_neither_rows_nor_vectors(
    store, engine, embedder, index_dir, monkeypatch
):
    from sqlmodel import Session

    await _add_docs(store)

    def database_error(self):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(Session, "commit", database_error)
    with pytest.raises(RuntimeError):
        await store.replace_document(document_id="handbook", documents=["x"], company_id="acme")
    monkeypatch.undo()

    assert store.count("acme") == len(DOCS)
    reopened = VectorStore(engine=engine, embedder=embedder, index_dir=index_dir)
    for current in (store, reopened):
        results = await _search(current, PRICE_QUESTION, k=10, threshold=-1.0)
        assert sorted(r.text for r in results) == sorted(DOCS)


@pytest.mark.anyio
async def test_the_index_is_saved_and_reloaded_by_a_new_store(store, engine, embedder, index_dir):
    ids = await _add_docs(store)

    reopened = VectorStore(engine=engine, embedder=embedder, index_dir=index_dir)
    results = await _search(reopened, PRICE_QUESTION)

    assert (index_dir / "acme.faiss").is_file()
    assert (index_dir / "acme.meta.json").is_file()
    assert not [p for p in index_dir.iterdir() if p.name.endswith(".tmp")]
    assert reopened.has_index("acme")
    assert results[0].chunk_id == ids[2]


@pytest.mark.anyio
async def test_an_index_built_by_another_model_is_refused(store, engine, index_dir):
    await _add_docs(store)
    other = VectorStore(engine=engine, embedder=FakeEmbedder("another-model"), index_dir=index_dir)

    with pytest.raises(AppException) as caught:
        other.similarity_search(np.ones(384, dtype=np.float32) / np.sqrt(384), company_id="acme")
    with pytest.raises(AppException):
        await other.add_documents(documents=["text"], company_id="acme")

    assert caught.value.code == "embedding_model_mismatch"
    assert caught.value.status_code == 409
    assert "all-MiniLM-L6-v2" in caught.value.message
    assert not other.is_compatible("acme")
    assert store.is_compatible("acme")

    other.delete_company("acme")
    assert not other.has_index("acme")
    assert await other.add_documents(documents=["text"], company_id="acme")
    assert other.is_compatible("acme")


@pytest.mark.anyio
async def test_a_company_never_sees_another_companys_chunks(store):
    await _add_docs(store, "company-a")
    await store.add_documents(documents=["Company B sells garden tools."], company_id="company-b")

    results = await _search(store, DOCS[2], company_id="company-b", k=10, threshold=-1.0)

    assert [r.text for r in results] == ["Company B sells garden tools."]
    assert await _search(store, DOCS[2], company_id="company-c") == []
    assert store.count("company-a") == len(DOCS)
    assert store.count("company-b") == 1
    assert not store.has_index("company-c")


@pytest.mark.parametrize("company_id", ["", "../etc", "Acme", "a/b", "x" * 64, "-acme"])
def test_company_ids_that_could_escape_the_folder_are_rejected(store, company_id):
    with pytest.raises(ValidationException):
        store.similarity_search(np.zeros(384, dtype=np.float32), company_id=company_id)


@pytest.mark.anyio
async def test_metadata_count_must_match_the_documents(store):
    with pytest.raises(ValidationException):
        await store.add_documents(documents=DOCS, company_id="acme", metadata=[{}])
    assert await store.add_documents(documents=[], company_id="acme") == []
    assert not store.has_index("acme")


class BarrierEmbedder:
    """The real embedder, but every call waits until all workers have their vectors."""

    def __init__(self, inner: LocalEmbeddingClient, barrier: threading.Barrier) -> None:
        self.inner = inner
        self.barrier = barrier
        self.provider, self.model = inner.provider, inner.model
        self.dimension, self.max_input_tokens = inner.dimension, inner.max_input_tokens

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    async def embed_documents(self, texts: Sequence[str], *, on_progress=None) -> np.ndarray:
        vectors = await self.inner.embed_documents(texts)
        await anyio.to_thread.run_sync(self.barrier.wait)
        return vectors

    async def embed_query(self, text: str) -> np.ndarray:
        return await self.inner.embed_query(text)


def test_concurrent_adds_from_threads_keep_every_chunk(engine, embedder, index_dir):
    workers = 8
    # All workers reach the write at the same moment, to a company that has no index yet.
    store = VectorStore(
        engine=engine,
        embedder=BarrierEmbedder(embedder, threading.Barrier(workers)),
        index_dir=index_dir,
    )
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
    reopened = VectorStore(engine=engine, embedder=embedder, index_dir=index_dir)
    query = np.ones(384, dtype=np.float32) / np.sqrt(384)
    found = reopened.similarity_search(query, company_id="acme", k=100, threshold=-1.0)
    assert sorted(r.chunk_id for r in found) == sorted(ids)
