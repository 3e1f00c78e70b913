"""Concurrent document uploads to the RAG chatbot, against a live server on loopback.

    .venv/bin/python bench/bench_uploads.py [--uploads 20] [--copies 1] [--retry] [--base-url URL]

Fires `--uploads` simultaneous `POST /api/02-rag/documents` requests, each with its own
Markdown file (the acme-corp sample Markdown documents joined, `--copies` times: 13 KB and
about 30 chunks per copy; under INGEST_ASYNC_MIN_BYTES, so each is ingested inside its
request).
Prints the status codes, the latency of each kind of answer (min / p50 / p90 / max), the
wall time, and the slowest `GET /health` sent every 250 ms meanwhile: how long the event
loop was kept from other requests.

Without `--base-url` it starts `uvicorn backend.main:app` on a free 127.0.0.1 port (one
worker, local providers, SQLite and FAISS in a temporary folder, no sample data) and stops
it afterwards (the server reads MAX_UPLOADS_IN_FLIGHT and the other settings from this
environment). Uploads that answer 503 (uploads in flight at their bound) are not retried,
unless `--retry`: then each client waits the `Retry-After` it was given and tries again
until it gets another answer, and its latency runs from its first try to that answer.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
from live_server import LiveServer, percentile, serve

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "companies" / "acme-corp"
UPLOAD_PATH = "/api/02-rag/documents"


def backend(data_dir: Path) -> AbstractContextManager[LiveServer]:
    return serve(
        {
            "DATA_DIR": str(data_dir),
            "DATABASE_URL": f"sqlite:///{data_dir / 'app.db'}",
            "LLM_PROVIDER": "local",
            "EMBEDDING_PROVIDER": "local",
            "LOAD_SAMPLE_DATA": "false",
            "ENVIRONMENT": "development",
            "LOG_LEVEL": "WARNING",
        }
    )


def documents(count: int, copies: int) -> list[tuple[str, bytes]]:
    text = "\n\n".join(path.read_text(encoding="utf-8") for path in sorted(SAMPLES.glob("*.md")))
    return [
        (f"upload-{i:02d}.md", f"# Upload {i}\n\n{text * copies}".encode()) for i in range(count)
    ]


async def upload(
    client: httpx.AsyncClient,
    url: str,
    name: str,
    data: bytes,
    *,
    start: asyncio.Event,
    retry: bool,
) -> tuple[int, float, int]:
    """Status, seconds from the first try to the last answer, and the number of tries."""
    await start.wait()
    began = time.perf_counter()
    tries = 0
    while True:
        tries += 1
        response = await client.post(
            f"{url}{UPLOAD_PATH}",
            data={"company_id": "bench-uploads"},
            files={"files": (name, data, "text/markdown")},
        )
        if not (retry and response.status_code == 503):
            return response.status_code, time.perf_counter() - began, tries
        await asyncio.sleep(float(response.headers.get("retry-after", "1")))


async def probe_health(client: httpx.AsyncClient, url: str, stop: asyncio.Event) -> list[float]:
    latencies = []
    while not stop.is_set():
        began = time.perf_counter()
        await client.get(f"{url}/health")
        latencies.append(time.perf_counter() - began)
        await asyncio.sleep(0.25)
    return latencies


async def run(url: str, count: int, copies: int, retry: bool) -> None:
    files = documents(count, copies)
    # Idle connections closed before uvicorn's 5 s keep-alive does, or a retry after a 5 s
    # Retry-After races the server closing the connection it reuses.
    limits = httpx.Limits(max_connections=count + 1, keepalive_expiry=2)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:
        start, stop = asyncio.Event(), asyncio.Event()
        prober = asyncio.create_task(probe_health(client, url, stop))
        tasks = [
            asyncio.create_task(upload(client, url, n, d, start=start, retry=retry))
            for n, d in files
        ]
        await asyncio.sleep(0.2)  # every upload waits at the start line
        began = time.perf_counter()
        start.set()
        results = await asyncio.gather(*tasks)
        wall = time.perf_counter() - began
        stop.set()
        health = await prober

    size = len(files[0][1])
    print(f"{count} concurrent uploads of {size / 1024:.0f} KB each to {url}{UPLOAD_PATH}")
    print(f"  wall time {wall:.1f} s" + (f", {sum(r[2] for r in results)} tries" if retry else ""))
    for status, n in sorted(Counter(status for status, _, _ in results).items()):
        seconds = [latency for code, latency, _ in results if code == status]
        print(
            f"  {status}: {n:>2}   latency min {min(seconds):.2f} s  p50 "
            f"{statistics.median(seconds):.2f} s  p90 {percentile(seconds, 90):.2f} s  "
            f"max {max(seconds):.2f} s"
        )
    if health:
        print(
            f"  GET /health meanwhile: {len(health)} probes, p50 "
            f"{statistics.median(health) * 1000:.0f} ms, max {max(health) * 1000:.0f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=20, help="simultaneous uploads")
    parser.add_argument("--copies", type=int, default=1, help="sample texts per document")
    parser.add_argument("--retry", action="store_true", help="retry 503s after Retry-After")
    parser.add_argument("--base-url", help="a running server (default: start one)")
    args = parser.parse_args()
    if args.base_url:
        asyncio.run(run(args.base_url.rstrip("/"), args.uploads, args.copies, args.retry))
        return
    with tempfile.TemporaryDirectory() as tmp, backend(Path(tmp)) as server:
        asyncio.run(run(server.url, args.uploads, args.copies, args.retry))


if __name__ == "__main__":
    main()
