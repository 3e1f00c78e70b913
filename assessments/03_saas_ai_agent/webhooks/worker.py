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
import contextlib
import time
import uuid
from abc import ABC, abstractmethod
from datetime import timedelta

import structlog
from sqlmodel import col, select, update
from starlette.concurrency import run_in_threadpool

from core.tasks import CeleryRunner, InProcessRunner, RetryLater, TaskRunner

from ..db import utcnow
from ..runtime import SaasRuntime
from .models import WebhookEvent
from .processing import CLAIMABLE
from .tasks import PROCESS_EVENT

log = structlog.get_logger(__name__)
STOP_TIMEOUT_SECONDS = 10.0


def find_due_events(runtime: SaasRuntime, *, limit: int) -> list[tuple[uuid.UUID, str]]:
    """(tenant, webhook-id) of events due now, oldest first.

    Privileged: the worker serves every tenant. Each event is then claimed and
    processed in its own tenant's scope.
    """
    with runtime.privileged() as session:
        rows = session.exec(
            select(WebhookEvent.tenant_id, WebhookEvent.event_id)
            .where(
                col(WebhookEvent.status).in_(CLAIMABLE), WebhookEvent.next_attempt_at <= utcnow()
            )
            .order_by(col(WebhookEvent.next_attempt_at))
            .limit(limit)
        ).all()
    return [(tenant_id, event_id) for tenant_id, event_id in rows]


def find_lost_events(runtime: SaasRuntime, *, limit: int) -> list[tuple[int, uuid.UUID, str]]:
    """(row id, tenant, webhook-id) of events due now that nothing has touched for a lease.

    A queued event is touched when a worker claims it and when it fails, so one
    that stays quiet that long is not in the broker. Privileged, like the worker's scan.
    """
    now = utcnow()
    quiet_since = now - timedelta(seconds=runtime.saas.WEBHOOK_LEASE_SECONDS)
    with runtime.privileged() as session:
        rows = session.exec(
            select(WebhookEvent.id, WebhookEvent.tenant_id, WebhookEvent.event_id)
            .where(
                col(WebhookEvent.status).in_(CLAIMABLE),
                WebhookEvent.next_attempt_at <= now,
                WebhookEvent.updated_at <= quiet_since,
            )
            .order_by(col(WebhookEvent.next_attempt_at))
            .limit(limit)
        ).all()
    return [(row_id, tenant_id, event_id) for row_id, tenant_id, event_id in rows if row_id]


def mark_requeued(runtime: SaasRuntime, row_ids: list[int]) -> None:
    """Touch re-published events, so the next sweep leaves them alone for a lease."""
    with runtime.privileged() as session:
        session.exec(  # type: ignore[call-overload]
            update(WebhookEvent)
            .where(col(WebhookEvent.id).in_(row_ids), col(WebhookEvent.status).in_(CLAIMABLE))
            .values(updated_at=utcnow())
        )
        session.commit()


class _InboxLoop(ABC):
    """Runs `run_once` every poll interval, or at once when woken; stops cleanly."""

    def __init__(self, runtime: SaasRuntime, runner: TaskRunner) -> None:
        self.runtime = runtime
        self.runner = runner
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        await self.runner.start()
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name=f"saas-{type(self).__name__}")
        log.info("webhook_worker_started", mode=type(self).__name__)

    async def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Let the pass in progress finish (up to `timeout`), then stop.

        Cancelling at once would abandon a scan running in a worker thread: it
        would go on after shutdown and hand its connection back to a disposed pool.
        """
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        await self.runner.aclose()

    def notify(self) -> None:
        """Wake the loop now; safe to call from any thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    @abstractmethod
    def enqueue(self, tenant_id: uuid.UUID, event_id: str) -> None:
        """A stored event is ready to run (called from a thread, after the commit)."""

    @abstractmethod
    async def run_once(self) -> int:
        """One pass over the inbox; returns how many events it handled."""

    async def _run(self) -> None:
        poll = self.runtime.saas.WEBHOOK_POLL_SECONDS
        while not self._stopping:
            self._wake.clear()
            try:
                found = await self.run_once()
            except Exception:
                log.exception("webhook_worker_iteration_failed")
                found = 0
            if found >= self.runtime.saas.WEBHOOK_BATCH_SIZE:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=poll)


class WebhookWorker(_InboxLoop):
    """No broker: the API process runs the due events itself, `WEBHOOK_CONCURRENCY` at once."""

    runner: InProcessRunner

    def enqueue(self, tenant_id: uuid.UUID, event_id: str) -> None:
        self.notify()

    async def run_once(self) -> int:
        """Process the events due now (one batch); returns how many were found."""
        due = await run_in_threadpool(
            find_due_events, self.runtime, limit=self.runtime.saas.WEBHOOK_BATCH_SIZE
        )
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
        """Publish one batch of lost events; returns how many were found."""
        lost = find_lost_events(self.runtime, limit=self.runtime.saas.WEBHOOK_BATCH_SIZE)
        published: list[int] = []
        for row_id, tenant_id, event_id in lost:
            if not self.runner.submit(PROCESS_EVENT, tenant_id=str(tenant_id), event_id=event_id):
                break  # the broker is still away; try again at the next poll
            published.append(row_id)
        if published:
            mark_requeued(self.runtime, published)
            log.info("webhook_events_requeued", count=len(published))
        return len(published)


def create_worker(runtime: SaasRuntime, runner: TaskRunner) -> WebhookWorker | InboxSweeper:
    """The sweep in front of Celery workers, or the in-process worker."""
    if isinstance(runner, CeleryRunner):
        return InboxSweeper(runtime, runner)
    assert isinstance(runner, InProcessRunner)
    return WebhookWorker(runtime, runner)
