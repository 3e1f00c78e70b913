"""`core.tasks` without live services: the in-process runner, the Celery task contract, and
start-up refusing a configured service that does not answer (API and worker alike)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from celery.exceptions import Retry

from backend import worker
from core import tasks
from core.database import check_database
from core.tasks import InProcessRunner, RetryLater, task
from tests.a3_saas.helpers import build_client, saas_module, saas_test_settings
from tests.processes import ROOT, START_TIMEOUT, process_env
from tests.support import free_port, make_settings

PROCESS_EVENT = saas_module("webhooks.tasks").PROCESS_EVENT

runs: Counter[str] = Counter()
running = {"now": 0, "most": 0}


@task("tests.scale.overlap")
async def overlap(state: Any, *, key: str) -> None:
    runs[key] += 1
    running["now"] += 1
    running["most"] = max(running["most"], running["now"])
    await asyncio.sleep(0.02)
    running["now"] -= 1


@task("tests.scale.retry_twice")
async def retry_twice(state: Any, *, key: str) -> None:
    runs[key] += 1
    if runs[key] < 3:
        raise RetryLater(0.01)
    state.finished.append(key)


@task("tests.scale.boom")
async def boom(state: Any, *, key: str) -> None:
    runs[key] += 1
    raise ValueError("boom")


@pytest.fixture(autouse=True)
def _fresh_counters() -> None:
    runs.clear()
    running.update(now=0, most=0)


@pytest.mark.anyio
async def test_the_in_process_runner_runs_submitted_jobs_at_most_concurrency_at_once() -> None:
    runner = InProcessRunner(SimpleNamespace(), concurrency=2)
    await runner.start()

    accepted = [runner.submit("tests.scale.overlap", key=f"job-{n}") for n in range(6)]
    await runner.join()

    assert accepted == [True] * 6
    assert runs == Counter({f"job-{n}": 1 for n in range(6)})
    assert running["most"] == 2
    await runner.aclose()


@pytest.mark.anyio
async def test_a_job_that_asks_to_run_later_runs_again_and_a_failing_one_stops_alone() -> None:
    state = SimpleNamespace(finished=[])
    runner = InProcessRunner(state)
    await runner.start()

    runner.submit("tests.scale.retry_twice", key="later")
    runner.submit("tests.scale.boom", key="boom")
    runner.submit("tests.scale.overlap", key="fine")
    await runner.join()

    assert runs == Counter({"later": 3, "boom": 1, "fine": 1})
    assert state.finished == ["later"]
    await runner.aclose()


@pytest.mark.anyio
async def test_submitting_to_a_runner_that_is_not_started_is_refused() -> None:
    runner = InProcessRunner(SimpleNamespace())

    assert runner.submit("tests.scale.overlap", key="never") is False
    await asyncio.sleep(0.05)
    assert runs == Counter()


class FakeCeleryTask:
    """What the Celery entry point uses of `self`: the retry count and `retry`."""

    def __init__(self, retries: int) -> None:
        self.request = SimpleNamespace(retries=retries)
        self.retried_with: dict[str, Any] | None = None

    def retry(self, **options: Any) -> Retry:
        self.retried_with = options
        return Retry()


def test_in_a_celery_worker_run_later_becomes_a_retry_with_that_countdown() -> None:
    entry = tasks._celery_entry("tests.scale.retry_twice")
    celery_task = FakeCeleryTask(retries=0)

    with pytest.raises(Retry):
        entry(celery_task, key="celery")

    assert celery_task.retried_with == {"countdown": 0.01}


def test_in_a_celery_worker_errors_are_retried_with_backoff_then_given_up() -> None:
    entry = tasks._celery_entry("tests.scale.boom")
    early, last = FakeCeleryTask(retries=2), FakeCeleryTask(retries=tasks.MAX_ERROR_RETRIES)

    with pytest.raises(Retry):
        entry(early, key="x")
    with pytest.raises(ValueError, match="boom"):
        entry(last, key="x")

    assert early.retried_with is not None
    assert isinstance(early.retried_with["exc"], ValueError)
    assert 0 <= early.retried_with["countdown"] <= 2**2
    assert last.retried_with is None


def test_the_celery_app_acknowledges_late_one_message_at_a_time_and_keeps_no_results() -> None:
    settings = make_settings(Path("/nonexistent"), CELERY_QUEUE="webhooks-eu")
    app = tasks.create_celery_app(settings, include=worker.TASK_MODULES, set_as_current=False)

    webhook_task = app.tasks[PROCESS_EVENT]

    assert (webhook_task.acks_late, webhook_task.reject_on_worker_lost) == (True, True)
    assert webhook_task.ignore_result is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_default_queue == "webhooks-eu"
    assert app.conf.accept_content == ["json"]
    # A worker (`celery -A backend.worker`) imports every job module: webhook events and
    # large document ingests.
    assert set(worker.celery_app.conf.include) == {
        "assessments.02_rag_chatbot.tasks",
        "assessments.03_saas_ai_agent.webhooks.tasks",
    }
    app.loader.import_default_modules()  # what a worker does at start
    ingest_task = app.tasks["rag.ingest_document"]
    assert (ingest_task.acks_late, ingest_task.reject_on_worker_lost) == (True, True)


def test_the_api_refuses_to_start_when_the_configured_broker_does_not_answer(
    tmp_path: Path,
) -> None:
    dead = f"amqp://guest:secret@127.0.0.1:{free_port()}//"
    settings = make_settings(tmp_path, CELERY_BROKER_URL=dead)

    with (
        pytest.raises(RuntimeError, match="CELERY_BROKER_URL") as refused,
        build_client(settings, saas_test_settings()),
    ):
        pass

    assert "secret" not in str(refused.value)


def test_a_database_that_does_not_answer_is_named_in_the_error() -> None:
    url = f"postgresql+psycopg://postgres:secret@127.0.0.1:{free_port()}/nowhere"

    with pytest.raises(RuntimeError, match="DATABASE_URL=postgresql") as refused:
        check_database(url, timeout=1)

    assert "secret" not in str(refused.value)
    check_database("sqlite:///relative/file.db")  # SQLite: nothing to probe


@pytest.mark.parametrize("setting", ["DATABASE_URL", "CELERY_BROKER_URL"])
def test_a_celery_worker_refuses_to_start_naming_the_setting_that_does_not_answer(
    tmp_path: Path, setting: str
) -> None:
    dead_port = free_port()
    urls = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
        "CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//",
    }
    urls[setting] = {
        "DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{dead_port}/nowhere",
        "CELERY_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{dead_port}//",
    }[setting]
    env = process_env(tmp_path, CELERY_QUEUE=f"never-{uuid.uuid4().hex[:8]}", **urls)

    worker = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "backend.worker", "worker", "--pool", "solo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,  # it exits by itself in seconds; a loaded machine took over 60
    )

    what = "database" if setting == "DATABASE_URL" else "broker"
    assert worker.returncode != 0
    assert f"Celery worker not started: The {what} at {setting}=" in worker.stderr
