"""Webhook events processed per second by 1 and 2 Celery worker processes (RabbitMQ, PostgreSQL).

    .venv/bin/python bench/bench_celery.py [--events 300] [--workers 1 2] [--quick]

Needs PostgreSQL (127.0.0.1:5432; a scratch database is created and dropped) and RabbitMQ
(127.0.0.1:5672; a queue of its own, deleted after). For each worker count: the API (in
this process, local provider) accepts `--events` signed deliveries for 20 CRM contacts,
storing and publishing each; then that many `celery -A backend.worker worker -c 1` processes
(prefork: a parent, and one child that runs the tasks) start together and drain the queue:
fetch the contact, qualify it, write the score back to the CRM and the lead. Printed:
deliveries accepted per second (store + publish with confirms), and events processed per
second over the whole drain (first to last event finished) and in steady state (the middle
80 % of finishes).
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg
from fastapi.testclient import TestClient
from kombu import Connection
from live_server import load_average
from saas_support import API, create_contacts, create_tenant, scratch_postgres, signed
from sqlmodel import select
from table import Row, print_table

from backend.main import create_app
from core.config import Settings

ROOT = Path(__file__).resolve().parents[1]
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
SAAS = "assessments.03_saas_ai_agent"
WebhookEvent = importlib.import_module(f"{SAAS}.webhooks.models").WebhookEvent
SaasSettings = importlib.import_module(f"{SAAS}.config").SaasSettings


@contextmanager
def own_queue() -> Iterator[str]:
    name = f"bench-{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        with Connection(BROKER_URL, connect_timeout=5) as connection:
            with suppress(Exception):
                connection.default_channel.queue_delete(name)
            with suppress(Exception):
                connection.default_channel.exchange_delete(name)


@contextmanager
def workers(count: int, env: dict[str, str], log_dir: Path) -> Iterator[None]:
    processes = []
    for n in range(count):
        log = (log_dir / f"worker-{n}.log").open("wb")
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "backend.worker",
                    "worker",
                    "--pool",
                    "prefork",
                ]
                + ["-c", "1", "-n", f"{env['CELERY_QUEUE']}-{n}@%h", "--without-gossip"]
                + ["--without-mingle", "--without-heartbeat", "-l", "WARNING"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    try:
        yield
    finally:
        for process in processes:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def finish_times(client: TestClient, tenant_id: str) -> list[float]:
    runtime = client.app.state.saas
    with runtime.tenant_db(uuid.UUID(tenant_id)) as db:
        rows = db.session.exec(
            select(WebhookEvent.updated_at).where(
                WebhookEvent.tenant_id == uuid.UUID(tenant_id), WebhookEvent.status == "done"
            )
        ).all()
    return sorted(moment.timestamp() for moment in rows)


def run(database_url: str, worker_count: int, events: int, data_dir: Path) -> Row:
    with own_queue() as queue:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            ENVIRONMENT="development",
            DATA_DIR=data_dir,
            DATABASE_URL=database_url,
            CELERY_BROKER_URL=BROKER_URL,
            CELERY_QUEUE=queue,
            LLM_PROVIDER="local",
            EMBEDDING_PROVIDER="local",
            LOAD_SAMPLE_DATA=False,
            LOG_LEVEL="WARNING",
        )
        app = create_app(settings)
        app.state.saas_settings = SaasSettings(
            _env_file=None,
            WEBHOOK_WORKER_ENABLED=False,  # no sweep: every event goes through the queue once
            RATE_LIMITS=dict.fromkeys(("starter", "pro", "enterprise"), "1000000/minute"),
        )
        with TestClient(app) as client:
            tenant = create_tenant(client)
            tenant_id, secret = tenant.id, tenant.webhook_secret
            contacts = create_contacts(client, tenant)
            started = time.perf_counter()
            for n in range(events):
                body, headers = signed(secret, tenant_id, contacts[n % len(contacts)])
                response = client.post(
                    f"{API}/webhooks/crm/contact.updated", content=body, headers=headers
                )
                assert response.status_code == 202, response.text
            accepted = events / (time.perf_counter() - started)

            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SAAS_"))},
                "ENVIRONMENT": "development",
                "DATA_DIR": str(data_dir),
                "DATABASE_URL": database_url,
                "CELERY_BROKER_URL": BROKER_URL,
                "CELERY_QUEUE": queue,
                "LLM_PROVIDER": "local",
                "EMBEDDING_PROVIDER": "local",
                "LOG_LEVEL": "WARNING",
            }
            started = time.perf_counter()
            with workers(worker_count, env, data_dir):
                deadline = time.monotonic() + 300
                while len(done := finish_times(client, tenant_id)) < events:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"only {len(done)} of {events} events processed")
                    time.sleep(0.1)
            wall = (len(done) - 1) / (done[-1] - done[0])
            low, high = done[len(done) // 10], done[len(done) * 9 // 10]
            steady = (len(done) * 9 // 10 - len(done) // 10) / (high - low)
            print(
                f"  {worker_count} worker{'s' if worker_count > 1 else ' '}  "
                f"accepted {accepted:5.0f} /s (one sender)   "
                f"processed {wall:6.1f} /s (first to last)  {steady:6.1f} /s (steady)   "
                f"{events} events"
            )
    return Row(
        f"A3 webhooks through Celery, {worker_count} worker process(es), PostgreSQL",
        f"processed {steady:.0f}/s steady, {wall:.0f}/s first to last; accepted {accepted:.0f}/s "
        "(one sender, in process)",
        load=load_average(),
    )


def services_missing() -> str | None:
    """Why this bench cannot run here (RabbitMQ or PostgreSQL away), or None."""
    try:
        with Connection(BROKER_URL, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:  # kombu raises the transport's own errors
        return f"RabbitMQ unreachable at {BROKER_URL.split('@')[-1]} ({type(exc).__name__})"
    try:
        with scratch_postgres():
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL unreachable ({type(exc).__name__})"


def measure_all(*, events: int, worker_counts: Sequence[int]) -> list[Row]:
    reason = services_missing()
    if reason:
        print(f"skipped: {reason}")
        return [Row.skip("A3 webhooks through Celery", reason)]
    print(f"Celery on RabbitMQ, PostgreSQL, local provider; {os.cpu_count()} CPUs")
    rows = []
    with tempfile.TemporaryDirectory() as tmp, scratch_postgres() as database_url:
        for count in worker_counts:
            data_dir = Path(tmp) / f"workers-{count}"
            data_dir.mkdir()
            rows.append(run(database_url, count, events, data_dir))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--quick", action="store_true", help="100 events")
    args = parser.parse_args()
    events = 100 if args.quick else args.events
    print_table(measure_all(events=events, worker_counts=args.workers))


if __name__ == "__main__":
    main()
