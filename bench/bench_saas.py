"""Multi-tenant SaaS figures for this machine, on the local provider, next to their floor.

    .venv/bin/python bench/bench_saas.py [--quick] [--no-postgres]

Starts the backend with uvicorn on loopback, once on SQLite and once on PostgreSQL (a
scratch database on 127.0.0.1:5432, row-level security on), and prints: signed webhook
deliveries accepted per second (20 concurrent senders), events processed per second by
the in-process worker (contact fetched, qualified, score written back to the CRM and the
lead), and the latency and server CPU time of an authenticated, tenant-scoped
`GET /api/03-saas/leads?limit=20` (20 concurrent clients; 100 leads in the tenant, each
with a name, email, company and message); both again with two API processes (`uvicorn
--workers 2`, as compose.yaml runs it, the worker in another process). The floor,
measured in the same run: `bench/bare_app.py` (bare FastAPI: one insert; 20 rows and a
count) under the same load, on SQLite, and for the PostgreSQL rows on PostgreSQL in a
tenant's transaction under row-level security. The load generator is `http_load.py`'s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import psycopg
from http_load import Load, encode, measure
from live_server import LiveServer, load_average, serve
from saas_support import (
    API,
    BenchTenant,
    create_contacts,
    create_tenant,
    scratch_postgres,
    signed,
)
from table import Row, print_table

CONCURRENCY = 20


def backend(
    data_dir: Path, database_url: str | None, *, worker: bool = True, processes: int = 1
) -> AbstractContextManager[LiveServer]:
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
        "SAAS_WEBHOOK_WORKER_ENABLED": str(worker).lower(),
    }
    if database_url:
        settings["DATABASE_URL"] = database_url
    return serve(settings, unset=("OPENAI_API_KEY",), workers=processes)


def bare(data_dir: Path, database_url: str | None) -> AbstractContextManager[LiveServer]:
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = {"DATA_DIR": str(data_dir), "BARE_DATABASE_URL": database_url or ""}
    return serve(settings, app="bare_app:app")


async def deliver(server: LiveServer, count: int) -> tuple[Load, BenchTenant, float]:
    """Signed deliveries from 20 senders to a new tenant: their acceptance, the tenant, and
    when the first was sent (`time.perf_counter`)."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        tenant = create_tenant(client)
        contacts = create_contacts(client, tenant)
    path = f"{API}/webhooks/crm/contact.updated"
    deliveries = [
        signed(tenant.webhook_secret, tenant.id, contacts[i % len(contacts)])
        for i in range(count + CONCURRENCY)
    ]
    started = time.perf_counter()
    accepted = await measure(
        server,
        lambda i: encode(server.port, "POST", path, raw=deliveries[i][0], headers=deliveries[i][1]),
        count=count,
        clients=CONCURRENCY,
        expect=202,
        warmup=CONCURRENCY,
    )
    return accepted, tenant, started


async def webhooks(server: LiveServer, count: int) -> tuple[Load, float]:
    """Deliveries accepted (the load), and events processed per second since the first."""
    accepted, tenant, started = await deliver(server, count)
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        deadline = time.monotonic() + 600
        while True:
            done = (
                await client.get(
                    f"{API}/webhooks/events",
                    headers=tenant.headers,
                    params={"status": "done", "limit": 1},
                )
            ).json()["count"]
            if done >= count + CONCURRENCY or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
    return accepted, done / (time.perf_counter() - started)


async def list_leads(server: LiveServer, count: int) -> Load:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        headers = create_tenant(client).headers
        for i in range(100):
            lead = {
                "name": f"Lead {i}",
                "email": f"lead{i}@bench.example",
                "company": f"Company {i}",
                "message": "Director here; we need this ASAP with a 50k budget.",
            }
            client.post(f"{API}/leads", headers=headers, json=lead).raise_for_status()
    request = encode(server.port, "GET", f"{API}/leads?limit=20", headers=headers)
    return await measure(server, lambda _: request, count=count, clients=CONCURRENCY)


async def floor(data_dir: Path, count: int, database_url: str | None = None) -> tuple[Load, Load]:
    """Bare FastAPI: a read of 20 rows and a count, and one insert, under the same load; on
    PostgreSQL each in a tenant's transaction under row-level security (`bare_app.py`)."""
    with bare(data_dir, database_url) as server:
        for i in range(100):
            httpx.post(f"{server.url}/leads", json={"message": f"lead {i}"}).raise_for_status()
        read = encode(server.port, "GET", "/leads?limit=20")
        reads = await measure(server, lambda _: read, count=count, clients=CONCURRENCY)
        write = encode(server.port, "POST", "/leads", body={"message": "A webhook, say."})
        writes = await measure(
            server, lambda _: write, count=count, clients=CONCURRENCY, expect=201
        )
    return reads, writes


def cpu_and_p99(load: Load) -> str:
    cpu = f"{load.server_cpu_ms:.2f} ms CPU/req, " if load.server_cpu_ms is not None else ""
    return f"{cpu}p99 {load.p(99):.1f} ms"


def ratio(figure: Load, floor_load: Load) -> float | None:
    if figure.server_cpu_ms is None or not floor_load.server_cpu_ms:
        return None
    return figure.server_cpu_ms / floor_load.server_cpu_ms


async def run(
    label: str, data_dir: Path, database_url: str | None, scale: int, floors: tuple[Load, Load]
) -> list[Row]:
    reads_floor, writes_floor = floors
    # On PostgreSQL the floor runs the same statements in a tenant's transaction under RLS.
    under = " under RLS" if database_url else ""
    print(label, flush=True)
    with backend(data_dir, database_url) as server:
        accepted, processed = await webhooks(server, 200 * scale)
        load = load_average()
        print(f"  webhooks accepted   {accepted.summary()}")
        print(f"  webhooks processed  {processed:8.0f} /s  (fetch, qualify, write back)")
        reads = await list_leads(server, 400 * scale)
        print(f"  GET /leads, {CONCURRENCY} clients  {reads.summary()}", flush=True)
    with backend(data_dir / "no-worker", database_url, worker=False) as server:
        alone, _, _ = await deliver(server, 200 * scale)  # the intake path alone
        print(f"  webhooks accepted, no worker in the process  {alone.summary()}", flush=True)
    # compose.yaml's setting: one API process per core.
    with backend(data_dir / "two", database_url, worker=False, processes=2) as server:
        two = await list_leads(server, 400 * scale)
        print(f"  GET /leads, {CONCURRENCY} clients, 2 API processes  {two.summary()}", flush=True)
        two_intake, _, _ = await deliver(server, 200 * scale)
        print(f"  webhooks accepted, 2 API processes  {two_intake.summary()}", flush=True)
    return [
        Row(
            f"A3 `GET /leads`, {CONCURRENCY} clients, {label}",
            cpu_and_p99(reads),
            f"bare FastAPI read{under}: " + cpu_and_p99(reads_floor),
            ratio(reads, reads_floor),
            load_average(),
        ),
        Row(
            f"A3 `GET /leads`, {CONCURRENCY} clients, 2 API processes, {label}",
            cpu_and_p99(two),
            f"bare FastAPI read{under} (1 process): " + cpu_and_p99(reads_floor),
            ratio(two, reads_floor),
            load_average(),
        ),
        Row(
            f"A3 webhook intake, {CONCURRENCY} senders, {label}",
            f"{accepted.per_second:.0f} accepted/s ({cpu_and_p99(accepted)}); "
            f"{processed:.0f} processed/s",
            f"bare FastAPI insert{under}: {writes_floor.per_second:.0f}/s "
            f"({cpu_and_p99(writes_floor)})",
            ratio(accepted, writes_floor),
            load,
        ),
        Row(
            f"A3 webhook intake alone (worker in another process), {label}",
            f"{alone.per_second:.0f} accepted/s ({cpu_and_p99(alone)})",
            f"bare FastAPI insert{under}: {writes_floor.per_second:.0f}/s "
            f"({cpu_and_p99(writes_floor)})",
            ratio(alone, writes_floor),
            load_average(),
        ),
        Row(
            f"A3 webhook intake alone, 2 API processes, {label}",
            f"{two_intake.per_second:.0f} accepted/s ({cpu_and_p99(two_intake)})",
            f"bare FastAPI insert{under} (1 process): {writes_floor.per_second:.0f}/s "
            f"({cpu_and_p99(writes_floor)})",
            ratio(two_intake, writes_floor),
            load_average(),
        ),
    ]


def postgres_missing() -> str | None:
    """Why the PostgreSQL rows cannot run here, or None when they can."""
    try:
        with scratch_postgres():
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL unreachable ({type(exc).__name__})"


async def measure_all(*, quick: bool, postgres: bool = True) -> list[Row]:
    scale = 1 if quick else 5
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        floors = await floor(Path(tmp) / "bare", 400 * scale)
        print(f"floor: bare read  {floors[0].summary()}")
        print(f"floor: bare insert {floors[1].summary()}", flush=True)
        rows += await run("SQLite", Path(tmp) / "sqlite", None, scale, floors)
        reason = postgres_missing() if postgres else "--no-postgres"
        if reason:
            rows += [Row.skip("A3 on PostgreSQL (row-level security)", reason)]
            return rows
        with scratch_postgres() as floor_url:
            floors = await floor(Path(tmp) / "bare-pg", 400 * scale, floor_url)
        print(f"floor: bare read under RLS  {floors[0].summary()}")
        print(f"floor: bare insert under RLS {floors[1].summary()}", flush=True)
        with scratch_postgres() as url:
            rows += await run("PostgreSQL + RLS", Path(tmp) / "pg", url, scale, floors)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests, for a smoke run")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    print_table(asyncio.run(measure_all(quick=args.quick, postgres=not args.no_postgres)))


if __name__ == "__main__":
    main()
