"""Lead-workflow figures for this machine, on the local provider.

    .venv/bin/python bench/bench_workflow.py [--quick] [--requests N] [--clients N ...]
        [--log-level LEVEL] [--database-url URL [--workers N]]

Prints, in order:

1. Leads per second through the pipeline in-process (classify, decide, extract,
   validate, persist to SQLite with the audit trail) and the CPU time per lead.
2. The slowest of some adversarial 10,000-character messages.
3. `POST /api/01-workflow/leads` over HTTP on loopback at 20 concurrent clients:
   p50/p95/p99/max latency, requests per second, and the CPU time the server
   process spent per request.
4. Leads per second through `POST /api/01-workflow/leads/batch`.

Targets (issue 4): p99 under 50 ms at 20 clients, at least 200 leads/s through
the batch endpoint.

How the HTTP figures are measured. The backend runs as `make demo` runs it: a
separate `uvicorn backend.main:app` process, one worker, local providers, the
default log level (INFO, so the access log is written; to a file here), no
sample data. The load generator is this process: 20 closed-loop clients on one
asyncio loop, each with its own keep-alive HTTP/1.1 connection, each sending
its next request as soon as the previous answer is read. The client speaks just
enough HTTP for this (`_Connection`: pre-encoded requests, `Content-Length`
responses), so it takes as little as it can of the cores it shares with the
server; it prints its own CPU time per request. Each request is timed from just
before its bytes are written to just after its whole body is read. A warm-up of
`warmup` requests over all 20 connections is answered first and not measured;
then exactly `requests` requests (2,000 by default) are measured. Every answer
must be a 201 with a new lead id (no lost or merged leads). The messages are
the labeled test messages, in turn, so consecutive requests differ. The
server's CPU time comes from `/proc/<pid>/stat` before and after the measured
requests (Linux; omitted elsewhere); it is the figure to compare between runs
on a busy machine, where latencies say more about the neighbours than about
the server. The load generator's garbage collector is off while it measures:
this process also holds the pipeline's models, and a full collection of its
heap stalled all 20 clients at once, which showed as server latency. The
"server-side" line is each measured request's `latency_ms` from the access log
(outermost middleware to the response handed to uvicorn): the service time,
without the wait for the event loop to get to the request.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import importlib.util
import json
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

from live_server import process_cpu_seconds  # noqa: E402

from core.database import WalCheckpointer, create_db_engine, init_db  # noqa: E402
from tests.support import make_settings  # noqa: E402

classifier = importlib.import_module("assessments.01_workflow_automation.classifier")
schemas = importlib.import_module("assessments.01_workflow_automation.schemas")
services = importlib.import_module("assessments.01_workflow_automation.services")

CONCURRENCY = 20
LEADS_PATH = "/api/01-workflow/leads"


def describe_machine() -> str:
    """Cores, load average, and the HTTP stack uvicorn picks (the fast one when installed)."""
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"{os.cpu_count()} cores, load average {load}; uvicorn http={http} loop={loop}"


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
    checkpointer = WalCheckpointer(engine)  # as the API server runs SQLite
    checkpointer.start()
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
    checkpointer.stop()
    print(
        f"in-process pipeline      {count / elapsed:8.0f} leads/s  "
        f"({count} leads, SQLite; {cpu_ms:.2f} ms CPU per lead)"
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


# --- the server --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_backend(
    data_dir: Path, log_level: str, *, workers: int = 1, database_url: str | None = None
) -> tuple[subprocess.Popen, int, Path]:
    """`uvicorn backend.main:app` as `make demo` starts it, on a free port; its log to a file.

    With `database_url` (PostgreSQL) the backend runs the production profile's storage
    (`DATABASE_URL`, `VECTOR_STORE=pgvector`), which allows several `workers`.
    """
    port = _free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "server.log"
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "LLM_PROVIDER": "local",
        "EMBEDDING_PROVIDER": "local",
        "LOAD_SAMPLE_DATA": "false",
        "LOG_LEVEL": log_level,
        "ENVIRONMENT": "development",
    }
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "DATABASE_URL", "CELERY_BROKER_URL"):
        env.pop(name, None)
    if database_url:
        env.update(DATABASE_URL=database_url, VECTOR_STORE="pgvector")
    with log_path.open("wb") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "backend.main:app", "--port", str(port)]
            + ["--host", "127.0.0.1", "--workers", str(workers)],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server, port, log_path
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.terminate()
    server.wait(timeout=30)
    sys.stderr.write(log_path.read_text(errors="replace")[-4000:])
    raise RuntimeError("the backend did not start")


# --- the load generator ------------------------------------------------------------------------


class _Connection:
    """One keep-alive HTTP/1.1 connection, with just enough protocol for this benchmark.

    Requests are sent pre-encoded; a response must carry `Content-Length` (FastAPI's JSON
    responses do). No redirects, no chunked bodies, no reconnects: anything else is an error.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> _Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise RuntimeError(f"HTTP {status} without Content-Length")
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def encode_post(port: int, path: str, body: dict) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def closed_loop(
    connections: Sequence[_Connection], requests: Sequence[bytes]
) -> tuple[list[float], list[str]]:
    """Send every request, each client taking the next one when its last answer is in."""
    latencies: list[float] = []
    lead_ids: list[str] = []
    pending = iter(requests)

    async def client(connection: _Connection) -> None:
        for request in pending:
            started = time.perf_counter()
            status, body = await connection.send(request)
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 201:
                raise RuntimeError(f"POST /leads answered {status}: {body[:300]!r}")
            lead_ids.append(json.loads(body)["id"])

    await asyncio.gather(*(client(connection) for connection in connections))
    return latencies, lead_ids


def server_side_ms(log_path: Path, count: int) -> list[float]:
    """`latency_ms` of the last `count` POST /leads lines of the server's access log.

    That is the time from the outermost middleware receiving the request to its
    response being handed to uvicorn: the service time, without the time a request
    waited for the event loop to get to it. Empty when the log is not JSON lines
    (`LOG_LEVEL` above INFO, say).
    """
    times = []
    for line in log_path.read_text(errors="replace").splitlines():
        if LEADS_PATH not in line or not line.startswith("{"):
            continue
        entry = json.loads(line)
        request = (entry.get("event"), entry.get("method"), entry.get("path"))
        if request == ("request", "POST", LEADS_PATH):
            times.append(float(entry["latency_ms"]))
    return times[-count:] if len(times) >= count else []


async def post_latency(
    port: int,
    server_pid: int,
    count: int,
    warmup: int,
    clients: int = CONCURRENCY,
    log_path: Path | None = None,
) -> None:
    texts = messages(warmup + count)
    requests = [encode_post(port, LEADS_PATH, {"message": text}) for text in texts]
    connections = [await _Connection.open(port) for _ in range(clients)]
    try:
        await closed_loop(connections, requests[:warmup])
        # This process holds the pipeline's models too (the in-process figure): a full
        # collection of its heap would stall all clients at once and count as server latency.
        gc.collect()
        gc.disable()
        server_cpu = process_cpu_seconds(server_pid)
        client_cpu = time.process_time()
        started = time.perf_counter()
        latencies, lead_ids = await closed_loop(connections, requests[warmup:])
        elapsed = time.perf_counter() - started
        client_cpu = time.process_time() - client_cpu
        server_cpu_end = process_cpu_seconds(server_pid)
    finally:
        gc.enable()
        for connection in connections:
            await connection.close()
    if len(set(lead_ids)) != count:
        raise RuntimeError(f"{count} requests stored {len(set(lead_ids))} distinct leads")
    print(
        f"POST /leads, {clients} clients  p50 {percentile(latencies, 50):6.1f} ms   "
        f"p95 {percentile(latencies, 95):6.1f} ms   p99 {percentile(latencies, 99):6.1f} ms   "
        f"max {max(latencies):6.1f} ms   mean {statistics.fmean(latencies):6.1f} ms"
    )
    server = ""
    if server_cpu is not None and server_cpu_end is not None:
        server = f"server CPU {(server_cpu_end - server_cpu) / count * 1000:.2f} ms per request; "
    print(
        f"                         {count / elapsed:8.0f} req/s    ({count} requests after "
        f"{warmup} warm-up; {server}load generator {client_cpu / count * 1000:.2f} ms)"
    )
    served = server_side_ms(log_path, count) if log_path else []
    if served:
        print(
            f"                         server-side p50 {percentile(served, 50):.2f} ms   "
            f"p99 {percentile(served, 99):.2f} ms   max {max(served):.2f} ms   "
            f"(access log: the rest of each latency is the wait for the server)"
        )


def batch_throughput(port: int, batches: int, size: int) -> None:
    texts = messages(batches * size)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300) as client:
        started = time.perf_counter()
        for index in range(batches):
            chunk = texts[index * size : (index + 1) * size]
            response = client.post(f"{LEADS_PATH}/batch", json=[{"message": t} for t in chunk])
            response.raise_for_status()
        elapsed = time.perf_counter() - started
    total = batches * size
    print(f"POST /leads/batch        {total / elapsed:8.0f} leads/s  ({batches} × {size} leads)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer leads, for a smoke run")
    parser.add_argument("--requests", type=int, help="measured POST /leads (default 2000)")
    parser.add_argument(
        "--clients",
        type=int,
        nargs="+",
        default=[CONCURRENCY],
        help="concurrent clients; several values measure each in turn (default 20)",
    )
    parser.add_argument(
        "--log-level", default="INFO", help="the server's LOG_LEVEL (default INFO, as make demo)"
    )
    parser.add_argument(
        "--database-url",
        help="PostgreSQL for the server (production profile: DATABASE_URL, VECTOR_STORE=pgvector)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes (needs --database-url)"
    )
    args = parser.parse_args()
    if args.workers > 1 and not args.database_url:
        parser.error("--workers > 1 needs --database-url: the embedded FAISS store is per process")
    scale = 1 if args.quick else 5
    requests = args.requests or (400 if args.quick else 2000)
    print(describe_machine())
    storage = "PostgreSQL + pgvector" if args.database_url else "SQLite + FAISS"
    print(f"server: {args.workers} uvicorn worker(s), {storage}")
    with tempfile.TemporaryDirectory() as tmp:
        await in_process(200 * scale, Path(tmp) / "in-process")
        worst_case_messages()
        server, port, log_path = start_backend(
            Path(tmp) / "server",
            args.log_level,
            workers=args.workers,
            database_url=args.database_url,
        )
        try:
            for clients in args.clients:
                await post_latency(
                    port,
                    server.pid,
                    requests,
                    warmup=max(100, requests // 10),
                    clients=clients,
                    log_path=log_path,
                )
            batch_throughput(port, batches=scale, size=200)
            print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    asyncio.run(main())
