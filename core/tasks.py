"""Background jobs: Celery workers when CELERY_BROKER_URL is set, else in the API process.

A job is an async function registered once with `@task(name)`. It gets the
process's shared clients (`state`: `app.state` in the API, a `WorkerState` in a
Celery worker; both have `settings`, `engine`, `llm`, `embedder`,
`vector_store`) and JSON keyword arguments. Celery or not, the same function
does the work:

    @task("saas.webhooks.process_event")
    async def process_webhook_event(state, *, tenant_id: str, event_id: str) -> None: ...

    runner = create_task_runner(settings, app.state)  # CeleryRunner or InProcessRunner
    runner.submit("saas.webhooks.process_event", tenant_id=..., event_id=...)

A job's state lives in the database, never only in the broker: the caller
stores what the job needs before it submits, and whoever scans that table
submits again what a lost message left behind. Celery acknowledges a message
when its job has finished (`acks_late`), takes it back when the worker dies
(`reject_on_worker_lost`), and gives a worker process one message at a time
(prefetch 1). A job that must run again later raises `RetryLater(seconds)`;
Celery retries any other error with exponential backoff, `MAX_ERROR_RETRIES`
times, while the in-process runner logs it and does not run the job again.

A worker builds its settings and clients the way the API does (environment,
`.env`) and refuses to start when DATABASE_URL or CELERY_BROKER_URL does not
answer. The Celery app it runs, with the assessments' jobs registered, is
`backend.worker`:

    celery -A backend.worker worker --concurrency 4
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import structlog
from celery import Celery, Task, shared_task
from celery.signals import (
    setup_logging,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_shutdown,
)
from celery.utils.time import get_exponential_backoff_interval
from kombu import Connection
from kombu.utils.url import maybe_sanitize_url
from sqlalchemy.engine import Engine

from core.config import Settings, get_settings
from core.database import check_database, create_db_engine, init_db
from core.llm_client import LLMClient, create_llm_client
from core.logger import configure_logging
from core.telemetry import configure_tracing, shutdown_tracing

if TYPE_CHECKING:
    from core.embedding_client import EmbeddingClient

log = structlog.get_logger(__name__)

PROBE_TIMEOUT_SECONDS = 2.0
MAX_ERROR_RETRIES = 5
ERROR_RETRY_MAX_SECONDS = 300

TaskFunction = Callable[..., Awaitable[None]]
F = TypeVar("F", bound=TaskFunction)
TASKS: dict[str, TaskFunction] = {}


class RetryLater(Exception):
    """Raised by a job that is not finished and should run again in `seconds`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = max(0.0, seconds)
        super().__init__(f"run again in {self.seconds:.1f}s")


def task(name: str) -> Callable[[F], F]:
    """Register an async job under `name`, for Celery workers and the in-process runner."""

    def register(fn: F) -> F:
        if TASKS.setdefault(name, fn) is not fn:
            raise ValueError(f"task {name!r} is already registered")
        shared_task(
            name=name,
            bind=True,
            acks_late=True,
            reject_on_worker_lost=True,
            ignore_result=True,
            max_retries=None,  # RetryLater is bounded by the job's own state
        )(_celery_entry(name))
        return fn

    return register


def _celery_entry(name: str) -> Callable[..., None]:
    def run(self: Task, **kwargs: Any) -> None:
        try:
            run_async(TASKS[name](worker_state(), **kwargs))
        except RetryLater as later:
            raise self.retry(countdown=later.seconds) from None
        except Exception as exc:
            if self.request.retries >= MAX_ERROR_RETRIES:
                raise
            countdown = get_exponential_backoff_interval(
                factor=1,
                retries=self.request.retries,
                maximum=ERROR_RETRY_MAX_SECONDS,
                full_jitter=True,
            )
            log.warning(
                "task_error_retrying", task=name, error=type(exc).__name__, retry_in=countdown
            )
            raise self.retry(exc=exc, countdown=countdown) from None

    run.__name__ = run.__qualname__ = name.rsplit(".", 1)[-1]
    return run


# --- running jobs -------------------------------------------------------------------------


class TaskRunner(Protocol):
    def submit(self, name: str, /, **kwargs: Any) -> bool:
        """Hand a job over; False when that failed (its stored state brings it back later)."""
        ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


class CeleryRunner:
    """Jobs go to the broker; Celery worker processes run them."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def submit(self, name: str, /, **kwargs: Any) -> bool:
        """Publish (blocking, with publisher confirms): call it from a thread, not the loop."""
        try:
            self.app.send_task(name, kwargs=kwargs)
        except Exception as exc:  # the broker is unreachable: kombu and socket errors alike
            log.warning("task_submit_failed", task=name, error=f"{type(exc).__name__}: {exc}")
            return False
        return True

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        self.app.close()


class InProcessRunner:
    """The fallback without a broker: jobs run in this process's event loop,
    `concurrency` at once. Nothing here survives a restart, which is why jobs
    keep their state in the database."""

    def __init__(self, state: Any, *, concurrency: int = 4) -> None:
        self.state = state
        self._slots = asyncio.Semaphore(concurrency)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def run(self, name: str, /, **kwargs: Any) -> None:
        """Run one job now and wait for it; `RetryLater` and errors reach the caller."""
        async with self._slots:
            await TASKS[name](self.state, **kwargs)

    def submit(self, name: str, /, **kwargs: Any) -> bool:
        """Start a job in the background, from any thread; it runs again when it asks to."""
        loop = self._loop
        if loop is None or loop.is_closed():
            log.warning("task_submit_failed", task=name, error="in-process runner not started")
            return False
        if _running_loop() is loop:
            self._spawn(name, kwargs)
        else:
            loop.call_soon_threadsafe(self._spawn, name, kwargs)
        return True

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def join(self) -> None:
        """Wait until every submitted job has finished (including the runs it asked for)."""
        await asyncio.sleep(0)  # let submissions from other threads arrive
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def aclose(self) -> None:
        self._loop = None
        for job in self._running:
            job.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    def _spawn(self, name: str, kwargs: dict[str, Any]) -> None:
        if self._loop is None:
            return
        job = self._loop.create_task(self._in_background(name, kwargs), name=f"task:{name}")
        self._running.add(job)
        job.add_done_callback(self._running.discard)

    async def _in_background(self, name: str, kwargs: dict[str, Any]) -> None:
        delay = 0.0
        while True:
            await asyncio.sleep(delay)
            try:
                await self.run(name, **kwargs)
                return
            except RetryLater as later:
                delay = later.seconds
            except Exception:
                log.exception("task_failed", task=name)
                return


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def create_task_runner(settings: Settings, state: Any, *, concurrency: int = 4) -> TaskRunner:
    """Celery when CELERY_BROKER_URL is set (and answers: checked now), else in process."""
    if settings.CELERY_BROKER_URL:
        check_broker(settings.CELERY_BROKER_URL)
        return CeleryRunner(create_celery_app(settings, set_as_current=False))
    return InProcessRunner(state, concurrency=concurrency)


# --- the Celery app -----------------------------------------------------------------------


def create_celery_app(
    settings: Settings, *, include: Sequence[str] = (), set_as_current: bool = True
) -> Celery:
    """The Celery app; `include`: the modules a worker imports at start to register jobs."""
    app = Celery(
        "assessments",
        broker=settings.CELERY_BROKER_URL or "memory://",
        include=list(include),
        set_as_current=set_as_current,
    )
    app.conf.update(
        task_default_queue=settings.CELERY_QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        task_ignore_result=True,  # a job's outcome is in the database
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=PROBE_TIMEOUT_SECONDS,
        broker_transport_options={"confirm_publish": True},
        # A failed publish is not fatal (the job is stored): fail fast, let the sweep retry.
        task_publish_retry_policy={
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
        worker_hijack_root_logger=False,
    )
    return app


class WorkerState:
    """What the API keeps on `app.state`, built the same way in a worker, on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def engine(self) -> Engine:
        return create_db_engine(self.settings.database_url)

    @cached_property
    def llm(self) -> LLMClient | None:
        return create_llm_client(self.settings)

    # Imported on first use: a worker that never embeds does not load the model's runtime.
    @cached_property
    def embedder(self) -> EmbeddingClient:
        from core.embedding_client import create_embedding_client

        embedder = create_embedding_client(self.settings)
        if self.settings.REDIS_URL:
            from core.embedding_cache import connect_embedding_cache

            return connect_embedding_cache(embedder, self.settings)
        return embedder

    @cached_property
    def vector_store(self) -> Any:
        from core.vector_store import create_vector_store

        return create_vector_store(self.settings, engine=self.engine, embedder=self.embedder)

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()


_state: WorkerState | None = None
_state_lock = threading.Lock()
_loops = threading.local()


def worker_state() -> WorkerState:
    """This worker process's shared clients (built after the fork, on the first job)."""
    global _state
    with _state_lock:
        if _state is None:
            _state = WorkerState(get_settings())
        return _state


def run_async(job: Coroutine[Any, Any, None]) -> None:
    """Run a job on this thread's own event loop, kept for the life of the process so that
    clients bound to a loop (httpx, the OpenAI SDK) are reused across jobs."""
    loop: asyncio.AbstractEventLoop | None = getattr(_loops, "loop", None)
    if loop is None or loop.is_closed():
        loop = _loops.loop = asyncio.new_event_loop()
    loop.run_until_complete(job)


# --- probes: a configured service that does not answer is a start-up error ----------------


def check_broker(url: str, *, timeout: float = PROBE_TIMEOUT_SECONDS) -> None:
    """Connect (TCP, AMQP handshake, login) once, or raise naming CELERY_BROKER_URL."""
    try:
        with Connection(url, connect_timeout=timeout) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)
    except Exception as exc:
        raise RuntimeError(
            f"The broker at CELERY_BROKER_URL={maybe_sanitize_url(url)} does not answer: {exc}"
        ) from exc


@setup_logging.connect
def _configure_worker_logging(loglevel: int | str | None = None, **_: Any) -> None:
    settings = get_settings()
    level = logging.getLevelName(loglevel) if isinstance(loglevel, int) else loglevel
    configure_logging(level or settings.LOG_LEVEL, settings.LOG_FORMAT, settings.ENVIRONMENT)


@worker_init.connect
def _check_services(**_: Any) -> None:
    # Celery logs and swallows a receiver's exception; SystemExit stops the worker.
    settings = get_settings()
    try:
        if not settings.CELERY_BROKER_URL:
            raise RuntimeError("CELERY_BROKER_URL is not set: a Celery worker needs a broker")
        check_database(settings.database_url)
        check_broker(settings.CELERY_BROKER_URL)
        engine = create_db_engine(settings.database_url)
        try:
            init_db(engine, migrate=settings.migrate_on_start)
        finally:
            engine.dispose()
    except RuntimeError as exc:
        log.error("worker_start_refused", reason=str(exc))
        raise SystemExit(f"Celery worker not started: {exc}") from None


@worker_process_init.connect
def _start_tracing(**_: Any) -> None:
    # In each pool process, after the fork: the exporter's thread does not survive one.
    configure_tracing("ai-assessments-worker")


@worker_process_shutdown.connect
@worker_shutdown.connect
def _close_worker_state(**_: Any) -> None:
    global _state
    with _state_lock:
        if _state is not None:
            _state.close()
            _state = None
    shutdown_tracing()
