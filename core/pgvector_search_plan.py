"""How the pgvector store finds a company's nearest chunks: exactly, or through HNSW.

The company filter is always inside the query, and a company that has at least k chunks
always gets k rows (before the threshold), never another company's. Which way they are
found depends on the company's size and share of the table (figures:
bench/bench_vector_search.py, bench/bench_pgvector_scale.py):
- exact search, for companies up to `EXACT_SEARCH_MAX_CHUNKS` chunks or under
  `HNSW_MIN_SHARE` of the table: the query orders by an expression the HNSW index does
  not cover, so PostgreSQL reads the company's rows through the `company_id` index and
  sorts them by distance. The FAISS result, and, when the filter is selective, faster and
  better than a graph built for all companies: at 1% of the table a filtered HNSW scan
  found 76% of the true top 10, slower than exact search.
- the HNSW index otherwise, with `hnsw.ef_search = max(HNSW_EF_SEARCH, k)` and, on
  pgvector 0.8+, `hnsw.iterative_scan = relaxed_order`: the scan goes on past ef_search
  candidates until k rows of the company are found, then the rows are put back in exact
  distance order. If the scan still comes back short (pgvector < 0.8, or
  `hnsw.max_scan_tuples` reached), the store asks the exact statement instead.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pgvector.sqlalchemy import VECTOR
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

EXACT_SEARCH_MAX_CHUNKS = 10_000
HNSW_MIN_SHARE = 0.05  # of the table's rows (pg_class.reltuples, kept by ANALYZE)
# pgvector's upper bound. In bench/bench_pgvector_scale.py's data (2026-12-05), for a company
# of 200,000 of 1,000,000 vectors, recall@10 was 0.827 at 200 and 0.974 at 1,000 (p50 10.5 →
# 19.9 ms); at 60,000 of 300,000, 0.952 and 1.000. Small companies never reach this path.
HNSW_EF_SEARCH = 1000
HNSW_MAX_EF_SEARCH = 1000  # pgvector's upper bound for hnsw.ef_search
ITERATIVE_SCAN_PGVECTOR = (0, 8, 0)

# set_config(..., true) is SET LOCAL: for this transaction only. psycopg prepares statements
# that run often, and PostgreSQL may then reuse a generic plan made under other settings and
# for another company: force_custom_plan plans each search for its own company and settings.
HNSW_SCAN = text(
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
    "set_config('hnsw.ef_search', :ef_search, true)"
)
ITERATIVE_HNSW_SCAN = text(
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
    "set_config('hnsw.ef_search', :ef_search, true), "
    "set_config('hnsw.iterative_scan', 'relaxed_order', true)"
)


def walks_hnsw(chunks: int, table_rows: float, k: int) -> bool:
    """Whether a company of `chunks` in a table of `table_rows` is searched through HNSW."""
    # reltuples is -1 before the first ANALYZE: then count the company as the whole table.
    share = chunks / max(table_rows, chunks, 1)
    return chunks > EXACT_SEARCH_MAX_CHUNKS and share >= HNSW_MIN_SHARE and k <= HNSW_MAX_EF_SEARCH


def prepare_hnsw_scan(connection: Connection, pgvector_version: tuple[int, ...], k: int) -> None:
    """This transaction's HNSW settings: ef_search, and the iterative scan where it exists."""
    scan = ITERATIVE_HNSW_SCAN if pgvector_version >= ITERATIVE_SCAN_PGVECTOR else HNSW_SCAN
    connection.execute(scan, {"ef_search": str(max(HNSW_EF_SEARCH, k))})


@cache
def search_statement(dimension: int, *, exact: bool) -> Any:
    """The k nearest chunks of one company, by the HNSW index or exactly.

    The HNSW index covers `CAST(embedding AS vector(N))`; the exact statement orders by
    the plain column, which the index cannot serve, so it is exact whatever plan
    PostgreSQL picks or has cached.
    """
    vector_type = "vector" if exact else f"vector({int(dimension)})"
    return text(
        # MATERIALIZED keeps the LIMIT next to the index scan; the outer ORDER BY restores
        # exact order after a relaxed iterative scan.
        "WITH nearest AS MATERIALIZED ("
        " SELECT id, text, document_id, source, chunk_index, metadata,"
        f" CAST(embedding AS {vector_type}) <=> CAST(:query AS {vector_type}) AS distance"
        " FROM pgvector_chunk"
        f" WHERE company_id = :company_id AND vector_dims(embedding) = {int(dimension)}"
        " ORDER BY distance LIMIT :k"
        ") SELECT id, text, document_id, source, chunk_index, metadata,"
        " 1 - distance AS score FROM nearest ORDER BY distance, id"
    ).bindparams(bindparam("query", type_=VECTOR()))
