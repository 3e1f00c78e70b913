"""Multi-tenant SaaS figures for this machine, on the local provider.

    .venv/bin/python bench/bench_saas.py [--quick] [--no-postgres]

Starts the backend with uvicorn on loopback, once on SQLite and once on
PostgreSQL (a scratch database on 127.0.0.1:5432, row-level security on), and
prints: signed webhook deliveries accepted per second (20 concurrent senders),
events processed per second by the in-process worker (contact fetched,
qualified, score written back to the CRM and the lead), and the p50/p99
latency of an authenticated, tenant-scoped `GET /api/03-saas/leads`
(20 concurrent clients, 100 leads in the tenant).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
from live_server import percentile, serve
from saas_support import API, create_contacts, create_tenant, scratch_postgres, signed

ROOT = Path(__file__).resolve().parents[1]
CONCURRENCY = 20


def backend(data_dir: Path, database_url: str | None) -> AbstractContextManager[str]:
    settings = {
        "DATA_DIR": str(data_dir),
        "LLM_PROVIDER": "local",
        "EMBEDDING_PROVIDER": "local",
        "LOAD_SAMPLE_DATA": "false",
        "LOG_LEVEL": "WARNING",
        "ENVIRONMENT": "development",
        "SAAS_RATE_LIMITS": json.dumps(
            dict.fromkeys(("starter", "pro", "enterprise"), "1000000/minute")
        ),
        "SAAS_WEBHOOK_BATCH_SIZE": "50",
        "SAAS_WEBHOOK_POLL_SECONDS": "0.2",
    }
    if database_url:
        settings["DATABASE_URL"] = database_url
    return serve(settings, unset=("OPENAI_API_KEY",))


async def webhooks(url: str, count: int) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        tenant = create_tenant(client)
        contacts = create_contacts(client, tenant)
    deliveries = [
        signed(tenant.webhook_secret, tenant.id, contacts[i % len(contacts)]) for i in range(count)
    ]
    queue: asyncio.Queue[tuple[bytes, dict[str, str]]] = asyncio.Queue()
    for delivery in deliveries:
        queue.put_nowait(delivery)

    async def sender(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body, signed_headers = queue.get_nowait()
            response = await client.post(
                f"{API}/webhooks/crm/contact.updated", content=body, headers=signed_headers
            )
            assert response.status_code == 202, response.text

    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        started = time.perf_counter()
        await asyncio.gather(*(sender(client) for _ in range(CONCURRENCY)))
        accepted = time.perf_counter() - started
        deadline = time.monotonic() + 600
        while True:
            done = (
                await client.get(
                    f"{API}/webhooks/events",
                    headers=tenant.headers,
                    params={"status": "done", "limit": 1},
                )
            ).json()["count"]
            if done >= count or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        processed = time.perf_counter() - started
    print(f"  webhooks accepted   {count / accepted:8.0f} /s  ({count} signed deliveries)")
    print(f"  webhooks processed  {done / processed:8.0f} /s  (fetch, qualify, write back)")


async def list_latency(url: str, count: int) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        headers = create_tenant(client).headers
        for i in range(100):
            client.post(f"{API}/leads", headers=headers, json={"name": f"Lead {i}"})
    latencies: list[float] = []
    remaining = [count]

    async def reader(client: httpx.AsyncClient) -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            started = time.perf_counter()
            response = await client.get(f"{API}/leads", headers=headers, params={"limit": 20})
            latencies.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()

    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        for _ in range(20):  # warm-up
            await client.get(f"{API}/leads", headers=headers)
        started = time.perf_counter()
        await asyncio.gather(*(reader(client) for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    print(
        f"  GET /leads, {CONCURRENCY} clients  p50 {percentile(latencies, 50):6.1f} ms   "
        f"p99 {percentile(latencies, 99):6.1f} ms   mean {statistics.fmean(latencies):6.1f} ms   "
        f"{count / elapsed:6.0f} req/s"
    )


async def run(label: str, data_dir: Path, database_url: str | None, scale: int) -> None:
    print(label)
    with backend(data_dir, database_url) as url:
        await webhooks(url, 200 * scale)
        await list_latency(url, 200 * scale)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests, for a smoke run")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    scale = 1 if args.quick else 5
    with tempfile.TemporaryDirectory() as tmp:
        await run("SQLite", Path(tmp) / "sqlite", None, scale)
        if not args.no_postgres:
            with scratch_postgres() as url:
                await run("PostgreSQL (row-level security)", Path(tmp) / "pg", url, scale)


if __name__ == "__main__":
    asyncio.run(main())
