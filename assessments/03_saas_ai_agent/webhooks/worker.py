"""The in-process webhook worker: an asyncio task that drains the inbox table.

It wakes when a delivery is stored (or replayed) and otherwise polls every
`SAAS_WEBHOOK_POLL_SECONDS`, so retries come due on their own and events a
crash left behind are picked up after start. The queue is the table itself:
nothing is held only in memory, and a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import structlog
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool

from ..db import utcnow
from ..runtime import SaasRuntime
from .models import WebhookEvent
from .processing import CLAIMABLE, process_event

log = structlog.get_logger(__name__)


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


class WebhookWorker:
    def __init__(self, runtime: SaasRuntime) -> None:
        self.runtime = runtime
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(runtime.saas.WEBHOOK_CONCURRENCY)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="saas-webhook-worker")
        log.info("webhook_worker_started")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    def notify(self) -> None:
        """Wake the worker now; safe to call from any thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

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
        async with self._slots:
            try:
                await process_event(self.runtime, tenant_id, event_id)
            except Exception:
                log.exception("webhook_job_crashed", event_id=event_id)

    async def _run(self) -> None:
        poll = self.runtime.saas.WEBHOOK_POLL_SECONDS
        while True:
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
