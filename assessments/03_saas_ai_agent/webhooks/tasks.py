"""Processing a webhook event as a background job (`core.tasks`), in a Celery worker or in process.

The job is `process_event` and nothing else. In a Celery worker the runtime is
built once per process, from the same settings and the same factory as the
API's. When the event is not finished (a retry is scheduled, or another
worker's lease still holds it) the job asks to run again when it is due, so
Celery delivers the retry with the backoff the inbox computed.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import structlog
from starlette.concurrency import run_in_threadpool

from core.tasks import RetryLater, task

from ..config import SaasSettings
from ..runtime import SaasRuntime, create_runtime
from .models import EventStatus
from .processing import process_event, seconds_until_due

log = structlog.get_logger(__name__)
PROCESS_EVENT = "saas.webhooks.process_event"
_build_lock = threading.Lock()


@task(PROCESS_EVENT)
async def process_webhook_event(state: Any, *, tenant_id: str, event_id: str) -> None:
    """Process one stored event; raise RetryLater while it has attempts to come."""
    runtime = saas_runtime(state)
    tenant = uuid.UUID(tenant_id)
    status = await process_event(runtime, tenant, event_id)
    log.info("webhook_job", tenant_id=tenant_id, event_id=event_id, status=status or "not_claimed")
    if status in (EventStatus.DONE, EventStatus.DEAD):
        return
    due_in = await run_in_threadpool(seconds_until_due, runtime, tenant, event_id)
    if due_in is not None:
        raise RetryLater(due_in)


def saas_runtime(state: Any) -> SaasRuntime:
    """The API's runtime (`app.state.saas`), or, in a worker, one built on first use."""
    runtime: SaasRuntime | None = getattr(state, "saas", None)
    if runtime is not None:
        return runtime
    with _build_lock:
        if getattr(state, "saas", None) is None:
            state.saas = create_runtime(
                settings=state.settings, saas=SaasSettings(), engine=state.engine, app_state=state
            )
    return state.saas  # type: ignore[no-any-return]
