"""Every benchmark in one run, and one table: each path, its floor, the ratio, the load.

    make bench            # quick: a few minutes
    make bench FULL=1     # full sizes: the figures README quotes
    .venv/bin/python bench/run_all.py [--quick] [--only NAME ...]

Each part measures its path and the floor it is compared with in the same run, on
the same machine, under the same load: bare FastAPI (`bare_app.py`) for the HTTP
paths, the raw embedding model for ingest, the warm service for the first chat turn,
each company's raw FAISS index for tenant search. The ratio is figure over floor
(CPU time per request where both have it: on a shared machine it moves far less
than latency). The load column is the 1-minute load average over the cores when
the row was measured. A part whose server is missing here (PostgreSQL, pgvector,
RabbitMQ) gives a row that says why it was skipped; a part that fails gives a row
with the error, and the others still run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from table import Row, print_table  # noqa: E402


def workflow(quick: bool) -> list[Row]:
    import bench_workflow

    return asyncio.run(bench_workflow.measure_all(quick=quick))


def saas(quick: bool) -> list[Row]:
    import bench_saas

    return asyncio.run(bench_saas.measure_all(quick=quick))


def rag(quick: bool) -> list[Row]:
    import bench_rag

    chunks, questions = (1_000, 20) if quick else (10_000, 50)
    return asyncio.run(bench_rag.measure_all(chunks, questions))


def vector_search(quick: bool) -> list[Row]:
    import bench_vector_search

    return bench_vector_search.measure_all(
        chunks=20_000 if quick else 100_000,
        queries=100 if quick else 400,
        companies=(1, 100, 1000),
        ef_values=() if quick else (40, 200),
    )


def celery(quick: bool) -> list[Row]:
    import bench_celery

    return bench_celery.measure_all(
        events=100 if quick else 300, worker_counts=(1,) if quick else (1, 2)
    )


PARTS: dict[str, Callable[[bool], list[Row]]] = {
    "workflow": workflow,
    "saas": saas,
    "rag": rag,
    "vector_search": vector_search,
    "celery": celery,
}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs: a few minutes")
    parser.add_argument("--only", nargs="+", choices=sorted(PARTS), help="these parts only")
    args = parser.parse_args()
    started = time.perf_counter()
    rows: list[Row] = []
    for name in args.only or PARTS:
        print(f"\n=== {name} ===", flush=True)
        try:
            rows += PARTS[name](args.quick)
        except Exception as exc:
            traceback.print_exc()
            rows.append(Row.skip(name, f"failed: {type(exc).__name__}: {exc}"))
    print(
        f"\n{'Quick' if args.quick else 'Full'} run of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        f"on {machine()}, {time.perf_counter() - started:.0f} s\n"
    )
    print_table(rows)


if __name__ == "__main__":
    main()
