"""On pgvector, hybrid retrieval and the answerability statistics ask PostgreSQL, not a copy.

FAISS builds BM25 and the term statistics from every chunk of the company, read into
the process (`retrieval.company_corpus`); on pgvector the database ranks and counts.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import anyio
import pytest

from core.database import create_db_engine
from core.embedding_client import LocalEmbeddingClient
from core.pgvector_store import PgVectorStore
from tests.core.vector_support import DOCS, PRICE_QUESTION, add_docs
from tests.services import throwaway_database

retrieval = importlib.import_module("assessments.02_rag_chatbot.retrieval")
answerability = importlib.import_module("assessments.02_rag_chatbot.answerability")
question_terms = importlib.import_module("assessments.02_rag_chatbot.question_terms")
term_counts = importlib.import_module("assessments.02_rag_chatbot.term_counts")


@pytest.fixture(scope="module")
def store() -> Iterator[PgVectorStore]:
    embedder = LocalEmbeddingClient(threads=2, batch_size=8)
    with throwaway_database() as url:
        engine = create_db_engine(url)
        store = PgVectorStore(engine=engine, embedder=embedder)
        anyio.run(add_docs, store, "acme")
        yield store
        engine.dispose()


@pytest.fixture
def no_corpus_reads(store: PgVectorStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(company_id: str) -> list[tuple[int, str]]:
        raise AssertionError(f"read every chunk of {company_id}")

    monkeypatch.setattr(store, "chunk_texts", refuse)


@pytest.mark.anyio
async def test_hybrid_retrieval_reads_no_copy_of_the_chunks(store, no_corpus_reads) -> None:
    found = await retrieval.retrieve(
        PRICE_QUESTION,
        company_id="acme",
        vector_store=store,
        k=2,
        threshold=0.45,
        mode="hybrid",
    )

    assert found.ranked[0].text == DOCS[2]
    assert found.corpus is None


def test_term_statistics_from_the_database_match_the_in_memory_ones(store, no_corpus_reads) -> None:
    question = "Are refunds issued for unused products, and is support included?"

    counted = term_counts.database_term_stats(store.keyword_search, "acme", question)

    in_memory = question_terms.TermStats.of(DOCS)
    terms = question_terms.content_terms(question)
    assert counted.documents == in_memory.documents == 4
    assert {term: counted.idf(term) for term in terms} == {
        term: in_memory.idf(term) for term in terms
    }
    assert counted.frequency["support"] == 2
