"""One trace for a webhook: its HTTP receipt in the API, the message through RabbitMQ, its
processing in a real Celery worker process and the write-back to the CRM.

The API runs in this process with the SDK's in-memory exporter; the worker exports
over OTLP/HTTP to a sink on localhost, as it would to a collector.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_span_id, format_trace_id

from tests.contract.helpers import wait_for
from tests.otlp_sink import OtlpSink
from tests.scale import test_celery_webhooks as webhooks
from tests.scale.support import celery_worker

PROCESS_EVENT = "saas.webhooks.process_event"
# The webhook tests' services: a throwaway database, a queue of the test's own, the API.
database_url, broker_url, queue = webhooks.database_url, webhooks.broker_url, webhooks.queue
worker_env, make_api = webhooks.worker_env, webhooks.make_api


def _named(spans: list[dict[str, Any]], name: str) -> dict[str, Any]:
    [span] = [span for span in spans if span["name"] == name]
    return span


def test_a_webhook_is_one_trace_from_its_request_to_the_crm_write_back(
    traced: InMemorySpanExporter,
    make_api: webhooks.ApiFactory,
    worker_env: dict[str, str],
    tmp_path: Path,
) -> None:
    api = make_api()
    tenant = api.create_tenant("enterprise")
    contact = api.create_contact(tenant, **webhooks.HOT_CONTACT)

    with OtlpSink() as sink:
        env = {
            **worker_env,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": sink.endpoint,
            "OTEL_SERVICE_NAME": "test-worker",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
        }
        with celery_worker(env, tmp_path / "worker.log") as worker:
            response = api.send_webhook(tenant, contact["id"], event_id="msg_traced")
            worker_spans = wait_for(
                lambda: (
                    any(s["name"] == "crm.update_contact" for s in sink.spans())
                    and any(s["name"].startswith("run/") for s in sink.spans())
                    and sink.spans()
                ),
                timeout=30,
                what="the worker to export the job's spans",
            )
            log = worker.output()

    assert response.status_code == 202
    api_spans = traced.get_finished_spans()
    [server] = [
        span
        for span in api_spans
        if span.kind == SpanKind.SERVER and span.name.endswith("/webhooks/crm/contact.updated")
    ]
    trace_id = format_trace_id(server.context.trace_id)
    publish = next(span for span in api_spans if span.name == f"apply_async/{PROCESS_EVENT}")
    assert format_trace_id(publish.context.trace_id) == trace_id

    job = [span for span in worker_spans if span["trace_id"] == trace_id]
    run = _named(job, f"run/{PROCESS_EVENT}")
    assert run["parent_id"] == format_span_id(publish.context.span_id)
    assert {span["service"] for span in job} == {"test-worker"}
    names = {span["name"] for span in job}
    assert {"crm.get_contact", "ai_step agent_qualify", "crm.update_contact"} <= names, names
    write_back = _named(job, "crm.update_contact")
    assert write_back["attributes"]["tenant.id"] == tenant.id
    assert write_back["attributes"]["app.crm"] == "embedded"
    statements = [
        span["attributes"].get("db.statement", "")
        for span in job
        if span["parent_id"] == write_back["span_id"]
    ]
    assert any(statement.startswith("UPDATE crm_contact") for statement in statements)

    [job_line] = [json.loads(line) for line in log.splitlines() if '"webhook_job"' in line]
    assert job_line["trace_id"] == trace_id
    entries = api.get("/audit", headers=tenant.headers).json()["data"]
    processed = next(entry for entry in entries if entry["action"] == "webhook.processed")
    assert (processed["request_id"], processed["trace_id"]) == ("webhook:msg_traced", trace_id)
