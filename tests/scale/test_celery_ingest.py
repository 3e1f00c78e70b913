"""Large uploads ingested by real Celery worker processes on RabbitMQ, into pgvector.

The API runs in this process and the workers in their own; they share the
PostgreSQL database (documents, jobs, chunks) and the upload folder. A worker
killed in the middle of a job loses nothing: its lease runs out and the
redelivered message (or the API's sweep) has the job done by the next worker.
An upload made while the broker is away is stored, answered 202, and ingested
once the broker is back (the sweep submits it again).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from core.config import Settings
from tests.a2_rag.helpers import API, ask, documents, upload
from tests.contract.helpers import wait_for
from tests.processes import process_env
from tests.scale.support import TcpProxy, broker_queue, celery_worker
from tests.services import HOST, RABBITMQ_PORT, rabbitmq_url, throwaway_database
from tests.support import make_app, make_settings

LEASE_SECONDS = 3
ASYNC_FROM = 2_000
FACT = "Every Initech employee gets 27 days of paid vacation."


def _handbook(sections: int) -> bytes:
    body = "\n\n".join(
        f"Section {n}: the TPS report for team {n} is filed on the first Monday of the month, "
        f"reviewed by the manager of floor {n % 7} and archived after {n % 11 + 1} weeks."
        for n in range(1, sections + 1)
    )
    return f"# Initech handbook\n\n{FACT}\n\n{body}".encode()


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with throwaway_database() as url:
        yield url


@pytest.fixture
def queue() -> Iterator[str]:
    with broker_queue(rabbitmq_url()) as name:
        yield name


@pytest.fixture
def settings(tmp_path: Path, database_url: str, queue: str) -> Settings:
    return make_settings(
        tmp_path / "data",
        DATABASE_URL=database_url,
        VECTOR_STORE="pgvector",
        CELERY_BROKER_URL=rabbitmq_url(),
        CELERY_QUEUE=queue,
    )


def _app(settings: Settings) -> FastAPI:
    """The API, queueing files of ASYNC_FROM bytes or more under a LEASE_SECONDS lease."""
    return make_app(
        settings, INGEST_ASYNC_MIN_BYTES=ASYNC_FROM, INGEST_JOB_LEASE_SECONDS=LEASE_SECONDS
    )


@pytest.fixture
def worker_env(settings: Settings, database_url: str, queue: str) -> dict[str, str]:
    # The same data folder as the API: the upload is read from there.
    return process_env(
        settings.DATA_DIR,
        DATABASE_URL=database_url,
        VECTOR_STORE="pgvector",
        CELERY_BROKER_URL=rabbitmq_url(),
        CELERY_QUEUE=queue,
        INGEST_JOB_LEASE_SECONDS=str(LEASE_SECONDS),
    )


def _upload(client: TestClient, company_id: str, name: str, data: bytes) -> dict:
    [job] = upload(client, company_id, {name: data}, expect=202)["jobs"]
    return job


def _job(client: TestClient, job_id: str) -> dict:
    return client.get(f"{API}/ingest-jobs/{job_id}").json()


def _finished(client: TestClient, job_id: str, *, timeout: float, what: str) -> dict:
    """The job once it is done or failed."""

    def finished() -> dict | None:
        job = _job(client, job_id)
        return job if job["status"] in ("done", "failed") else None

    return wait_for(finished, timeout=timeout, what=what)


def test_a_large_upload_is_ingested_by_a_worker_process(
    settings: Settings, worker_env: dict[str, str], tmp_path: Path
) -> None:
    with (
        TestClient(_app(settings)) as client,
        celery_worker(worker_env, tmp_path / "worker.log") as worker,
    ):
        job = _upload(client, "initech", "handbook.md", _handbook(30))
        done = _finished(client, job["id"], timeout=60, what="the worker to ingest the upload")
        answer = ask(
            client, "How many days of paid vacation do Initech employees get?", company_id="initech"
        )
        listed = documents(client, "initech")

    assert (done["status"], done["attempts"]) == ("done", 1)
    assert f'"job_id": "{job["id"]}"' in worker.output()  # the worker did it, not the API
    assert [d["id"] for d in listed] == [done["document_id"]]
    assert "27 days" in answer["answer"]


def test_a_worker_killed_mid_job_loses_nothing_the_next_worker_finishes_it(
    settings: Settings, worker_env: dict[str, str], tmp_path: Path
) -> None:
    with TestClient(_app(settings)) as client:
        with celery_worker(worker_env, tmp_path / "first.log") as first:
            job = _upload(client, "initrode", "handbook.md", _handbook(400))
            wait_for(
                lambda: "ingest_job_started" in first.output(),
                timeout=60,
                what="the first worker to start the job",
            )
            time.sleep(0.5)  # into the embedding
            first.kill()
        assert _job(client, job["id"])["status"] == "running"

        with celery_worker(worker_env, tmp_path / "second.log") as second:
            done = _finished(
                client, job["id"], timeout=120, what="the second worker to finish the job"
            )
            answer = ask(
                client,
                "How many days of paid vacation do Initech employees get?",
                company_id="initrode",
            )

    assert "ingest_job_done" not in first.output()
    assert "ingest_job_done" in second.output()
    assert (done["status"], done["attempts"]) == ("done", 2)
    assert "27 days" in answer["answer"]


def test_an_upload_while_the_broker_is_away_is_ingested_when_it_returns(
    settings: Settings, worker_env: dict[str, str], tmp_path: Path
) -> None:
    proxy = TcpProxy((HOST, RABBITMQ_PORT))
    proxy.start()
    # The API reaches the broker through the proxy; the worker directly.
    api_settings = settings.model_copy(
        update={"CELERY_BROKER_URL": f"amqp://guest:guest@{proxy.address}//"}
    )
    try:
        with (
            TestClient(_app(api_settings)) as client,
            celery_worker(worker_env, tmp_path / "worker.log"),
        ):
            proxy.stop()
            job = _upload(client, "initech", "handbook.md", _handbook(30))
            time.sleep(1)
            assert _job(client, job["id"])["status"] == "queued"

            proxy.start()
            done = _finished(
                client,
                job["id"],
                timeout=60,
                what="the stored job to be ingested after the broker returned",
            )
            listed = documents(client, "initech")
    finally:
        proxy.stop()

    assert (done["status"], done["attempts"]) == ("done", 1)
    assert [d["id"] for d in listed] == [done["document_id"]]
