"""Jobs kept as database rows and run under a lease: the one protocol of every background job.

A job's row is the truth; a broker message (Celery) or an in-process task only
says "run this row" (`core.tasks`). Whoever runs a job first *claims* it: one
conditional UPDATE moves it to the running status, counts an attempt and sets
its lease, so two workers never run it at once, and a worker that dies leaves
a lease that runs out, after which the job may be claimed again. A long job
renews its lease while it works. A failure schedules the next attempt with
exponential backoff (the row says when), until the attempts are spent: the row
is then the dead letter. Every claim counts, so a job whose worker dies on
every try runs out of attempts too. A sweep finds the jobs that nothing has
touched for a lease (a message the broker lost, one never published) and
submits them again.

`LeasedJobs` describes one table of jobs; Assessment 2's ingest jobs and
Assessment 3's webhook inbox each have one. It works on SQLite and PostgreSQL,
for jobs run in the API process or in Celery workers. `Poller` is the loop
that runs a sweep (or an in-process worker) every few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

import structlog
from sqlalchemy import ColumnElement, inspect, or_, select, update
from sqlmodel import Session, col

log = structlog.get_logger(__name__)
M = TypeVar("M")
STOP_TIMEOUT_SECONDS = 10.0


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    # SQLite hands datetimes back without their zone; they were written in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class LeasedJobs(Generic[M]):
    """A table of jobs: the columns and statuses the protocol reads and writes.

    The table has `status`, `attempts` and `updated_at` columns, the column a job
    is addressed by (`key`), and one (`due`) that says when the job may be
    claimed: the end of the lease while it runs, the next attempt after a failure,
    NULL (or a past time) when it may run now.
    """

    model: type[M]
    key: str
    due: str
    waiting: tuple[str, ...]  # statuses of a job that has not run yet or will run again
    running: str
    retrying: str  # the status a failed attempt leaves, waiting for the next one
    dead: str
    lease_seconds: float
    max_attempts: int
    backoff_base_seconds: float
    backoff_max_seconds: float

    @property
    def claimable(self) -> tuple[str, ...]:
        """Waiting, or running under a lease that may have run out (its worker died)."""
        return (*self.waiting, self.running)

    def claim(self, session: Session, key: Any, *scope: ColumnElement[bool]) -> bool:
        """Take the job if it is due: one statement, so only one worker can win.

        `scope` narrows the statement further (Assessment 3: the tenant's rows)."""
        now = utcnow()
        claimed = session.exec(  # type: ignore[call-overload]
            update(self.model)
            .where(self._column(self.key) == key, self._claimable_by(now), *scope)
            .values(
                {
                    "status": self.running,
                    "attempts": self._column("attempts") + 1,
                    self.due: now + timedelta(seconds=self.lease_seconds),
                    "updated_at": now,
                }
            )
        ).rowcount
        session.commit()
        return bool(claimed == 1)

    def attempts_spent(self, job: M) -> bool:
        """True right after a claim that went past the last attempt: the workers running
        the earlier ones were lost (a crash loop). The claim ran nothing; make it dead."""
        return int(job.attempts) > self.max_attempts  # type: ignore[attr-defined]

    def retry_or_die(self, job: M) -> bool:
        """After a failed attempt: due again after a backoff, or dead once the attempts are
        spent (True). Changes the row; the caller adds its error and commits."""
        now = utcnow()
        attempts = min(int(job.attempts), self.max_attempts)  # type: ignore[attr-defined]
        dead = attempts >= self.max_attempts
        job.attempts = attempts  # type: ignore[attr-defined]
        job.status = self.dead if dead else self.retrying  # type: ignore[attr-defined]
        setattr(job, self.due, now if dead else now + timedelta(seconds=self.backoff(attempts)))
        job.updated_at = now  # type: ignore[attr-defined]
        return dead

    def release(self, job: M) -> None:
        """Hand back a job this process stops running (not its fault): due now, not counted."""
        job.status = self.retrying  # type: ignore[attr-defined]
        job.attempts = max(int(job.attempts) - 1, 0)  # type: ignore[attr-defined]
        setattr(job, self.due, None if self._nullable_due else utcnow())
        job.updated_at = utcnow()  # type: ignore[attr-defined]

    def backoff(self, attempts: int) -> float:
        """Exponential: base, 2 × base, 4 × base… seconds, up to the maximum."""
        return float(
            min(self.backoff_max_seconds, self.backoff_base_seconds * 2 ** max(attempts - 1, 0))
        )

    def seconds_until_due(self, job: M | None) -> float | None:
        """How long until the job may be claimed again (a backoff, or another worker's
        lease); None once it is finished (done or dead)."""
        if job is None or job.status not in self.claimable:  # type: ignore[attr-defined]
            return None
        due: datetime | None = getattr(job, self.due)
        return 0.0 if due is None else max(0.0, (as_utc(due) - utcnow()).total_seconds())

    def lease_keeper(
        self, open_session: Callable[[], Any], key: Any, *scope: ColumnElement[bool]
    ) -> Callable[..., None]:
        """A progress callback that renews the lease, at most every third of it."""
        renewed = time.monotonic()

        def renew(*_: Any) -> None:
            nonlocal renewed
            if time.monotonic() - renewed < self.lease_seconds / 3:
                return
            renewed = time.monotonic()
            until = utcnow() + timedelta(seconds=self.lease_seconds)
            with open_session() as session:
                session.exec(
                    update(self.model)
                    .where(
                        self._column(self.key) == key,
                        self._column("status") == self.running,
                        *scope,
                    )
                    .values({self.due: until})
                )
                session.commit()

        return renew

    # --- finding jobs (privileged: a sweep serves every tenant) ---------------------------

    def find_due(self, session: Session, *columns: Any, limit: int) -> list[Any]:
        """Jobs that may be claimed now, the longest due first."""
        now = utcnow()
        return list(
            session.execute(
                select(*columns)
                .where(self._claimable_by(now))
                .order_by(self._column(self.due))
                .limit(limit)
            ).all()
        )

    def find_lost(self, session: Session, *columns: Any, limit: int) -> list[Any]:
        """Jobs due now that nothing has touched for a whole lease: a message the broker lost
        or never took, a worker that died. (A job is touched when it is queued, claimed,
        fails or is submitted again.)"""
        now = utcnow()
        quiet_since = now - timedelta(seconds=self.lease_seconds)
        return list(
            session.execute(
                select(*columns)
                .where(self._claimable_by(now), self._column("updated_at") <= quiet_since)
                .order_by(self._column("updated_at"))
                .limit(limit)
            ).all()
        )

    def find_unfinished(self, session: Session, *columns: Any) -> list[Any]:
        return list(
            session.execute(
                select(*columns)
                .where(col(self._column("status")).in_(self.claimable))
                .order_by(self._column("updated_at"))
            ).all()
        )

    def touch(self, session: Session, keys: Sequence[Any], *, by: str | None = None) -> None:
        """Mark jobs as submitted again, so the next sweep leaves them alone for a lease.

        `by`: the column the keys are of, when not `key` (a table whose key is unique
        only within a tenant)."""
        session.exec(  # type: ignore[call-overload]
            update(self.model)
            .where(
                col(self._column(by or self.key)).in_(keys),
                col(self._column("status")).in_(self.claimable),
            )
            .values(updated_at=utcnow())
        )
        session.commit()

    def _claimable_by(self, now: datetime) -> ColumnElement[bool]:
        due = self._column(self.due)
        return col(self._column("status")).in_(self.claimable) & or_(due.is_(None), due <= now)

    def _column(self, name: str) -> Any:
        return getattr(self.model, name)

    @property
    def _nullable_due(self) -> bool:
        return bool(inspect(self.model).columns[self.due].nullable)


class Poller(ABC):
    """Runs `run_once` every `interval` seconds, at once again when a pass found a full
    batch, or when woken (`notify`); stops cleanly."""

    def __init__(self, *, interval: float, batch_size: int, name: str) -> None:
        self.interval = interval
        self.batch_size = batch_size
        self.name = name
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Let the pass in progress finish (up to `timeout`), then stop.

        Cancelling at once would abandon a pass running in a worker thread: it
        would go on after shutdown and hand its connection back to a disposed pool.
        """
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    def notify(self) -> None:
        """Wake the loop now; safe to call from any thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    @abstractmethod
    async def run_once(self) -> int:
        """One pass; returns how many jobs it found."""

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                found = await self.run_once()
            except Exception:
                log.exception("poll_failed", poller=self.name)
                found = 0
            if found >= self.batch_size:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
