"""Large uploads: 202 with a job, ingested in the background, reported by GET /ingest-jobs.

Here the jobs run in the API process (no broker); tests/scale/test_celery_ingest.py
runs them in a Celery worker process on pgvector.
"""

from __future__ import annotations

import importlib
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from core.config import Settings
from core.tasks import RetryLater
from tests.support import make_app

from .helpers import API, ask, documents, upload

ingest_jobs = importlib.import_module("assessments.02_rag_chatbot.ingest_jobs")
models = importlib.import_module("assessments.02_rag_chatbot.models")

# Large enough to cross the test threshold below, with one fact to find afterwards.
HANDBOOK = "# Initech handbook\n\nEvery Initech employee gets 27 days of paid vacation.\n\n" + (
    "\n\n".join(
        f"Section {n}: the TPS report for team {n} is filed on the first Monday of the month."
        for n in range(1, 30)
    )
)
ASYNC_FROM = 2_000


def _large_app(settings: Settings, **overrides: Any) -> FastAPI:
    """An app that queues files of ASYNC_FROM bytes or more as jobs."""
    return make_app(settings, INGEST_ASYNC_MIN_BYTES=ASYNC_FROM, **overrides)


def _wait_for_job(client: TestClient, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"{API}/ingest-jobs/{job_id}").json()
        if job["status"] in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def test_a_large_upload_is_queued_then_ingested_and_answers_questions(
    store_settings: Settings,
) -> None:
    settings = store_settings
    with TestClient(_large_app(settings)) as client:
        body = upload(
            client,
            "initech",
            {"handbook.md": HANDBOOK, "hours.txt": "The Initech office opens at 8am."},
            expect=202,
        )
        # The small file is stored in the request, the large one queued.
        assert [d["source"] for d in body["data"]] == ["hours.txt"]
        [queued] = body["jobs"]
        assert queued["source"] == "handbook.md" and queued["status"] in ("queued", "running")
        assert queued["bytes"] == len(HANDBOOK.encode())

        job = _wait_for_job(client, queued["id"])
        listed = {d["source"]: d for d in documents(client, "initech")}
        answer = ask(
            client, "How many days of paid vacation do Initech employees get?", company_id="initech"
        )

    assert job["status"] == "done", job
    assert job["attempts"] == 1 and job["document_status"] == "created"
    assert listed["handbook.md"]["id"] == job["document_id"]
    assert listed["handbook.md"]["chunks"] == job["chunks"] > 1
    assert "27 days" in answer["answer"]
    # The job's copy of the file is gone; the document's copy is kept like any upload's.
    assert (settings.upload_dir / "initech" / "handbook.md").read_text() == HANDBOOK
    assert not any((settings.upload_dir / "initech" / ingest_jobs.JOBS_FOLDER).iterdir())


def test_a_large_file_that_cannot_be_read_fails_its_job_with_the_upload_error_code(
    tmp_path: Path, store_settings: Settings
) -> None:
    settings = store_settings
    with TestClient(_large_app(settings)) as client:
        small = upload(client, "initech", {"broken.pdf": b"%PDF-1.4 not really"}, expect=422)
        body = upload(client, "initech", {"big.pdf": b"%PDF-1.4 " + b"x" * ASYNC_FROM}, expect=202)
        job = _wait_for_job(client, body["jobs"][0]["id"])
        # The type is checked before anything is queued.
        upload(client, "initech", {"big.exe": b"x" * ASYNC_FROM}, expect=415)
        missing = client.get(f"{API}/ingest-jobs/nope")

    assert job["status"] == "failed" and job["attempts"] == 1
    assert job["error_code"] == small["error"]["code"]
    assert job["document_id"] is None
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_a_request_that_fails_queues_nothing(store_settings: Settings) -> None:
    settings = store_settings
    with TestClient(_large_app(settings)) as client:
        upload(
            client,
            "initech",
            {"handbook.md": HANDBOOK, "broken.pdf": b"%PDF-1.4 not really"},
            expect=422,
        )
        with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
            jobs = session.exec(select(models.IngestJob)).all()

    assert jobs == []


def _queued_job(settings: Settings, engine: Any) -> str:
    with Session(engine) as session:
        ingest = importlib.import_module("assessments.02_rag_chatbot.ingest")
        ingest.ensure_company(session, "initech")
        job = ingest_jobs.queue_upload(
            session,
            settings=settings,
            company_id="initech",
            filename="handbook.md",
            data=HANDBOOK.encode(),
        )
        return str(job.id)


def test_a_job_left_unfinished_by_a_stopped_process_runs_at_the_next_start(
    store_settings: Settings,
) -> None:
    settings = store_settings
    with TestClient(_large_app(settings)) as client:
        # Stored, never submitted: as when the process stops right after the commit. (If
        # this app's sweep starts it before the app stops, stopping hands it back.)
        job_id = _queued_job(settings, client.app.state.engine)  # type: ignore[attr-defined]

    with TestClient(_large_app(settings)) as client:
        job = _wait_for_job(client, job_id)

    assert job["status"] == "done" and job["attempts"] == 1


@pytest.mark.anyio
async def test_a_job_runs_once_however_often_it_is_delivered(store_settings: Settings) -> None:
    settings = store_settings
    app = _large_app(settings)
    async with app.router.lifespan_context(app):
        state = app.state
        job_id = _queued_job(settings, state.engine)
        with Session(state.engine) as session:
            # Held by a live lease elsewhere: a second delivery waits instead of running it too.
            job = session.get(models.IngestJob, job_id)
            job.status, job.lease_until = "running", ingest_jobs.utcnow().replace(year=2100)
            session.add(job)
            session.commit()
        with pytest.raises(RetryLater):
            await ingest_jobs.run_job(state, job_id)
        with Session(state.engine) as session:
            # The holder died: once its lease has run out, the next delivery takes the job.
            job = session.get(models.IngestJob, job_id)
            job.lease_until = ingest_jobs.utcnow() - timedelta(seconds=1)
            session.add(job)
            session.commit()

        await ingest_jobs.run_job(state, job_id)
        await ingest_jobs.run_job(state, job_id)  # a duplicate delivery after it finished

        with Session(state.engine) as session:
            job = session.get(models.IngestJob, job_id)
            chunks = state.vector_store.count("initech")
    assert job.status == "done" and job.attempts == 1
    assert chunks == job.chunks


@pytest.mark.anyio
async def test_errors_are_retried_then_the_job_fails_when_its_attempts_are_spent(
    store_settings: Settings,
) -> None:
    settings = store_settings
    app = _large_app(settings, INGEST_JOB_MAX_ATTEMPTS=2)
    async with app.router.lifespan_context(app):
        real = app.state.vector_store

        class BrokenStore:
            embedder = real.embedder

            async def replace_documents(self, *_: Any, **__: Any) -> list[list[int]]:
                raise ConnectionError("vector store away")

        state = SimpleNamespace(
            settings=settings,
            rag_settings=app.state.rag_settings,
            engine=app.state.engine,
            vector_store=BrokenStore(),
        )
        job_id = _queued_job(settings, state.engine)
        with pytest.raises(RetryLater):
            await ingest_jobs.run_job(state, job_id)
        with Session(state.engine) as session:
            first = session.get(models.IngestJob, job_id).model_copy()
        with pytest.raises(RetryLater):
            await ingest_jobs.run_job(state, job_id)  # a delivery before its backoff is over
        with Session(state.engine) as session:
            job = session.get(models.IngestJob, job_id)
            job.lease_until = ingest_jobs.utcnow() - timedelta(seconds=1)  # the backoff is over
            session.add(job)
            session.commit()
        await ingest_jobs.run_job(state, job_id)  # the last attempt: no retry after it
        with Session(state.engine) as session:
            last = session.get(models.IngestJob, job_id)
        chunks = real.count("initech") if real.has_index("initech") else 0

    assert (first.status, first.attempts) == ("queued", 1)
    assert "vector store away" in (first.error or "")
    assert (last.status, last.attempts, last.error_code) == ("failed", 2, "ingest_failed")
    assert chunks == 0
