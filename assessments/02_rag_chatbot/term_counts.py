"""The answerability check's term statistics, counted by PostgreSQL (the pgvector profile).

On FAISS the statistics are built in memory from every chunk of the company
(`corpus.py`). On pgvector the database keeps them (`pgvector_term`: per company and
lexeme, the chunks whose `text_search` holds it) and this reads the question's terms
only (all the check weighs): per term, the chunks holding the lexeme of its words.
PostgreSQL's English stemmer decides what a word matches there, so a count can differ a
little from the in-memory one (which uses `question_terms.stem`): "pricing" and "price"
meet in both.
"""

from __future__ import annotations

import re

from core.pg_keyword_search import PgKeywordSearch

from .question_terms import TermStats, content_terms

_WORD = re.compile(r"[a-z0-9']+")


def database_term_stats(keywords: PgKeywordSearch, company_id: str, question: str) -> TermStats:
    """Document frequencies of the question's terms over the company's chunks (blocking)."""
    words_by_term: dict[str, list[str]] = {}
    for word in _WORD.findall(question.lower().replace("’", "'")):
        for term in content_terms(word):
            words_by_term.setdefault(term, []).append(word)
    documents, counts = keywords.document_frequencies(company_id, list(words_by_term.values()))
    return TermStats(documents=documents, frequency=dict(zip(words_by_term, counts, strict=True)))
