"""Retrieval for one company: vector search, or vector + BM25 fused by reciprocal rank.

Either way the refusal rule is the same cosine-similarity rule: when no chunk of
the company scores `threshold` (0.45) or more against the query embedding —
and no single passage of the retrieved chunks does either (`with_passage_scores`,
the second look that `refusal.gate` describes) — nothing is returned and the
chatbot refuses.

- vector: the `k` chunks with the highest cosine similarity, those below the
  threshold dropped.
- hybrid: the vector ranking and a BM25 keyword ranking (over the same chunks)
  are fused by reciprocal rank (RRF, k=60), and the top `k` are used. The
  threshold gates the query, not each chunk: a chunk that BM25 ranks high for
  an exact term (a product name, a number) is kept even when its embedding is
  less similar. Every chunk still reports its cosine similarity as `score`.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Literal

import anyio
import numpy as np

from core.vector_chunks import SearchResult
from core.vector_store import VectorStoreBackend

from .corpus import CompanyCorpus, company_corpus

RetrievalMode = Literal["vector", "hybrid"]
RETRIEVAL_MODES: tuple[RetrievalMode, ...] = ("vector", "hybrid")
RRF_K = 60
MIN_CANDIDATES = 20

_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Retrieval:
    ranked: list[SearchResult]  # the top k by the mode's ranking, threshold not applied
    best_score: float  # the best cosine similarity of any chunk, -1.0 when there are none
    threshold: float
    mode: RetrievalMode
    corpus: CompanyCorpus | None = None  # read for hybrid ranking; reused after it
    # The best passage's cosine per ranked chunk, when the chunks alone were under the threshold.
    passage_scores: dict[int, float] = field(default_factory=dict)

    @property
    def relevant(self) -> bool:
        return self.best_score >= self.threshold or any(
            score >= self.threshold for score in self.passage_scores.values()
        )

    def above_threshold(self, chunk: SearchResult) -> bool:
        """The chunk, or one of its passages, reaches the threshold."""
        passage = self.passage_scores.get(chunk.chunk_id, -1.0)
        return max(chunk.score, passage) >= self.threshold

    @property
    def chunks(self) -> list[SearchResult]:
        """The chunks to answer from: empty means refuse."""
        if not self.relevant:
            return []
        if self.mode == "vector":
            return [chunk for chunk in self.ranked if self.above_threshold(chunk)]
        return self.ranked

    def with_passage_scores(self, scores: dict[int, float]) -> Retrieval:
        return replace(self, passage_scores=scores)


async def retrieve(
    query: str,
    *,
    company_id: str,
    vector_store: VectorStoreBackend,
    k: int,
    threshold: float,
    mode: RetrievalMode,
    candidates: int | None = None,
) -> Retrieval:
    """Rank the company's chunks for `query`.

    `candidates` is how deep each ranking goes before fusion in hybrid mode.
    """
    embedding = await vector_store.embedder.embed_query(query)
    depth = k if mode == "vector" else max(candidates or 0, k * 5, MIN_CANDIDATES)
    by_vector = await anyio.to_thread.run_sync(
        lambda: vector_store.similarity_search(
            embedding, company_id=company_id, k=depth, threshold=-1.0
        )
    )
    best = by_vector[0].score if by_vector else -1.0
    if mode == "vector":
        return Retrieval(ranked=by_vector[:k], best_score=best, threshold=threshold, mode=mode)

    keywords = getattr(vector_store, "keyword_search", None)
    if keywords is not None:  # pgvector: keyword ranking and fusion in SQL (no corpus read)
        ranked = await anyio.to_thread.run_sync(
            lambda: keywords.fuse(
                query,
                embedding,
                company_id=company_id,
                vector_ids=[hit.chunk_id for hit in by_vector],
                k=k,
                depth=depth,
            )
        )
        return Retrieval(ranked=ranked, best_score=best, threshold=threshold, mode=mode)
    corpus = await anyio.to_thread.run_sync(company_corpus, vector_store, company_id)
    by_keyword = corpus.search(query, k=depth)
    fused = reciprocal_rank_fusion([[hit.chunk_id for hit in by_vector], by_keyword])
    ranked = await _results(fused[:k], by_vector, vector_store, company_id, embedding)
    return Retrieval(ranked=ranked, best_score=best, threshold=threshold, mode=mode, corpus=corpus)


def reciprocal_rank_fusion(rankings: list[list[int]], *, k: int = RRF_K) -> list[int]:
    """Ids ordered by the sum of 1 / (k + rank) over the rankings that contain them."""
    scores: Counter[int] = Counter()
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] += 1.0 / (k + rank)
    return [item for item, _ in sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))]


async def _results(
    chunk_ids: list[int],
    by_vector: list[SearchResult],
    vector_store: VectorStoreBackend,
    company_id: str,
    query_embedding: np.ndarray,
) -> list[SearchResult]:
    """SearchResults for fused ids; keyword-only hits are scored from their stored vectors."""
    known = {hit.chunk_id: hit for hit in by_vector}
    missing = [chunk_id for chunk_id in chunk_ids if chunk_id not in known]
    if missing:
        scored = await anyio.to_thread.run_sync(
            lambda: vector_store.score_chunks(
                query_embedding, company_id=company_id, chunk_ids=missing
            )
        )
        known.update((hit.chunk_id, hit) for hit in scored)
    # A chunk deleted since the keyword index was built is simply skipped.
    return [known[chunk_id] for chunk_id in chunk_ids if chunk_id in known]
