"""OpenTelemetry traces of the API, read from the SDK's in-memory exporter.

Each test turns tracing on for its own app (`traced`), does what a user does over
HTTP, and reads the finished spans: one trace per request, the pipeline's steps
as children of the request's span, the AI steps, embedding calls and searches
with their GenAI attributes and tenant ids, and no personal data anywhere.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode, format_trace_id

from backend.main import create_app
from core.telemetry import TelemetrySettings, configure_tracing
from core.trace_redaction import RedactingExporter
from tests.a3_saas.helpers import Api, build_client, saas_test_settings
from tests.support import make_settings

pytestmark = pytest.mark.core

LEADS = "/api/01-workflow/leads"
EMAIL = "dana.kim@lumen.example.com"
PHONE = "(415) 555-0134"
LEAD_MESSAGE = (
    "Hi, I'm Dana Kim from Lumen Outdoor. We'd like a demo and a quote for 220 employees. "
    f"Budget is $50k. Reach me at {EMAIL} or {PHONE}."
)
DOCUMENT = (
    "Tessellate Robotics ships its warehouse arms from Rotterdam. "
    "Every arm carries a five-year warranty covering motors and sensors."
)
PIPELINE_STEPS = ["classify", "decide", "extract", "validate", "persist"]
QUESTION = "How long is the warranty on the warehouse arms?"


def _by_name(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def _one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    [span] = _by_name(spans, name)
    return span


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    kids = [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]
    return sorted(kids, key=lambda span: span.start_time or 0)


def _server(spans: list[ReadableSpan], route: str) -> ReadableSpan:
    [span] = [s for s in spans if s.kind == SpanKind.SERVER and s.name.endswith(route)]
    return span


def _strings(spans: list[ReadableSpan]) -> list[str]:
    """Every string a span exports: attributes, event attributes, status, name."""
    found = []
    for span in spans:
        found.append(span.name)
        found.extend(str(v) for v in (span.attributes or {}).values())
        for event in span.events:
            found.extend(str(v) for v in (event.attributes or {}).values())
        if span.status.description:
            found.append(span.status.description)
    return found


def test_a_lead_is_one_trace_classify_extract_persist_tied_to_its_request_id(
    traced: InMemorySpanExporter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with TestClient(create_app(make_settings(tmp_path))) as client:
        traced.clear()
        response = client.post(
            LEADS, json={"message": LEAD_MESSAGE}, headers={"X-Request-ID": "lead-trace-1"}
        )
        lead_id = response.json()["id"]
        spans = list(traced.get_finished_spans())
        audit = client.get(f"{LEADS}/{lead_id}/audit").json()["data"]
    logs = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]

    assert response.status_code == 201
    server = _server(spans, "/api/01-workflow/leads")
    trace_id = server.context.trace_id
    # One trace: the background loops' polls (the inbox, the ingest jobs) are not traced.
    assert len(spans) >= 10 and {span.context.trace_id for span in spans} == {trace_id}
    assert {span.attributes.get("app.request_id") for span in spans} == {"lead-trace-1"}
    assert server.attributes["app.request_id"] == "lead-trace-1"
    steps = [span.name for span in _children(spans, server) if span.name.startswith("lead.")]
    assert steps == [
        "lead.classify",
        "lead.decide",
        "lead.extract",
        "lead.validate",
        "lead.persist",
    ]

    [classify] = _children(spans, _one(spans, "lead.classify"))
    assert classify.name == "ai_step classify_intent"
    assert classify.attributes["app.ai_step.provider"] == "local"
    assert classify.attributes["app.ai_step.fallback"] is False
    [extract] = _children(spans, _one(spans, "lead.extract"))
    assert extract.name == "ai_step extract_fields"
    [insert] = _children(spans, _one(spans, "lead.persist"))
    assert insert.kind == SpanKind.CLIENT
    assert insert.attributes["db.system"] == "sqlite"
    assert str(insert.attributes["db.statement"]).startswith("INSERT INTO leads")

    hex_id = format_trace_id(trace_id)
    assert [entry["trace_id"] for entry in audit] == [hex_id] * len(audit)
    assert {entry["request_id"] for entry in audit} == {"lead-trace-1"}
    [access] = [line for line in logs if line.get("request_id") == "lead-trace-1"]
    assert (access["event"], access["trace_id"]) == ("request", hex_id)


def test_a_rag_chat_turn_embeds_then_searches_then_answers_for_its_company(
    traced: InMemorySpanExporter, tmp_path: Path
) -> None:
    with TestClient(create_app(make_settings(tmp_path))) as client:
        uploaded = client.post(
            "/api/02-rag/documents",
            data={"company_id": "tessellate"},
            files={"files": ("arms.txt", DOCUMENT.encode(), "text/plain")},
        )
        traced.clear()
        answer = client.post(
            "/api/02-rag/chat", json={"query": QUESTION, "company_id": "tessellate"}
        )
        spans = list(traced.get_finished_spans())

    assert uploaded.status_code == 201, uploaded.text
    assert answer.status_code == 200 and answer.json()["refused"] is False
    server = _server(spans, "/api/02-rag/chat")
    flow = [
        span.name.split()[0]
        for span in _children(spans, server)
        if span.name.split()[0] in ("embeddings", "retrieval", "ai_step")
    ]
    assert flow == ["embeddings", "retrieval", "ai_step"]

    embed, search, answer_step = (
        next(s for s in _children(spans, server) if s.name.startswith(prefix))
        for prefix in ("embeddings", "retrieval", "ai_step")
    )
    assert embed.attributes["gen_ai.operation.name"] == "embeddings"
    assert embed.attributes["gen_ai.request.model"] == "all-MiniLM-L6-v2"
    assert embed.attributes["app.embedding.inputs"] == 1
    assert search.name == "retrieval faiss"
    assert search.attributes["gen_ai.operation.name"] == "retrieval"
    assert search.attributes["gen_ai.data_source.id"] == "tessellate"
    assert search.attributes["app.retrieval.results"] >= 1
    assert answer_step.name == "ai_step rag.answer"
    assert answer_step.attributes["app.company_id"] == "tessellate"
    assert answer_step.attributes["app.ai_step.provider"] == "local"


def test_no_span_carries_an_email_phone_number_token_or_document_text(
    traced: InMemorySpanExporter, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    with build_client(settings, saas_test_settings()) as client:
        api = Api(client)
        tenant = api.create_tenant("enterprise")
        token = tenant.headers["Authorization"].split()[-1]
        client.post(LEADS, json={"message": LEAD_MESSAGE, "email": EMAIL, "phone": PHONE})
        client.post(
            "/api/02-rag/documents",
            data={"company_id": "tessellate"},
            files={"files": ("arms.txt", DOCUMENT.encode(), "text/plain")},
        )
        client.post("/api/02-rag/chat", params={"query": f"{QUESTION} Mail {EMAIL}"})
        api.create_lead(tenant, name="Dana Kim", email=EMAIL, phone=PHONE, message=LEAD_MESSAGE)
        api.post("/agents/extract", headers=tenant.headers, json={"text": LEAD_MESSAGE})
        spans = list(traced.get_finished_spans())

    exported = "\n".join(_strings(spans))
    assert len(spans) > 30 and "tenant.id" in json.dumps([dict(s.attributes) for s in spans])
    for secret in (EMAIL, "555-0134", "5550134", token, tenant.webhook_secret):
        assert secret not in exported
    for text in (DOCUMENT[:40], "five-year warranty", "Lumen Outdoor", QUESTION[:30]):
        assert text not in exported


def test_tracing_is_off_unless_an_otel_variable_turns_it_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)

    assert TelemetrySettings(_env_file=None).exporter is None
    assert configure_tracing("test-api", settings=TelemetrySettings(_env_file=None)) is None

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")
    on = TelemetrySettings(_env_file=None)
    assert (on.exporter, on.traces_endpoint) == ("otlp", "http://collector:4318/v1/traces")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert TelemetrySettings(_env_file=None).exporter is None


def test_an_untraced_app_answers_and_audits_without_trace_ids(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path))) as client:
        lead = client.post(LEADS, json={"message": LEAD_MESSAGE}).json()
        audit = client.get(f"{LEADS}/{lead['id']}/audit").json()["data"]

    assert audit and {entry["trace_id"] for entry in audit} == {None}


def test_redaction_masks_personal_data_but_keeps_ids() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(RedactingExporter(exporter)))
    tenant = "ec9b3d46-ab20-4ce8-ad0f-136128840710"  # its last group reads as a phone number
    attributes = {"tenant.id": tenant, "db.statement": f"SELECT 1 -- {EMAIL} {PHONE}"}
    with provider.get_tracer(__name__).start_as_current_span("s", attributes=attributes) as span:
        span.set_status(Status(StatusCode.ERROR, f"duplicate key (email)=({EMAIL})"))

    [exported] = exporter.get_finished_spans()
    assert exported.attributes["tenant.id"] == tenant
    assert exported.attributes["db.statement"] == "SELECT 1 -- [EMAIL] [PHONE]"
    assert exported.status.description == "duplicate key (email)=([EMAIL])"
