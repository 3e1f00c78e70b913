"""Lead-workflow figures for this machine, on the local provider.

    .venv/bin/python bench/bench_workflow.py [--quick]

Prints leads per second through the pipeline in-process (classify, decide,
extract, validate, persist to SQLite with the audit trail), the slowest of some
adversarial 10,000-character messages, then starts the
backend with uvicorn on loopback and prints the p50/p99 latency of
`POST /api/01-workflow/leads` at 20 concurrent clients, and leads per second
through `POST /api/01-workflow/leads/batch`.
Targets (issue 4): p99 under 50 ms, at least 200 leads/s through the batch endpoint.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.database import create_db_engine, init_db  # noqa: E402
from tests.support import make_settings  # noqa: E402

classifier = importlib.import_module("assessments.01_workflow_automation.classifier")
schemas = importlib.import_module("assessments.01_workflow_automation.schemas")
services = importlib.import_module("assessments.01_workflow_automation.services")

CONCURRENCY = 20


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def messages(count: int) -> list[str]:
    texts, _ = classifier.read_labeled(classifier.LEADS_DATA_DIR / "intent_test.csv")
    return [texts[i % len(texts)] for i in range(count)]


async def in_process(count: int, data_dir: Path) -> None:
    settings = make_settings(data_dir)
    engine = create_db_engine(settings.database_url)
    init_db(engine)
    classifier.local_intent_model()
    leads = [schemas.LeadCreate(message=text) for text in messages(count)]
    started, cpu_started = time.perf_counter(), time.process_time()
    with Session(engine) as session:
        for index, lead_in in enumerate(leads):
            processed = await services.process_lead(
                lead_in, llm=None, settings=settings, request_id=f"bench-{index}"
            )
            services.persist_lead(session, processed)
    elapsed = time.perf_counter() - started
    cpu_ms = (time.process_time() - cpu_started) / count * 1000
    print(
        f"in-process pipeline      {count / elapsed:8.0f} leads/s  "
        f"({count} leads, SQLite; {cpu_ms:.1f} ms CPU per lead)"
    )
    engine.dispose()


def worst_case_messages() -> None:
    """The slowest of some adversarial 10,000-character messages, through the local steps."""
    extraction = importlib.import_module("assessments.01_workflow_automation.extraction")
    model = classifier.local_intent_model()
    patterns = ["1 ", "A", "$1,", "(415) 555-0134 ", "a@", "1.000.", "— Ab", "I'm Ab Cd "]
    timings = {}
    for pattern in patterns:
        text = (pattern * 10_000)[:10_000]
        started = time.perf_counter()
        extraction.extract_fields_local(text)
        model.predict([text])
        timings[pattern] = (time.perf_counter() - started) * 1000
    slowest = max(timings, key=timings.__getitem__)
    print(f"worst 10k-char message   {timings[slowest]:8.1f} ms     (pattern {slowest!r} repeated)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_backend(data_dir: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "LLM_PROVIDER": "local",
        "EMBEDDING_PROVIDER": "local",
        "LOAD_SAMPLE_DATA": "false",
        "LOG_LEVEL": "WARNING",
        "ENVIRONMENT": "development",
    }
    env.pop("OPENAI_API_KEY", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "backend.main:app", "--port", str(port)]
        + ["--host", "127.0.0.1", "--log-level", "warning", "--no-access-log"],
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise RuntimeError("the backend did not start")


async def post_latency(url: str, count: int) -> None:
    texts = messages(count)
    latencies: list[float] = []
    queue: asyncio.Queue[str] = asyncio.Queue()
    for text in texts:
        queue.put_nowait(text)

    async def client_loop(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            text = queue.get_nowait()
            started = time.perf_counter()
            response = await client.post("/api/01-workflow/leads", json={"message": text})
            latencies.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()

    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        for _ in range(20):  # warm-up
            await client.post("/api/01-workflow/leads", json={"message": texts[0]})
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    print(
        f"POST /leads, {CONCURRENCY} clients  p50 {percentile(latencies, 50):6.1f} ms   "
        f"p99 {percentile(latencies, 99):6.1f} ms   mean {statistics.fmean(latencies):6.1f} ms   "
        f"{count / elapsed:6.0f} req/s  ({count} requests)"
    )


def batch_throughput(url: str, batches: int, size: int) -> None:
    texts = messages(batches * size)
    with httpx.Client(base_url=url, timeout=300) as client:
        started = time.perf_counter()
        for index in range(batches):
            chunk = texts[index * size : (index + 1) * size]
            response = client.post(
                "/api/01-workflow/leads/batch", json=[{"message": text} for text in chunk]
            )
            response.raise_for_status()
        elapsed = time.perf_counter() - started
    total = batches * size
    print(f"POST /leads/batch        {total / elapsed:8.0f} leads/s  ({batches} × {size} leads)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer leads, for a smoke run")
    args = parser.parse_args()
    scale = 1 if args.quick else 5
    with tempfile.TemporaryDirectory() as tmp:
        await in_process(200 * scale, Path(tmp) / "in-process")
        worst_case_messages()
        server, url = start_backend(Path(tmp) / "server")
        try:
            await post_latency(url, 200 * scale)
            batch_throughput(url, batches=scale, size=200)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    asyncio.run(main())
