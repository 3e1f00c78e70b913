"""The background job of the RAG chatbot: ingesting one large upload (`ingest_jobs`).

Registered with `core.tasks`, so the same function runs in a Celery worker
(which imports this module at start, `backend.worker.TASK_MODULES`) or in the API
process.
"""

from __future__ import annotations

from typing import Any

from core.tasks import task

from .ingest_jobs import INGEST_DOCUMENT, run_job


@task(INGEST_DOCUMENT)
async def ingest_document(state: Any, *, job_id: str) -> None:
    await run_job(state, job_id)
