"""A company's chunks in memory, for the FAISS profile: BM25 keyword search and the term
statistics of the answerability check, kept up to date by deltas.

When both were rebuilt from every chunk, the first question after an upload took 1.4 s at
12,866 chunks (issue 18; `bench/bench_rag.py` prints that turn now). Instead the corpus
reads what changed: chunk ids are never reused and grow with each write, so new chunks are
those above the highest id it holds, and only when the count says some went does it read
the ids to find which. Anything it cannot explain (a count that still disagrees) makes it
read everything again. Ingest refreshes it right after writing (`refresh_company_corpus`),
so the next question finds it current.

On pgvector none of this is used: the database ranks keywords and counts terms.
"""

from __future__ import annotations

import math
import re
import threading
import weakref
from collections import Counter
from collections.abc import Iterable

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from core.vector_store import VectorStoreBackend

from .question_terms import TermStats, content_terms

_WORD = re.compile(r"[a-z0-9]+")


def keyword_terms(text: str) -> list[str]:
    return [word for word in _WORD.findall(text.lower()) if word not in ENGLISH_STOP_WORDS]


class KeywordIndex:
    """Okapi BM25 (k1=1.5, b=0.75) over a company's chunks, in memory, added to and removed
    from one chunk at a time. Weights are computed at query time from the current counts, so
    a change costs the changed chunk's terms, not a pass over the company."""

    def __init__(self, *, k1: float = 1.5, b: float = 0.75) -> None:
        self._k1, self._b = k1, b
        self._postings: dict[str, dict[int, int]] = {}  # term → {chunk id: term frequency}
        self._lengths: dict[int, int] = {}
        self._total_length = 0

    def add(self, chunk_id: int, text: str) -> None:
        terms = Counter(keyword_terms(text))
        for term, tf in terms.items():
            self._postings.setdefault(term, {})[chunk_id] = tf
        self._lengths[chunk_id] = length = sum(terms.values())
        self._total_length += length

    def remove(self, chunk_id: int, text: str) -> None:
        for term in set(keyword_terms(text)):
            postings = self._postings.get(term)
            if postings is not None:
                postings.pop(chunk_id, None)
                if not postings:
                    del self._postings[term]
        self._total_length -= self._lengths.pop(chunk_id, 0)

    def search(self, query: str, *, k: int) -> list[int]:
        """Chunk ids of the `k` best BM25 matches (score > 0), best first."""
        n = len(self._lengths)
        if not n:
            return []
        average = self._total_length / n
        scores: Counter[int] = Counter()
        for term in set(keyword_terms(query)):
            postings = self._postings.get(term, {})
            idf = math.log(1 + (n - len(postings) + 0.5) / (len(postings) + 0.5))
            for chunk_id, tf in postings.items():
                length = self._lengths[chunk_id]
                norm = self._k1 * (1 - self._b + self._b * length / average if average else 1)
                scores[chunk_id] += idf * tf * (self._k1 + 1) / (tf + norm)
        # Ties go to the older chunk, whatever order the postings were built in.
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        return [chunk_id for chunk_id, _ in ranked[:k]]


class CompanyCorpus:
    """A company's chunk texts with their BM25 index and term document frequencies.

    Shared by the requests of a process: changes and reads take its lock.
    """

    def __init__(self, rows: Iterable[tuple[int, str]] = ()) -> None:
        self._lock = threading.Lock()
        self._texts: dict[int, str] = {}
        self._keywords = KeywordIndex()
        self._frequency: Counter[str] = Counter()
        self.apply(rows, removed=())

    @property
    def version(self) -> tuple[int, int]:
        """(chunk count, highest chunk id) of what it holds: the store's `chunk_version`."""
        return len(self._texts), max(self._texts, default=0)

    @property
    def rows(self) -> list[tuple[int, str]]:
        with self._lock:
            return sorted(self._texts.items())

    def apply(self, added: Iterable[tuple[int, str]], *, removed: Iterable[int]) -> None:
        with self._lock:
            for chunk_id in removed:
                text = self._texts.pop(chunk_id, None)
                if text is not None:
                    self._keywords.remove(chunk_id, text)
                    self._frequency.subtract(set(content_terms(text)))
            for chunk_id, text in added:
                if chunk_id in self._texts:
                    continue
                self._texts[chunk_id] = text
                self._keywords.add(chunk_id, text)
                self._frequency.update(set(content_terms(text)))

    def search(self, query: str, *, k: int) -> list[int]:
        with self._lock:
            return self._keywords.search(query, k=k)

    def term_stats(self) -> TermStats:
        """Document frequencies over the company's chunks: a copy, so a concurrent change
        never shows a request half of it."""
        with self._lock:
            frequency = {term: count for term, count in self._frequency.items() if count > 0}
            return TermStats(documents=len(self._texts), frequency=frequency)


_corpora: weakref.WeakKeyDictionary[VectorStoreBackend, dict[str, CompanyCorpus]] = (
    weakref.WeakKeyDictionary()
)
_refreshing = threading.Lock()


def company_corpus(vector_store: VectorStoreBackend, company_id: str) -> CompanyCorpus:
    """The company's corpus, brought up to date with the store (blocking)."""
    companies = _corpora.setdefault(vector_store, {})
    version = vector_store.chunk_version(company_id)
    cached = companies.get(company_id)
    if cached is not None and cached.version == version:
        return cached
    with _refreshing:
        cached = companies.get(company_id)
        if cached is None:
            cached = companies[company_id] = CompanyCorpus(vector_store.chunk_texts(company_id))
        elif cached.version != version:
            _catch_up(cached, vector_store, company_id)
    return cached


def refresh_company_corpus(vector_store: VectorStoreBackend, company_id: str) -> None:
    """After a write: bring a corpus this process holds up to date now, not at the next
    question. A company nobody has asked about yet is left to its first question."""
    if company_id in _corpora.get(vector_store, {}):
        company_corpus(vector_store, company_id)


def _catch_up(corpus: CompanyCorpus, vector_store: VectorStoreBackend, company_id: str) -> None:
    held_count, held_max = corpus.version
    added = vector_store.chunk_texts(company_id, after_id=held_max)
    count, _ = vector_store.chunk_version(company_id)
    removed: set[int] = set()
    if held_count + len(added) != count:  # some went: find which
        current = set(vector_store.chunk_ids(company_id))
        removed = {chunk_id for chunk_id, _ in corpus.rows if chunk_id not in current}
    corpus.apply(added, removed=removed)
    if corpus.version[0] != count:  # a write landed between the reads: read it all again
        fresh = vector_store.chunk_texts(company_id)
        fresh_ids = {chunk_id for chunk_id, _ in fresh}
        corpus.apply(fresh, removed={i for i, _ in corpus.rows if i not in fresh_ids})
