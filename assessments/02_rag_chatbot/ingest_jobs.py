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
row is committed before the job is submitted. A job is claimed with a lease
(`INGEST_JOB_LEASE_SECONDS`, renewed while the chunks are embedded), so a
duplicate delivery finds it taken or done and does nothing, and a worker that
dies mid-job leaves a lease that runs out: the redelivered message, or the
sweep, then runs it again. A file that cannot be read fails the job at once
with the same error code a small upload gets as a 4xx; any other error is
retried with backoff, `INGEST_JOB_MAX_ATTEMPTS` attempts in all, and then the
job is `failed` (the dead letter is this row, not a broker queue).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from core.config import Settings
from core.exceptions import AppException, NotFoundException
from core.tasks import InProcessRunner, RetryLater, TaskRunner, create_task_runner

from . import ingest, reading, uploads
from .models import IngestJob
from .schemas import IngestJobPublic

log = structlog.get_logger(__name__)

INGEST_DOCUMENT = "rag.ingest_document"
JOBS_FOLDER = ".jobs"
UNFINISHED = ("queued", "running")
RETRY_BACKOFF_MAX_SECONDS = 60.0


def _now() -> datetime:
    return datetime.now(UTC)


def _as_utc(moment: datetime) -> datetime:
    # SQLite hands datetimes back without their zone; they were written in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
    now = _now()
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


def stale_jobs(session: Session, *, settings: Settings, limit: int = 100) -> list[str]:
    """Unfinished jobs that nobody holds: queued and untouched for a lease, or lease run out.

    A queued job is normally picked up within seconds of its submit; one that
    is still queued a lease later was never delivered (the broker was away).
    """
    now = _now()
    quiet_since = now - timedelta(seconds=settings.INGEST_JOB_LEASE_SECONDS)
    rows = session.exec(
        select(IngestJob.id)
        .where(
            or_(
                (col(IngestJob.status) == "queued") & (col(IngestJob.updated_at) <= quiet_since),
                (col(IngestJob.status) == "running") & (col(IngestJob.lease_until) <= now),
            )
        )
        .order_by(col(IngestJob.created_at))
        .limit(limit)
    ).all()
    return list(rows)


def unfinished_jobs(session: Session) -> list[str]:
    return list(
        session.exec(
            select(IngestJob.id)
            .where(col(IngestJob.status).in_(UNFINISHED))
            .order_by(col(IngestJob.created_at))
        ).all()
    )


async def run_job(state: Any, job_id: str) -> None:
    """Ingest one job's file, at most once at a time; raises `RetryLater` to run again."""
    settings: Settings = state.settings
    with Session(state.engine) as session:
        job = _claim(session, job_id, settings=settings)
        if job is None:
            return
        log.info("ingest_job_started", job_id=job.id, attempt=job.attempts)
        try:
            data = (settings.upload_dir / job.upload_path).read_bytes()
            prepared = ingest.prepare_upload(
                job.source, data, settings=settings, embedder=state.vector_store.embedder
            )
            ingest.ensure_company(session, job.company_id)
            [result] = await ingest.ingest_documents(
                [prepared],
                company_id=job.company_id,
                session=session,
                vector_store=state.vector_store,
                upload_dir=settings.upload_dir,
                on_progress=_lease_keeper(state.engine, job.id, settings.INGEST_JOB_LEASE_SECONDS),
            )
        except asyncio.CancelledError:
            # The process is stopping (in-process runner): hand the job back, not counted.
            session.rollback()
            _release(session, job)
            raise
        except AppException as exc:
            session.rollback()
            # A file that cannot be read never will be: fail now, as a small upload would.
            _finish(session, job, status="failed", error=exc.message, error_code=exc.code)
            _discard_file(settings, job)
            return
        except Exception as exc:
            session.rollback()
            _give_back(session, job, settings=settings, error=f"{type(exc).__name__}: {exc}")
            if job.status == "failed":
                _discard_file(settings, job)
                return
            raise RetryLater(min(2.0**job.attempts, RETRY_BACKOFF_MAX_SECONDS)) from exc
        job.document_id = result.document.id
        job.document_status = result.status
        job.chunks = result.document.chunks
        _finish(session, job, status="done")
        _discard_file(settings, job)
        log.info("ingest_job_done", job_id=job.id, chunks=job.chunks, status=result.status)


def _claim(session: Session, job_id: str, *, settings: Settings) -> IngestJob | None:
    """Take the job (queued, or running with its lease run out); None when it is not ours.

    Raises `RetryLater` while another worker's lease holds it, so a redelivered
    message comes back when that lease would have run out.
    """
    now = _now()
    lease_until = now + timedelta(seconds=settings.INGEST_JOB_LEASE_SECONDS)
    claimed = session.exec(  # type: ignore[call-overload]
        update(IngestJob)
        .where(
            col(IngestJob.id) == job_id,
            or_(
                col(IngestJob.status) == "queued",
                (col(IngestJob.status) == "running") & (col(IngestJob.lease_until) <= now),
            ),
        )
        .values(
            status="running",
            attempts=IngestJob.attempts + 1,
            lease_until=lease_until,
            updated_at=now,
        )
    ).rowcount
    session.commit()
    job = session.get(IngestJob, job_id)
    if job is None or claimed:
        return job
    if job.status == "running" and job.lease_until is not None:
        remaining = (_as_utc(job.lease_until) - _now()).total_seconds()
        raise RetryLater(max(remaining, 1.0))
    return None  # done or failed: a duplicate delivery


def _lease_keeper(engine: Any, job_id: str, lease_seconds: float) -> Callable[[int], None]:
    """A progress callback that renews the lease every third of it while chunks are embedded."""
    renewed = time.monotonic()

    def renew(_done: int) -> None:
        nonlocal renewed
        if time.monotonic() - renewed < lease_seconds / 3:
            return
        renewed = time.monotonic()
        until = _now() + timedelta(seconds=lease_seconds)
        with Session(engine) as session:
            session.exec(  # type: ignore[call-overload]
                update(IngestJob)
                .where(col(IngestJob.id) == job_id, col(IngestJob.status) == "running")
                .values(lease_until=until)
            )
            session.commit()

    return renew


def _release(session: Session, job: IngestJob) -> None:
    job.status = "queued"
    job.attempts = max(job.attempts - 1, 0)
    job.lease_until = None
    job.updated_at = _now()
    session.add(job)
    session.commit()
    log.info("ingest_job_released", job_id=job.id)


def _give_back(session: Session, job: IngestJob, *, settings: Settings, error: str) -> None:
    """After an unexpected error: queued for another attempt, or failed when none are left."""
    log.warning("ingest_job_error", job_id=job.id, attempt=job.attempts, error=error)
    if job.attempts >= settings.INGEST_JOB_MAX_ATTEMPTS:
        _finish(
            session,
            job,
            status="failed",
            error=f"gave up after {job.attempts} attempts: {error}",
            error_code="ingest_failed",
        )
        return
    job.status = "queued"
    job.lease_until = None
    job.error = error
    job.updated_at = _now()
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
    job.updated_at = _now()
    session.add(job)
    session.commit()
    if status == "failed":
        log.warning("ingest_job_failed", job_id=job.id, error_code=error_code)


def _discard_file(settings: Settings, job: IngestJob) -> None:
    # Once done, the document's copy lives at UPLOAD_DIR/<company>/<source> (uploads.keep_upload).
    (settings.upload_dir / job.upload_path).unlink(missing_ok=True)
