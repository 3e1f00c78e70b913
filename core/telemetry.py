"""OpenTelemetry tracing: off unless the standard `OTEL_*` variables turn it on.

Tracing is on when `OTEL_TRACES_EXPORTER` is set (`otlp`, `console` or `none`:
spans are made but not sent) or an OTLP endpoint is (`OTEL_EXPORTER_OTLP_ENDPOINT`,
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, OTLP over HTTP/protobuf); `OTEL_SDK_DISABLED=true`
turns it off again. `OTEL_SERVICE_NAME` names the process (default: the API's or the
worker's name); the SDK reads the rest (`OTEL_EXPORTER_OTLP_HEADERS`,
`OTEL_TRACES_SAMPLER`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_*`) from the environment.

`configure_tracing(service)` runs once per process (the API's `create_app`, each
Celery worker process): it instruments httpx and Celery (whose message headers
carry the trace from the API to the worker); `instrument_app` and
`instrument_engine` add FastAPI and SQLAlchemy. The decorators below give the AI
steps, embedding calls and vector searches their spans, with the GenAI semantic
conventions' attributes. Span attributes hold ids, model names, counts and
timings, never prompts, lead or document text; whatever an instrumentation adds
(a query string, a database error) is masked before it leaves the process.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal, ParamSpec, TypeVar

import structlog
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.trace import SpanKind, Status, StatusCode
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import Engine

from core.metrics import VECTOR_SEARCH_LATENCY
from core.trace_redaction import RedactingExporter

P = ParamSpec("P")
R = TypeVar("R")

# Query strings hold what users typed (`POST /chat?query=...`): spans keep the path only.
_URL_KEYS = ("http.url", "url.full", "http.target", "url.query")
# Bound to the log context by the request middleware and the services; copied onto spans.
_CONTEXT_KEYS = {
    "request_id": "app.request_id",
    "tenant_id": "tenant.id",
    "company_id": "app.company_id",
}
_UNTRACED_ROUTES = "metrics,health"
_CONNECTIONS_NOT_METERED = (
    NoOpMeterProvider().get_meter(__name__).create_up_down_counter("db.client.connections.usage")
)
_provider: TracerProvider | None = None
_tracer: trace.Tracer | None = None


class TelemetrySettings(BaseSettings):
    """The OpenTelemetry variables that decide whether, and where, spans go."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True)

    OTEL_SDK_DISABLED: bool = False
    OTEL_TRACES_EXPORTER: Literal["otlp", "console", "none"] | None = None
    OTEL_EXPORTER_OTLP_ENDPOINT: str | None = None
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: str | None = None
    OTEL_SERVICE_NAME: str | None = None

    @property
    def exporter(self) -> str | None:
        if self.OTEL_SDK_DISABLED:
            return None
        if self.OTEL_TRACES_EXPORTER:
            return self.OTEL_TRACES_EXPORTER
        if self.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or self.OTEL_EXPORTER_OTLP_ENDPOINT:
            return "otlp"
        return None

    @property
    def traces_endpoint(self) -> str | None:
        if self.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT:
            return self.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
        if self.OTEL_EXPORTER_OTLP_ENDPOINT:
            return self.OTEL_EXPORTER_OTLP_ENDPOINT.rstrip("/") + "/v1/traces"
        return None  # the exporter's default, http://localhost:4318/v1/traces


# --- set-up ---------------------------------------------------------------------------------


def configure_tracing(
    service: str,
    *,
    settings: TelemetrySettings | None = None,
    processor: SpanProcessor | None = None,
) -> TracerProvider | None:
    """Start tracing in this process if the settings ask for it; None when it stays off.

    `processor` (tests: a SimpleSpanProcessor over an in-memory exporter) replaces
    the exporter the settings name, and turns tracing on regardless of them.
    """
    global _provider, _tracer
    if _provider is not None:
        return _provider
    settings = settings or TelemetrySettings()
    if processor is None:
        if settings.exporter is None:
            return None
        exporter = _exporter(settings)
        processor = BatchSpanProcessor(RedactingExporter(exporter)) if exporter else None
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: settings.OTEL_SERVICE_NAME or service})
    )
    provider.add_span_processor(_ContextAttributes())
    if processor is not None:
        provider.add_span_processor(processor)
    for instrumentor in _library_instrumentors():
        instrumentor.instrument(tracer_provider=provider)
    _provider, _tracer = provider, provider.get_tracer(__name__)
    return provider


def shutdown_tracing() -> None:
    """Flush and stop: spans still queued are exported, instrumentations removed."""
    global _provider, _tracer
    if _provider is None:
        return
    for instrumentor in _library_instrumentors():
        instrumentor.uninstrument()
    _provider.shutdown()
    _provider = _tracer = None


def _library_instrumentors() -> list[Any]:
    # Imported when tracing starts: an untraced process does not pay for loading them.
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    return [HTTPXClientInstrumentor(), CeleryInstrumentor()]


def instrument_app(app: FastAPI) -> None:
    """A server span per request (the routes Prometheus and probes poll are left out)."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=_provider,
        excluded_urls=_UNTRACED_ROUTES,
        exclude_spans=["receive", "send"],
    )


def instrument_engine(engine: Engine) -> Engine:
    """A client span per statement on this engine (its SQL, never its parameters)."""
    if _provider is not None:
        # The instrumentor patches `create_engine`, but every module here imported it before
        # tracing started: each engine is given the tracer that patch would give it.
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

        tracer = _provider.get_tracer("opentelemetry.instrumentation.sqlalchemy")
        EngineTracer(_ChildSpansOnly(tracer), engine, _CONNECTIONS_NOT_METERED)
    return engine


class _ChildSpansOnly:
    """A tracer for statements run inside a span (a request, a job) only. The background
    loops poll the database every second or so; each poll would be a trace of its own."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        if not trace.get_current_span().get_span_context().is_valid:
            return trace.INVALID_SPAN
        return self._tracer.start_span(*args, **kwargs)


def _exporter(settings: TelemetrySettings) -> SpanExporter | None:
    if settings.exporter == "console":
        return ConsoleSpanExporter()
    if settings.exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=settings.traces_endpoint)
    return None  # "none": spans are made and dropped (what tracing costs without exporting)


# --- ids in logs and records ----------------------------------------------------------------


def current_trace_id() -> str | None:
    """The trace this code runs in, as the 32 hex digits trace viewers search for."""
    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None


def tag_request(request_id: str) -> None:
    """Put the request's `X-Request-ID` on its server span (started before the ID was known)."""
    trace.get_current_span().set_attribute("app.request_id", request_id)


def tag_tenant(tenant_id: object) -> None:
    """Name the tenant on the current span; the spans started under it inherit it."""
    trace.get_current_span().set_attribute("tenant.id", str(tenant_id))


class _ContextAttributes(SpanProcessor):
    """Gives each span the request, tenant and company ids of its parent span or, failing
    that, of the log context; drops query strings from URL attributes as a span starts."""

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        parent = getattr(trace.get_current_span(parent_context), "attributes", None) or {}
        bound: dict[str, Any] | None = None  # read once, and only when the parent lacks an id
        for key, attribute in _CONTEXT_KEYS.items():
            value = parent.get(attribute)
            if value is None:
                bound = structlog.contextvars.get_contextvars() if bound is None else bound
                value = bound.get(key)
            if value is not None:
                span.set_attribute(attribute, str(value))
        for key in _URL_KEYS:
            value = (span.attributes or {}).get(key)
            if isinstance(value, str) and "?" in value:
                span.set_attribute(key, value.split("?", 1)[0])
            elif key == "url.query" and value:
                span.set_attribute(key, "")


# --- spans of our own -----------------------------------------------------------------------


@contextmanager
def _span(
    name: str, attributes: Mapping[str, Any], kind: SpanKind = SpanKind.INTERNAL
) -> Iterator[trace.Span]:
    """A child span of the current one. A failure is recorded by its type alone: exception
    messages can carry the input that caused them."""
    assert _tracer is not None
    with _tracer.start_as_current_span(
        name,
        kind=kind,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except BaseException as exc:
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            span.set_attribute("error.type", type(exc).__name__)
            raise


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[None]:
    """A span around a block (a pipeline step, a CRM call); nothing when tracing is off."""
    if _provider is None:
        yield
        return
    with _span(name, {k: v for k, v in attributes.items() if v is not None}):
        yield


def traced_step(run: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """For `core.ai_step.run_step`: a span per AI step, saying who answered and why."""

    @functools.wraps(run)
    async def wrapper(name: str, **kwargs: Any) -> Any:
        if _provider is None:
            return await run(name, **kwargs)
        with _span(f"ai_step {name}", {"app.ai_step": name}) as current:
            outcome = await run(name, **kwargs)
            current.set_attributes(_step_attributes(outcome))
            return outcome

    return wrapper


def _step_attributes(outcome: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "app.ai_step.provider": outcome.provider,
        "app.ai_step.model": outcome.model,
        "app.ai_step.fallback": outcome.fallback,
    }
    if outcome.fallback_reason:
        # "code: message"; the code alone (timeout, rate_limited, ...) says what failed.
        attributes["app.ai_step.fallback_reason"] = outcome.fallback_reason.split(":", 1)[0]
    if outcome.usage is not None:
        attributes.update(
            {
                gen_ai.GEN_AI_OPERATION_NAME: gen_ai.GenAiOperationNameValues.CHAT.value,
                gen_ai.GEN_AI_PROVIDER_NAME: outcome.provider,
                gen_ai.GEN_AI_REQUEST_MODEL: outcome.model,
                gen_ai.GEN_AI_USAGE_INPUT_TOKENS: outcome.usage.prompt_tokens,
                gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS: outcome.usage.completion_tokens,
            }
        )
    return attributes


def traced_embedding(
    method: Callable[..., Awaitable[R]],
) -> Callable[..., Awaitable[R]]:
    """For an embedding client's `embed_query` / `embed_documents`: one span per call."""

    @functools.wraps(method)
    async def wrapper(self: Any, texts: str | Sequence[str], *args: Any, **kwargs: Any) -> R:
        if _provider is None:
            return await method(self, texts, *args, **kwargs)
        attributes = {
            gen_ai.GEN_AI_OPERATION_NAME: gen_ai.GenAiOperationNameValues.EMBEDDINGS.value,
            gen_ai.GEN_AI_PROVIDER_NAME: self.provider,
            gen_ai.GEN_AI_REQUEST_MODEL: self.model,
            gen_ai.GEN_AI_EMBEDDINGS_DIMENSION_COUNT: self.dimension,
            "app.embedding.inputs": 1 if isinstance(texts, str) else len(texts),
        }
        with _span(f"embeddings {self.model}", attributes, SpanKind.CLIENT):
            return await method(self, texts, *args, **kwargs)

    return wrapper


def traced_search(store: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """For a vector store's `similarity_search`: a retrieval span and the latency histogram."""

    def decorate(method: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(method)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            try:
                if _provider is None:
                    return method(*args, **kwargs)
                company_id = kwargs.get("company_id")
                attributes = {
                    gen_ai.GEN_AI_OPERATION_NAME: gen_ai.GenAiOperationNameValues.RETRIEVAL.value,
                    gen_ai.GEN_AI_DATA_SOURCE_ID: company_id,
                    gen_ai.GEN_AI_REQUEST_TOP_K: kwargs.get("k"),
                    "db.system.name": store,
                    "app.company_id": company_id,
                }
                attributes = {k: v for k, v in attributes.items() if v is not None}
                with _span(f"retrieval {store}", attributes, SpanKind.CLIENT) as current:
                    results = method(*args, **kwargs)
                    current.set_attribute("app.retrieval.results", len(results))  # type: ignore[arg-type]
                    return results
            finally:
                VECTOR_SEARCH_LATENCY.labels(store=store).observe(time.perf_counter() - started)

        return wrapper

    return decorate
