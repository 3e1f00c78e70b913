"""Webhook events processed by real Celery worker processes on RabbitMQ, with PostgreSQL
shared by the API (in this process) and the workers: processed once, never lost, not when a
worker is killed mid-task and not when the broker goes away while deliveries arrive.

Each test has its own queue, deleted afterwards; each worker runs one task at a time
(`-c 1`, prefetch 1), and "killing a worker" kills its whole process group.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.a3_saas.helpers import Api, TenantHandle, build_client, saas_module, saas_test_settings
from tests.contract.helpers import wait_for
from tests.processes import process_env
from tests.scale.support import TcpProxy, broker_queue, celery_worker
from tests.services import HOST, RABBITMQ_PORT, rabbitmq_url, throwaway_database
from tests.support import make_settings

WebhookEvent = saas_module("webhooks.models").WebhookEvent
CrmSync = saas_module("crm.models").CrmSync

LEASE_SECONDS = 3
HOT_CONTACT = {
    "name": "Lena Fischer",
    "email": "lena@fabrikam.example",
    "company": "Fabrikam",
    "message": "Head of Sales here. We need a CRM assistant ASAP; 40k budget approved.",
}


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with throwaway_database(extensions=()) as url:
        yield url


@pytest.fixture
def broker_url() -> str:
    return rabbitmq_url()


@pytest.fixture
def queue(broker_url: str) -> Iterator[str]:
    with broker_queue(broker_url) as name:
        yield name


@pytest.fixture
def worker_env(tmp_path: Path, database_url: str, broker_url: str, queue: str) -> dict[str, str]:
    return process_env(
        tmp_path / "worker",
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        CELERY_QUEUE=queue,
        SAAS_WEBHOOK_LEASE_SECONDS=str(LEASE_SECONDS),
        SAAS_WEBHOOK_RETRY_BASE_SECONDS="0",
    )


ApiFactory = Callable[..., Api]


@pytest.fixture
def make_api(
    tmp_path: Path, database_url: str, broker_url: str, queue: str
) -> Iterator[ApiFactory]:
    """The backend in this process, publishing to the test's queue; no sweep unless asked."""
    with ExitStack() as stack:

        def build(*, broker: str = broker_url, **saas_overrides: Any) -> Api:
            settings = make_settings(
                tmp_path, DATABASE_URL=database_url, CELERY_BROKER_URL=broker, CELERY_QUEUE=queue
            )
            saas = saas_test_settings(WEBHOOK_LEASE_SECONDS=LEASE_SECONDS, **saas_overrides)
            return Api(stack.enter_context(build_client(settings, saas)))

        yield build


def _events(api: Api, tenant: TenantHandle) -> dict[str, Any]:
    with api.runtime.tenant_db(uuid.UUID(tenant.id)) as db:
        return {event.event_id: event for event in db.all(db.select(WebhookEvent))}


def _status(api: Api, tenant: TenantHandle, event_id: str) -> str | None:
    event = _events(api, tenant).get(event_id)
    return None if event is None else event.status


def _all_done(api: Api, tenant: TenantHandle) -> bool:
    return all(event.status == "done" for event in _events(api, tenant).values())


def _job_lines(worker: Any, event_id: str) -> list[str]:
    return [
        line
        for line in worker.output().splitlines()
        if '"webhook_job"' in line and f'"{event_id}"' in line
    ]


def test_a_signed_webhook_is_processed_by_a_celery_worker_process(
    make_api: ApiFactory, worker_env: dict[str, str], tmp_path: Path
) -> None:
    api = make_api()
    tenant = api.create_tenant("enterprise")
    contact = api.create_contact(tenant, **HOT_CONTACT)

    with celery_worker(worker_env, tmp_path / "worker.log") as worker:
        response = api.send_webhook(tenant, contact["id"], event_id="msg_celery")

        assert response.status_code == 202
        assert response.json() == {"status": "received", "event_id": "msg_celery"}
        wait_for(
            lambda: _status(api, tenant, "msg_celery") == "done",
            timeout=30,
            what="the worker to process the event",
        )
        assert len(_job_lines(worker, "msg_celery")) == 1

    scored = api.get(f"/crm/contacts/{contact['id']}", headers=tenant.headers).json()
    assert 0.7 <= scored["ai_score"] <= 1
    [lead] = api.get("/leads", headers=tenant.headers).json()["data"]
    assert (lead["email"], lead["ai_score"]) == (HOT_CONTACT["email"], scored["ai_score"])
    event = api.get("/webhooks/events/msg_celery", headers=tenant.headers).json()
    assert (event["status"], event["attempts"]) == ("done", 1)


def test_a_duplicate_delivery_is_processed_once(
    make_api: ApiFactory, worker_env: dict[str, str], tmp_path: Path
) -> None:
    api = make_api()
    tenant = api.create_tenant("enterprise")
    contact = api.create_contact(tenant, **HOT_CONTACT)

    with celery_worker(worker_env, tmp_path / "worker.log") as worker:
        first = api.send_webhook(tenant, contact["id"], event_id="msg_twice")
        again = api.send_webhook(tenant, contact["id"], event_id="msg_twice")
        # Both deliveries were published: one job processed the event, the other found it taken.
        lines = wait_for(
            lambda: len(_job_lines(worker, "msg_twice")) >= 2 and _job_lines(worker, "msg_twice"),
            timeout=30,
            what="the worker to run both jobs",
        )

    assert first.status_code == again.status_code == 202
    assert first.json() == again.json() == {"status": "received", "event_id": "msg_twice"}
    assert sum('"status": "done"' in line for line in lines) == 1
    assert sum('"status": "not_claimed"' in line for line in lines) == len(lines) - 1
    assert api.get("/webhooks/events", headers=tenant.headers).json()["count"] == 1
    assert _events(api, tenant)["msg_twice"].attempts == 1
    assert api.get("/usage", headers=tenant.headers).json()["agent_runs_this_month"] == 1
    with api.runtime.tenant_db(uuid.UUID(tenant.id)) as db:
        assert len(db.all(db.select(CrmSync))) == 1


def test_a_worker_killed_mid_task_loses_nothing_the_restarted_worker_finishes_it(
    make_api: ApiFactory, worker_env: dict[str, str], tmp_path: Path
) -> None:
    api = make_api()
    tenant = api.create_tenant("enterprise")
    contacts = [api.create_contact(tenant, **HOT_CONTACT) for _ in range(3)]
    slow_env = {**worker_env, "SLOW_CRM_SECONDS": "60"}

    with celery_worker(slow_env, tmp_path / "slow.log", app="tests.scale.slow_worker") as slow:
        for n, contact in enumerate(contacts):
            api.send_webhook(tenant, contact["id"], event_id=f"msg_{n}")
        busy = wait_for(
            lambda: [e for e in _events(api, tenant).values() if e.status == "processing"],
            timeout=30,
            what="the worker to start a job",
        )
        slow.kill()

    [killed] = busy
    assert killed.attempts == 1
    assert {event.status for event in _events(api, tenant).values()} == {"processing", "pending"}

    with celery_worker(worker_env, tmp_path / "worker.log"):
        wait_for(lambda: _all_done(api, tenant), timeout=45, what="every event to be processed")

    events = _events(api, tenant)
    assert sorted(events) == ["msg_0", "msg_1", "msg_2"]
    assert {event_id: event.attempts for event_id, event in events.items()} == {
        event_id: 2 if event_id == killed.event_id else 1 for event_id in events
    }
    for contact in contacts:
        scored = api.get(f"/crm/contacts/{contact['id']}", headers=tenant.headers).json()
        assert scored["ai_score"] is not None
    # The killed attempt died before the qualifier ran: every contact was qualified once.
    assert api.get("/usage", headers=tenant.headers).json()["agent_runs_this_month"] == 3


def test_deliveries_while_the_broker_is_away_are_stored_and_processed_when_it_returns(
    make_api: ApiFactory, worker_env: dict[str, str], tmp_path: Path
) -> None:
    proxy = TcpProxy((HOST, RABBITMQ_PORT))
    proxy.start()
    try:
        api = make_api(
            broker=f"amqp://guest:guest@{proxy.address}//",
            WEBHOOK_WORKER_ENABLED=True,  # in Celery mode: the sweep for lost events
            WEBHOOK_POLL_SECONDS=0.2,
        )
        tenant = api.create_tenant("enterprise")
        contacts = [api.create_contact(tenant, **HOT_CONTACT) for _ in range(4)]

        with celery_worker(worker_env, tmp_path / "worker.log"):
            api.send_webhook(tenant, contacts[0]["id"], event_id="msg_before")
            wait_for(lambda: _all_done(api, tenant), timeout=30, what="the first event")

            proxy.stop()
            during = [
                api.send_webhook(tenant, contact["id"], event_id=f"msg_during_{n}")
                for n, contact in enumerate(contacts[1:])
            ]
            assert [response.status_code for response in during] == [202, 202, 202]
            stored = _events(api, tenant)
            assert len(stored) == 4
            assert {stored[f"msg_during_{n}"].status for n in range(3)} == {"pending"}

            proxy.start()
            wait_for(lambda: _all_done(api, tenant), timeout=45, what="the stored events")
    finally:
        proxy.stop()

    for contact in contacts:
        scored = api.get(f"/crm/contacts/{contact['id']}", headers=tenant.headers).json()
        assert scored["ai_score"] is not None
    assert api.get("/webhooks/events?status=done", headers=tenant.headers).json()["count"] == 4
