"""What tracing costs the server: CPU time per `POST /api/01-workflow/leads`.

    .venv/bin/python bench/bench_tracing.py [--requests N] [--clients N] [--rounds N]

Three runs of the same backend (a `uvicorn backend.main:app` process, local
providers, SQLite, LOG_LEVEL=WARNING so the access log does not weigh in):

- off: no `OTEL_*` variable (the default);
- no-op exporter: `OTEL_TRACES_EXPORTER=none`: every span is made (FastAPI,
  SQLAlchemy, the pipeline's steps, the AI steps) and dropped;
- OTLP: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` at a sink on localhost
  (`tests/otlp_sink.py`, answering 200), through the SDK's batch processor.

For each, after `warmup` unmeasured requests, `requests` leads are posted by
`clients` keep-alive clients; the server's CPU time (user + system, from
`/proc/<pid>/stat`) is read before and after. The modes alternate for `rounds`
rounds and each figure is the median of its rounds: the machine is shared, and
CPU time per request is the figure that holds up on a busy one.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import httpx
from live_server import serve

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.otlp_sink import OtlpSink  # noqa: E402

LEADS = "/api/01-workflow/leads"
MESSAGES = [
    "Hi, I'm Dana Kim from Lumen Outdoor. We'd like a demo and a quote for 220 seats. "
    "Budget is $50k. Reach me at dana.kim@lumen.example.com or (415) 555-0134.",
    "Our invoices page throws an error since this morning, can someone help? Order 88123.",
    "We run a reseller network in Benelux and would like to talk about a partnership.",
    "Pricing question: what does the enterprise plan cost for 40 users? Budget around 12k.",
]
OTEL_VARIABLES = (
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
)


async def post_leads(url: str, count: int, clients: int) -> None:
    queue = iter(range(count))

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            for n in queue:
                response = await http.post(LEADS, json={"message": MESSAGES[n % len(MESSAGES)]})
                assert response.status_code == 201, response.text

    await asyncio.gather(*(client() for _ in range(clients)))


def cpu_ms_per_request(
    mode: Mapping[str, str], *, requests: int, warmup: int, clients: int
) -> float:
    with tempfile.TemporaryDirectory() as data_dir:
        settings = {
            "DATA_DIR": data_dir,
            "LOAD_SAMPLE_DATA": "false",
            "LLM_PROVIDER": "local",
            "EMBEDDING_PROVIDER": "local",
            "LOG_LEVEL": "WARNING",
            **mode,
        }
        unset = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "REDIS_URL", "CELERY_BROKER_URL")
        with serve(settings, unset=unset + ("DATABASE_URL", *OTEL_VARIABLES)) as server:
            asyncio.run(post_leads(server.url, warmup, clients))
            before = server.cpu_seconds()
            asyncio.run(post_leads(server.url, requests, clients))
            after = server.cpu_seconds()
    if before is None or after is None:
        raise SystemExit("server CPU time is read from /proc: Linux only")
    return (after - before) / requests * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with OtlpSink(keep=False) as sink:
        modes = {
            "off": {},
            "on, no-op exporter": {"OTEL_TRACES_EXPORTER": "none"},
            "on, batch OTLP/HTTP to localhost": {
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": sink.endpoint
            },
        }
        figures: dict[str, list[float]] = {name: [] for name in modes}
        for _ in range(args.rounds):
            for name, mode in modes.items():
                figures[name].append(
                    cpu_ms_per_request(
                        mode, requests=args.requests, warmup=args.warmup, clients=args.clients
                    )
                )
        batches = sink.requests

    print(
        f"POST {LEADS}: server CPU per request, median of {args.rounds} rounds "
        f"({args.requests} requests each after {args.warmup} warm-up, {args.clients} clients)"
    )
    off = statistics.median(figures["off"])
    for name, runs in figures.items():
        median = statistics.median(runs)
        rounds = ", ".join(f"{run:.2f}" for run in runs)
        print(f"  {name:34} {median:6.2f} ms  (+{median - off:5.2f} ms; rounds: {rounds})")
    print(f"  OTLP export requests received by the sink: {batches}")


if __name__ == "__main__":
    main()
