"""What only the FAISS store does: index files next to SQL rows, kept consistent on failure.

The behaviour both stores share (search, thresholds, deletes, isolation, model
checks, concurrent writers) is checked on each in test_pgvector_store.py.
"""

from __future__ import annotations

import anyio
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


class Crash(Exception):
    """The process dies: nothing after this point runs."""


@pytest.fixture
def crash_before_commit(index_dir, monkeypatch):
    """Run a write that dies between saving the index and committing its rows.

    The rows roll back as they would after a crash; the index files are put back as the
    write had saved them, before the in-memory undo could save them again.
    """

    saved: dict = {}

    def die(self, session):
        saved.update({path: path.read_bytes() for path in index_dir.iterdir()})
        monkeypatch.undo()
        raise Crash

    async def write(call):
        monkeypatch.setattr(FaissVectorStore, "_commit_rows", die)
        with pytest.raises(Crash):
            await call()
        for path, data in saved.items():
            path.write_bytes(data)

    return write


def _index_ids(index_dir, company_id="acme"):
    index = faiss.read_index(str(index_dir / f"{company_id}.faiss"))
    return sorted(faiss.vector_to_array(index.id_map).tolist())


def _row_ids(engine, company_id="acme"):
    from sqlmodel import Session, select

    with Session(engine) as session:
        statement = select(VectorChunk.id).where(VectorChunk.company_id == company_id)
        return sorted(session.exec(statement))


@pytest.mark.anyio
async def test_a_crash_before_a_replace_commits_keeps_the_old_document_searchable(
    store, engine, embedder, index_dir, crash_before_commit
):
    await add_docs(store)

    await crash_before_commit(
        lambda: store.replace_document(
            document_id="handbook", documents=["Penguins huddle together."], company_id="acme"
        )
    )
    crashed_on_disk = _index_ids(index_dir)
    restarted = FaissVectorStore(engine=engine, embedder=embedder, index_dir=index_dir)
    results = await search(restarted, PRICE_QUESTION, k=10, threshold=-1.0)

    assert len(crashed_on_disk) == len(DOCS) + 1
    assert sorted(r.text for r in results) == sorted(DOCS)
    assert _index_ids(index_dir) == _row_ids(engine)


@pytest.mark.anyio
async def test_after_a_crash_before_commit_the_next_chunk_is_found_by_its_own_vector(
    store, engine, embedder, index_dir, crash_before_commit
):
    # The rolled-back insert gives its id back: the next chunk gets the orphan vector's id.
    await crash_before_commit(
        lambda: store.add_documents(documents=["Penguins huddle together."], company_id="acme")
    )
    restarted = FaissVectorStore(engine=engine, embedder=embedder, index_dir=index_dir)
    [chunk_id] = await restarted.add_documents(documents=[DOCS[2]], company_id="acme")
    penguin_hits = await search(restarted, "How do penguins keep warm?", k=4, threshold=0.3)
    price_hits = await search(restarted, PRICE_QUESTION)

    assert penguin_hits == []
    assert [(r.chunk_id, r.text) for r in price_hits] == [(chunk_id, DOCS[2])]
    assert _index_ids(index_dir) == _row_ids(engine) == [chunk_id]


@pytest.mark.anyio
async def test_a_crash_before_a_delete_commits_changes_nothing(
    store, engine, embedder, index_dir, crash_before_commit
):
    await add_docs(store)

    await crash_before_commit(lambda: anyio.to_thread.run_sync(_delete_handbook, store))
    restarted = FaissVectorStore(engine=engine, embedder=embedder, index_dir=index_dir)
    results = await search(restarted, PRICE_QUESTION, k=10, threshold=-1.0)

    assert sorted(r.text for r in results) == sorted(DOCS)
    assert _index_ids(index_dir) == _row_ids(engine)


def _delete_handbook(store):
    return store.delete_document("handbook", company_id="acme")
