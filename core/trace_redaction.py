"""What leaves the process in a span: every string attribute, event and status masked.

Instrumentations add what they see (a database error quoting the row it refused, a URL);
`RedactingExporter` wraps the real exporter and passes each span through
`core.logger.mask_text` first, as the log pipeline does for log lines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Status

from core.logger import mask_text


class RedactingExporter(SpanExporter):
    """Masks emails, phone numbers, tokens and secrets (`core.logger.mask_text`) in every
    attribute, event and status of a span before the wrapped exporter sends it: a database
    error's text can quote the row it refused."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.exporter.export([_redacted(span) for span in spans])

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)


def _redacted(span: ReadableSpan) -> ReadableSpan:
    status = span.status
    if status.description:
        status = Status(status.status_code, mask_text(status.description))
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_masked(span.attributes),
        events=[Event(e.name, _masked(e.attributes), e.timestamp) for e in span.events],
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _masked(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    # Ids stay as they are: a UUID's last group of 12 digits reads as a phone number.
    return {
        key: mask_text(value) if isinstance(value, str) and not _is_id(key) else value
        for key, value in (attributes or {}).items()
    }


def _is_id(key: str) -> bool:
    return key.endswith((".id", "_id"))
