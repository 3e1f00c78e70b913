"""structlog configuration: JSON lines in production, a console renderer in dev.

`request_id` (and anything else bound with `bind_contextvars`) travels with
every line of a request. `mask_sensitive` runs on every record, so emails,
phone numbers, API keys and bearer tokens never reach a log, whoever logged
them.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, TextIO

import structlog
from opentelemetry import trace

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?i)\bbearer\s+[a-z0-9._~+/=-]+"), "Bearer [REDACTED]"),
    (re.compile(r"\beyJ[a-zA-Z0-9_-]+\.[a-zA-Z0-9_-]+\.[a-zA-Z0-9_-]*"), "[JWT]"),
    (re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{8,}"), "[API_KEY]"),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=]{8,}"), "[WEBHOOK_SECRET]"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[EMAIL]"),
]
# Not after "<hex>-": the last group of a UUID (…-a456-426614174000) is 12 digits too.
_PHONE_CANDIDATE = re.compile(r"(?<![\w.])(?<![0-9A-Fa-f]-)\+?\(?\d[\d\s().-]{6,}\d(?![\w.])")


def _mask_phone(match: re.Match[str]) -> str:
    # Dates like 2026-11-23 have 8 digits; phone numbers have 9 to 15.
    digits = sum(ch.isdigit() for ch in match.group())
    return "[PHONE]" if 9 <= digits <= 15 else match.group()


_SECRET_KEYS = re.compile(
    r"(?i)(password|passwd|secret|token$|api_key|apikey|authorization|cookie|signature)"
)
# Keys that are known to hold no personal data and must stay readable.
_SAFE_KEYS = {
    "timestamp",
    "level",
    "logger",
    "request_id",
    "trace_id",
    "span_id",
    "latency_ms",
    "status_code",
}


def mask_text(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return _PHONE_CANDIDATE.sub(_mask_phone, text)


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: "[REDACTED]" if _is_secret_key(k) else _mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_value(v) for v in value]
    return value


def _is_secret_key(key: Any) -> bool:
    return isinstance(key, str) and bool(_SECRET_KEYS.search(key))


def mask_sensitive(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key, value in list(event_dict.items()):
        if key in _SAFE_KEYS:
            continue
        event_dict[key] = "[REDACTED]" if _is_secret_key(key) else _mask_value(value)
    return event_dict


def add_trace_ids(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Every line logged inside a span (`core.telemetry`) names its trace and span."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", trace.format_trace_id(context.trace_id))
        event_dict.setdefault("span_id", trace.format_span_id(context.span_id))
    return event_dict


def configure_logging(
    level: str = "INFO",
    fmt: str = "auto",
    environment: str = "development",
    stream: TextIO | None = None,
) -> None:
    """Route structlog and standard-library logging through one masked renderer."""
    stream = stream or sys.stderr
    if fmt == "auto":
        fmt = "console" if environment == "development" and stream.isatty() else "json"
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=stream.isatty())
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    pre_chain: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *pre_chain,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            mask_sensitive,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    # The access log middleware replaces uvicorn's, which would log raw query strings.
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in ("httpx", "httpcore", "openai"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
