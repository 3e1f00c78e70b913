"""Who runs the inbox: the in-process worker, or Celery workers fed at intake and by a sweep.

The queue is the `webhook_event` table itself: nothing lives only in memory or
only in the broker, and a restart loses nothing. Both loops below wake on
their own every `SAAS_WEBHOOK_POLL_SECONDS`.

- `WebhookWorker` (no broker): an asyncio task in the API process that runs
  the due events itself, through the in-process runner. A delivery wakes it.
- `InboxSweeper` (CELERY_BROKER_URL set): intake publishes each stored event
  to Celery; the sweep publishes again any event that is due and has not been
  touched for a whole lease (`SAAS_WEBHOOK_LEASE_SECONDS`): a message the
  broker lost, or one that never reached it because the broker was down.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from abc import abstractmethod

import structlog
from starlette.concurrency import run_in_threadpool

from core.jobs import Poller
from core.tasks import CeleryRunner, InProcessRunner, RetryLater, TaskRunner

from ..runtime import SaasRuntime
from .models import WebhookEvent
from .processing import inbox
from .tasks import PROCESS_EVENT

log = structlog.get_logger(__name__)


def find_due_events(runtime: SaasRuntime, *, limit: int) -> list[tuple[uuid.UUID, str]]:
    """(tenant, webhook-id) of events due now, oldest first.

    Privileged: the worker serves every tenant. Each event is then claimed and
    processed in its own tenant's scope.
    """
    with runtime.privileged() as session:
        rows = inbox(runtime.saas).find_due(
            session, WebhookEvent.tenant_id, WebhookEvent.event_id, limit=limit
        )
    return [(tenant_id, event_id) for tenant_id, event_id in rows]


class _InboxLoop(Poller):
    """A poll over the inbox every `SAAS_WEBHOOK_POLL_SECONDS`, or at once when woken."""

    def __init__(self, runtime: SaasRuntime, runner: TaskRunner) -> None:
        saas = runtime.saas
        super().__init__(
            interval=saas.WEBHOOK_POLL_SECONDS,
            batch_size=saas.WEBHOOK_BATCH_SIZE,
            name=f"saas-{type(self).__name__}",
        )
        self.runtime = runtime
        self.runner = runner

    async def start(self) -> None:
        await self.runner.start()
        await super().start()
        log.info("webhook_worker_started", mode=type(self).__name__)

    async def stop(self, timeout: float = 10.0) -> None:
        await super().stop(timeout)
        await self.runner.aclose()

    @abstractmethod
    def enqueue(self, tenant_id: uuid.UUID, event_id: str) -> None:
        """A stored event is ready to run (called from a thread, after the commit)."""


class WebhookWorker(_InboxLoop):
    """No broker: the API process runs the due events itself, `WEBHOOK_CONCURRENCY` at once."""

    runner: InProcessRunner

    def enqueue(self, tenant_id: uuid.UUID, event_id: str) -> None:
        self.notify()

    async def run_once(self) -> int:
        """Process the events due now (one batch); returns how many were found."""
        due = await run_in_threadpool(find_due_events, self.runtime, limit=self.batch_size)
        await asyncio.gather(*(self._process(tenant_id, event_id) for tenant_id, event_id in due))
        return len(due)

    async def drain(self, timeout: float = 10.0) -> None:
        """Run until nothing is due (tests and the benchmark use this)."""
        deadline = time.monotonic() + timeout
        while await self.run_once():
            if time.monotonic() > deadline:
                raise TimeoutError("webhook inbox did not drain in time")

    async def _process(self, tenant_id: uuid.UUID, event_id: str) -> None:
        try:
            await self.runner.run(PROCESS_EVENT, tenant_id=str(tenant_id), event_id=event_id)
        except RetryLater:
            pass  # the poll finds it again when it is due
        except Exception:
            log.exception("webhook_job_crashed", event_id=event_id)


class InboxSweeper(_InboxLoop):
    """With Celery: intake publishes each event; the sweep re-publishes the lost ones."""

    def enqueue(self, tenant_id: uuid.UUID, event_id: str) -> None:
        # On failure the event waits in the inbox; the sweep publishes it once the broker is back.
        self.runner.submit(PROCESS_EVENT, tenant_id=str(tenant_id), event_id=event_id)

    async def run_once(self) -> int:
        return await run_in_threadpool(self.sweep)

    def sweep(self) -> int:
        """Publish one batch of lost events; returns how many were published."""
        events = inbox(self.runtime.saas)
        with self.runtime.privileged() as session:
            lost = events.find_lost(
                session,
                WebhookEvent.id,
                WebhookEvent.tenant_id,
                WebhookEvent.event_id,
                limit=self.batch_size,
            )
            published: list[int] = []
            for row_id, tenant_id, event_id in lost:
                if not self.runner.submit(
                    PROCESS_EVENT, tenant_id=str(tenant_id), event_id=event_id
                ):
                    break  # the broker is still away; try again at the next poll
                published.append(row_id)
            if published:
                events.touch(session, published, by="id")
                log.info("webhook_events_requeued", count=len(published))
        return len(published)


def create_worker(runtime: SaasRuntime, runner: TaskRunner) -> WebhookWorker | InboxSweeper:
    """The sweep in front of Celery workers, or the in-process worker."""
    if isinstance(runner, CeleryRunner):
        return InboxSweeper(runtime, runner)
    assert isinstance(runner, InProcessRunner)
    return WebhookWorker(runtime, runner)
