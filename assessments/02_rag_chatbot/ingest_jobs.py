"""Large uploads are ingested by a background job: stored first, then run by a worker.

A file of `INGEST_ASYNC_MIN_BYTES` or more would hold the request for minutes
(the local model embeds ~20 chunks/s), so `POST /documents` answers 202 with a
job instead, and `GET /ingest-jobs/{id}` reports it. The work is the same as
for a small file (`ingest.prepare_upload` + `ingest.ingest_documents`), run by
the job `rag.ingest_document` (`tasks.py`):

- in Celery worker processes when `CELERY_BROKER_URL` is set and the vector
  store is pgvector, which every process shares;
- otherwise in the API process (`core.tasks.InProcessRunner`). A FAISS index
  belongs to one process (`core.vector_store`), so with FAISS a worker process
  never writes it, broker or not.

Nothing lives only in the broker: the file is kept under
`UPLOAD_DIR/<company>/.jobs/` (shared by the API and the workers) and the job
row is committed before the job is submitted. The row is run by the lease
protocol of `core.jobs` (`JOBS`): claimed under a lease (`INGEST_JOB_LEASE_SECONDS`,
renewed while the chunks are embedded), so a duplicate delivery finds it taken
or done and does nothing, and a worker that dies mid-job leaves a lease that
runs out: the redelivered message, or the sweep (`IngestSweep`, every half
lease), then runs it again. A file that cannot be read fails the job at once
with the same error code a small upload gets as a 4xx; any other error is
retried with backoff, `INGEST_JOB_MAX_ATTEMPTS` attempts in all, and then the
job is `failed` (the dead letter is this row, not a broker queue).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from core.config import Settings
from core.exceptions import AppException, NotFoundException
from core.jobs import LeasedJobs, Poller, utcnow
from core.tasks import InProcessRunner, RetryLater, TaskRunner, create_task_runner

from . import ingest, reading, uploads
from .config import RagSettings, rag_settings
from .models import IngestJob
from .schemas import IngestJobPublic

log = structlog.get_logger(__name__)

INGEST_DOCUMENT = "rag.ingest_document"
JOBS_FOLDER = ".jobs"
SWEEP_BATCH_SIZE = 100


def lease_protocol(rag: RagSettings) -> LeasedJobs[IngestJob]:
    """How the `ingest_job` table is run under `core.jobs`' lease protocol."""
    return LeasedJobs(
        model=IngestJob,
        key="id",
        due="lease_until",
        waiting=("queued",),
        running="running",
        retrying="queued",
        dead="failed",
        lease_seconds=rag.INGEST_JOB_LEASE_SECONDS,
        max_attempts=rag.INGEST_JOB_MAX_ATTEMPTS,
        backoff_base_seconds=2.0,
        backoff_max_seconds=60.0,
    )


def create_ingest_runner(settings: Settings, state: Any) -> TaskRunner:
    """Celery only when the workers can write the store (pgvector); else in this process."""
    if settings.VECTOR_STORE == "pgvector":
        return create_task_runner(settings, state, concurrency=1)
    return InProcessRunner(state, concurrency=1)


def queue_upload(
    session: Session, *, settings: Settings, company_id: str, filename: str, data: bytes
) -> IngestJob:
    """Keep the file and commit its job; the caller submits it. Checks the name and type only."""
    source = reading.sanitise_filename(filename)
    reading.check_supported(source)
    now = utcnow()
    job = IngestJob(
        company_id=company_id,
        source=source,
        upload_path="",
        bytes=len(data),
        created_at=now,
        updated_at=now,
    )
    relative = Path(company_id) / JOBS_FOLDER / f"{job.id}-{source}"
    uploads.keep_upload(settings.upload_dir / relative, data)
    job.upload_path = relative.as_posix()
    session.add(job)
    session.commit()
    session.refresh(job)
    log.info("ingest_job_queued", job_id=job.id, company_id=company_id, bytes=len(data))
    return job


def submit(runner: TaskRunner, job_ids: Sequence[str]) -> None:
    """Hand jobs to the runner; one that cannot be handed over waits for the sweep."""
    for job_id in job_ids:
        runner.submit(INGEST_DOCUMENT, job_id=job_id)


def get_job(session: Session, job_id: str) -> IngestJobPublic:
    job = session.get(IngestJob, job_id)
    if job is None:
        raise NotFoundException(f"Ingest job '{job_id}' not found")
    return to_public(job)


def to_public(job: IngestJob) -> IngestJobPublic:
    return IngestJobPublic.model_validate(job, from_attributes=True)


class IngestSweep(Poller):
    """Submits again the jobs nobody holds: at start every unfinished one when they run in
    this process (nothing else will), then, every half lease, those untouched for a lease
    (lost messages, dead workers)."""

    def __init__(self, state: Any, runner: TaskRunner) -> None:
        lease = rag_settings(state).INGEST_JOB_LEASE_SECONDS
        super().__init__(interval=lease / 2, batch_size=SWEEP_BATCH_SIZE, name="rag-ingest-sweep")
        self.state = state
        self.runner = runner
        self._first = isinstance(runner, InProcessRunner)

    async def run_once(self) -> int:
        return await run_in_threadpool(self.sweep)

    def sweep(self) -> int:
        jobs = lease_protocol(rag_settings(self.state))
        with Session(self.state.engine) as session:
            if self._first:
                found = [job_id for (job_id,) in jobs.find_unfinished(session, IngestJob.id)]
            else:
                lost = jobs.find_lost(session, IngestJob.id, limit=self.batch_size)
                found = [job_id for (job_id,) in lost]
            self._first = False
            submitted = [
                job_id for job_id in found if self.runner.submit(INGEST_DOCUMENT, job_id=job_id)
            ]
            if submitted:
                jobs.touch(session, submitted)
        return len(found)


async def run_job(state: Any, job_id: str) -> None:
    """Ingest one job's file, at most once at a time; raises `RetryLater` to run again."""
    settings: Settings = state.settings
    rag = rag_settings(state)
    jobs = lease_protocol(rag)
    with Session(state.engine) as session:
        job = _claim(session, jobs, job_id)
        if job is None:
            return
        if jobs.attempts_spent(job):
            jobs.retry_or_die(job)  # this claim ran nothing: the job is failed
            _give_up(
                session, settings, job, "attempts spent: the worker running the last one was lost"
            )
            return
        log.info("ingest_job_started", job_id=job.id, attempt=job.attempts)
        try:
            data = (settings.upload_dir / job.upload_path).read_bytes()
            prepared = ingest.prepare_upload(
                job.source,
                data,
                settings=settings,
                rag=rag,
                embedder=state.vector_store.embedder,
            )
            ingest.ensure_company(session, job.company_id)
            [result] = await ingest.ingest_documents(
                [prepared],
                company_id=job.company_id,
                session=session,
                vector_store=state.vector_store,
                upload_dir=settings.upload_dir,
                on_progress=jobs.lease_keeper(lambda: Session(state.engine), job.id),
            )
        except asyncio.CancelledError:
            # The process is stopping (in-process runner): hand the job back, not counted.
            session.rollback()
            jobs.release(job)
            _save(session, job)
            log.info("ingest_job_released", job_id=job.id)
            raise
        except AppException as exc:
            session.rollback()
            # A file that cannot be read never will be: fail now, as a small upload would.
            _finish(session, job, status="failed", error=exc.message, error_code=exc.code)
            _discard_file(settings, job)
            return
        except Exception as exc:
            session.rollback()
            error = f"{type(exc).__name__}: {exc}"
            log.warning("ingest_job_error", job_id=job.id, attempt=job.attempts, error=error)
            if jobs.retry_or_die(job):
                _give_up(session, settings, job, f"gave up after {job.attempts} attempts: {error}")
                return
            job.error = error
            _save(session, job)
            raise RetryLater(jobs.backoff(job.attempts)) from exc
        job.document_id = result.document.id
        job.document_status = result.status
        job.chunks = result.document.chunks
        _finish(session, job, status="done")
        _discard_file(settings, job)
        log.info("ingest_job_done", job_id=job.id, chunks=job.chunks, status=result.status)


def _claim(session: Session, jobs: LeasedJobs[IngestJob], job_id: str) -> IngestJob | None:
    """Take the job; None when it is not ours to run (done or failed: a duplicate delivery).

    Raises `RetryLater` while it is not due (another worker's lease holds it, or
    a retry's backoff), so a redelivered message comes back when it would be.
    """
    claimed = jobs.claim(session, job_id)
    job = session.get(IngestJob, job_id)
    if job is None or claimed:
        return job
    due_in = jobs.seconds_until_due(job)
    if due_in is None:
        return None
    raise RetryLater(max(due_in, 1.0))


def _give_up(session: Session, settings: Settings, job: IngestJob, error: str) -> None:
    """The job is failed (`retry_or_die` said so): the row is the dead letter."""
    job.error, job.error_code = error, "ingest_failed"
    _save(session, job)
    log.warning("ingest_job_failed", job_id=job.id, error_code=job.error_code)
    _discard_file(settings, job)


def _save(session: Session, job: IngestJob) -> None:
    session.add(job)
    session.commit()


def _finish(
    session: Session,
    job: IngestJob,
    *,
    status: str,
    error: str | None = None,
    error_code: str | None = None,
) -> None:
    job.status = status
    job.error = error
    job.error_code = error_code
    job.lease_until = None
    job.updated_at = utcnow()
    _save(session, job)
    if status == "failed":
        log.warning("ingest_job_failed", job_id=job.id, error_code=error_code)


def _discard_file(settings: Settings, job: IngestJob) -> None:
    # Once done, the document's copy lives at UPLOAD_DIR/<company>/<source> (uploads.keep_upload).
    (settings.upload_dir / job.upload_path).unlink(missing_ok=True)
