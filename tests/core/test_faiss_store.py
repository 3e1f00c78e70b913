"""What only the FAISS store does: index files next to SQL rows, kept consistent on failure.

The behaviour both stores share (search, thresholds, deletes, isolation, model
checks, concurrent writers) is checked on each in test_pgvector_store.py.
"""

from __future__ import annotations

import faiss
import pytest

from core.database import create_db_engine, init_db
from core.faiss_store import FaissVectorStore
from core.vector_chunks import VectorChunk

from .vector_support import DOCS, MODEL, PRICE_QUESTION, add_docs, search

pytestmark = pytest.mark.core


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
def store(engine, embedder, index_dir) -> FaissVectorStore:
    return FaissVectorStore(engine=engine, embedder=embedder, index_dir=index_dir)


@pytest.mark.anyio
async def test_rows_record_the_metadata_and_the_embedding_model(store, engine):
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
    assert {r.embedding_model for r in rows} == {MODEL}


@pytest.mark.anyio
async def test_a_failed_save_rolls_back_rows_and_vectors(store, monkeypatch):
    await add_docs(store)

    def disk_full(index, path):
        raise OSError("No space left on device")

    monkeypatch.setattr(faiss, "write_index", disk_full)
    with pytest.raises(OSError):
        await store.add_documents(documents=["Extra chunk about invoices."], company_id="acme")
    with pytest.raises(OSError):
        await store.replace_document(document_id="handbook", documents=["x"], company_id="acme")
    monkeypatch.undo()

    assert store.count("acme") == len(DOCS)
    results = await search(store, PRICE_QUESTION, k=10, threshold=-1.0)
    assert sorted(r.text for r in results) == sorted(DOCS)


@pytest.mark.anyio
async def test_a_failed_commit_leaves_neither_rows_nor_vectors(
    store, engine, embedder, index_dir, monkeypatch
):
    from sqlmodel import Session

    await add_docs(store)

    def database_error(self):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(Session, "commit", database_error)
    with pytest.raises(RuntimeError):
        await store.replace_document(document_id="handbook", documents=["x"], company_id="acme")
    monkeypatch.undo()

    assert store.count("acme") == len(DOCS)
    reopened = FaissVectorStore(engine=engine, embedder=embedder, index_dir=index_dir)
    for current in (store, reopened):
        results = await search(current, PRICE_QUESTION, k=10, threshold=-1.0)
        assert sorted(r.text for r in results) == sorted(DOCS)


@pytest.mark.anyio
async def test_the_index_is_saved_and_reloaded_by_a_new_store(store, engine, embedder, index_dir):
    ids = await add_docs(store)

    reopened = FaissVectorStore(engine=engine, embedder=embedder, index_dir=index_dir)
    results = await search(reopened, PRICE_QUESTION)

    assert (index_dir / "acme.faiss").is_file()
    assert (index_dir / "acme.meta.json").is_file()
    assert not [p for p in index_dir.iterdir() if p.name.endswith(".tmp")]
    assert reopened.has_index("acme")
    assert results[0].chunk_id == ids[2]
