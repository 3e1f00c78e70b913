"""Keyword search inside PostgreSQL: BM25 over the generated tsvector, fused with the vectors.

The stand-in embedder gives every query the same vector, so the vector ranking cannot
know what a question asks: whatever rises to the top does so by its keywords.
"""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

import core.pg_keyword_search as pg_keyword_search
from core.database import create_db_engine
from core.pgvector_store import PgVectorStore
from tests.services import throwaway_database

from .vector_support import DOCS, FakeEmbedder, add_docs

pytestmark = pytest.mark.core


@pytest.fixture(scope="module")
def store() -> Iterator[PgVectorStore]:
    with throwaway_database() as url:
        engine: Engine = create_db_engine(url)
        store = PgVectorStore(engine=engine, embedder=FakeEmbedder())
        anyio.run(add_docs, store, "acme")
        anyio.run(add_docs, store, "globex")
        yield store
        engine.dispose()


def vector_ranking(store: PgVectorStore, company_id: str) -> tuple[object, list[int]]:
    query = anyio.run(store.embedder.embed_query, "any question")
    hits = store.similarity_search(query, company_id=company_id, k=20, threshold=-1.0)
    return query, [hit.chunk_id for hit in hits]


def test_the_chunk_holding_the_question_words_comes_first(store: PgVectorStore) -> None:
    query, by_vector = vector_ranking(store, "acme")

    ranked = store.keyword_search.fuse(
        "Is your team there on Mondays?",
        query,
        company_id="acme",
        vector_ids=by_vector,
        k=2,
        depth=20,
    )

    assert ranked[0].text == DOCS[0]
    assert by_vector.index(ranked[0].chunk_id) > 0  # not the vectors' choice
    cosine = {
        hit.chunk_id: hit.score
        for hit in store.score_chunks(query, company_id="acme", chunk_ids=by_vector)
    }
    assert [hit.score for hit in ranked] == pytest.approx([cosine[hit.chunk_id] for hit in ranked])


def test_a_rarer_word_outweighs_a_common_one(store: PgVectorStore) -> None:
    query, by_vector = vector_ranking(store, "acme")

    # "support" is in two chunks, "refunds" in one: BM25's idf, which ts_rank_cd lacks.
    ranked = store.keyword_search.fuse(
        "support refunds", query, company_id="acme", vector_ids=by_vector, k=1, depth=20
    )

    assert ranked[0].text == DOCS[1]


def test_fusion_adds_reciprocal_ranks_and_keeps_vector_only_chunks(store: PgVectorStore) -> None:
    query, by_vector = vector_ranking(store, "acme")

    ranked = store.keyword_search.fuse(
        "penguins", query, company_id="acme", vector_ids=by_vector, k=4, depth=20
    )

    # No chunk mentions penguins: the vector ranking stands as it was.
    assert [hit.chunk_id for hit in ranked] == by_vector[:4]


def test_only_the_asking_company_chunks_come_back(store: PgVectorStore) -> None:
    query, by_vector = vector_ranking(store, "acme")
    acme = set(by_vector)

    ranked = store.keyword_search.fuse(
        "headquarters Austin Texas refunds support",
        query,
        company_id="acme",
        vector_ids=[],
        k=10,
        depth=20,
    )

    assert ranked and {hit.chunk_id for hit in ranked} <= acme


def test_query_syntax_in_a_question_is_only_words(store: PgVectorStore) -> None:
    query, by_vector = vector_ranking(store, "acme")

    ranked = store.keyword_search.fuse(
        "refunds & | ! ( ) :* <-> 'Austin' \\",
        query,
        company_id="acme",
        vector_ids=by_vector,
        k=4,
        depth=20,
    )

    assert {hit.text for hit in ranked[:2]} == {DOCS[1], DOCS[3]}


def test_document_frequencies_are_counted_per_company(store: PgVectorStore) -> None:
    anyio.run(add_docs, store, "initech")
    store.delete_document("handbook", company_id="initech")
    anyio.run(
        lambda: store.add_documents(
            documents=[DOCS[0]],
            company_id="initech",
            metadata=[{"document_id": "faq", "source": "faq.md", "chunk_index": 0}],
        )
    )

    acme = store.keyword_search.document_frequencies(
        "acme", [["support"], ["refund", "refunds"], ["penguins"]]
    )
    initech = store.keyword_search.document_frequencies("initech", [["support"], ["refunds"]])

    assert acme == (4, [2, 1, 0])
    assert initech == (1, [1, 0])


def recounted(store: PgVectorStore) -> set[tuple[str, str, int]]:
    with store._engine.connect() as connection:
        return set(
            connection.execute(
                text(
                    "SELECT company_id, lexeme, count(*) FROM pgvector_chunk,"
                    " unnest(tsvector_to_array(text_search)) AS lexeme"
                    " GROUP BY company_id, lexeme"
                )
            ).tuples()
        )


def kept(store: PgVectorStore) -> set[tuple[str, str, int]]:
    with store._engine.connect() as connection:
        return set(
            connection.execute(
                text("SELECT company_id, lexeme, chunks FROM pgvector_term")
            ).tuples()
        )


def test_term_counts_follow_every_write_as_a_recount_would_give_them(
    store: PgVectorStore,
) -> None:
    async def writes() -> None:
        await add_docs(store, "umbrella")
        await store.replace_document(
            document_id="handbook",
            documents=[DOCS[2], "Penguins huddle together through the Antarctic winter."],
            company_id="umbrella",
            metadata=[
                {"document_id": "handbook", "source": "handbook.md", "chunk_index": i}
                for i in range(2)
            ],
        )
        await add_docs(store, "hooli")

    anyio.run(writes)
    assert kept(store) == recounted(store)
    assert ("umbrella", "penguin", 1) in kept(store)
    assert not any(
        company == "umbrella" and lexeme == "refund" for company, lexeme, _ in kept(store)
    )

    store.delete_document("handbook", company_id="umbrella")
    store.delete_company("hooli")

    assert kept(store) == recounted(store)
    assert not any(company in ("umbrella", "hooli") for company, _, _ in kept(store))


def test_with_common_words_only_chunks_holding_a_rarer_one_are_scored(
    store: PgVectorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    query, _ = vector_ranking(store, "acme")

    def keyword_hits() -> list[str]:
        ranked = store.keyword_search.fuse(
            "support refunds", query, company_id="acme", vector_ids=[], k=4, depth=20
        )
        return [hit.text for hit in ranked]

    assert keyword_hits() == [DOCS[1], DOCS[0], DOCS[2]]  # "refunds" first: the rarer word
    monkeypatch.setattr(pg_keyword_search, "KEYWORD_CANDIDATES", 1)
    assert keyword_hits() == [DOCS[1]]
    # "refunds" (1 chunk) fits a budget of 2; "support" (2 more) would cross it: left out,
    # however few chunks the rarer words hold (the big company's 2 s tail, docs/deploy.md).
    monkeypatch.setattr(pg_keyword_search, "KEYWORD_CANDIDATES", 2)
    assert keyword_hits() == [DOCS[1]]


def test_when_every_word_is_too_common_only_the_vector_candidates_are_re_ranked(
    store: PgVectorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = anyio.run(store.embedder.embed_query, "any question")
    hits = store.similarity_search(query, company_id="acme", k=20, threshold=-1.0)
    chunk_id = {hit.text: hit.chunk_id for hit in hits}
    candidates = [chunk_id[DOCS[3]], chunk_id[DOCS[2]]]  # a vector ranking without DOCS[1]

    def fused() -> list[str]:
        ranked = store.keyword_search.fuse(
            "support refunds", query, company_id="acme", vector_ids=candidates, k=4, depth=20
        )
        return [hit.text for hit in ranked]

    assert DOCS[1] in fused()  # "refunds": found by keyword alone
    # "refunds", the rarest word, is in 1 chunk: over a limit of 0, nothing is rare enough.
    monkeypatch.setattr(pg_keyword_search, "KEYWORD_SCAN_LIMIT", 0)
    assert fused() == [DOCS[2], DOCS[3]]  # "support" lifts DOCS[2] over the vectors' first
