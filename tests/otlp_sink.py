"""A tiny OTLP/HTTP trace receiver on localhost: what a collector would get, decoded.

Tests read the spans a worker process exported; the tracing benchmark sends its
batches here, so exporting costs what it costs against a real collector's socket.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


class OtlpSink:
    """`with OtlpSink() as sink:` listens on a free port; `sink.endpoint` is the traces URL."""

    def __init__(self, *, keep: bool = True) -> None:
        self.keep = keep
        self.requests = 0
        self._spans: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                sink._receive(body)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_port}/v1/traces"

    def __enter__(self) -> OtlpSink:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def spans(self) -> list[dict[str, Any]]:
        """Every span received so far: name, ids (hex), service and attributes."""
        with self._lock:
            return list(self._spans)

    def _receive(self, body: bytes) -> None:
        with self._lock:
            self.requests += 1
        if not self.keep:
            return
        request = ExportTraceServiceRequest.FromString(body)
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        {
                            "name": span.name,
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent_id": span.parent_span_id.hex(),
                            "service": resource.get("service.name"),
                            "attributes": {a.key: _value(a.value) for a in span.attributes},
                            "status": span.status.message,
                        }
                    )
        with self._lock:
            self._spans.extend(received)


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None
