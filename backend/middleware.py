"""ASGI middleware: request IDs, access log and metrics, body size limit, NUL characters.

Written as plain ASGI (not `BaseHTTPMiddleware`) so streamed responses
(SSE) pass through untouched and the size limit applies to chunked bodies too.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.exceptions import error_body
from core.metrics import HTTP_LATENCY, HTTP_REQUESTS
from core.telemetry import tag_request

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
log = structlog.get_logger("backend.access")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


class RequestContextMiddleware:
    """Gives every request an ID (the client's `X-Request-ID` when valid), logs and meters it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, REQUEST_ID_HEADER.encode())
        valid = incoming is not None and _VALID_REQUEST_ID.match(incoming)
        request_id = incoming if valid else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        tag_request(request_id)

        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Handled here rather than by Starlette's outermost error middleware,
            # so even a 500 carries the request ID and the error shape.
            log.exception("unhandled_exception", path=scope["path"], error_type=type(exc).__name__)
            status = 500
            if not response_started:
                body = error_body("internal_error", "Internal server error", request_id)
                await _send_json(send_with_id, 500, body)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
            HTTP_LATENCY.labels(method=method, route=route).observe(elapsed)
            log.info(
                "request",
                method=method,
                path=scope["path"],
                status_code=status,
                latency_ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()


class BodySizeLimitMiddleware:
    """Refuses bodies over `max_bytes` with 413, by header and while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, send)
            return

        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not response_started:
                await self._reject(scope, send)

    async def _reject(self, scope: Scope, send: Send) -> None:
        request_id = scope.get("state", {}).get("request_id", "")
        body = error_body(
            "payload_too_large",
            f"Request body exceeds the limit of {self.max_bytes} bytes",
            request_id,
        )
        await _send_json(send, 413, body)


class NulCharacterMiddleware:
    """Refuses a NUL character (U+0000) in the path, the query or a JSON or form body with
    422: PostgreSQL cannot store one in text, so no field accepts it, on any database."""

    _BODY_TYPES = ("application/json", "application/x-www-form-urlencoded")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or _ENCODED_NUL.search(scope.get("query_string", b"")):
            await _reject_nul(scope, send)
            return
        content_type = (_header(scope, b"content-type") or "").lower()
        if not content_type.startswith(self._BODY_TYPES):
            await self.app(scope, receive, send)
            return
        # Bodies of these types are read whole by the routes anyway (and the size limit
        # outside this middleware bounds them).
        messages = [await receive()]
        while messages[-1]["type"] == "http.request" and messages[-1].get("more_body"):
            messages.append(await receive())
        body = b"".join(message.get("body", b"") for message in messages)
        pattern = _ESCAPED_NUL if content_type.startswith("application/json") else _ENCODED_NUL
        if pattern.search(body):
            await _reject_nul(scope, send)
            return
        replay = iter(messages)

        async def replayed_receive() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replayed_receive, send)


# `\u0000` in JSON, unless its backslash is itself escaped (`\\u0000` is text, not a NUL).
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_ENCODED_NUL = re.compile(rb"%00|\x00")


async def _reject_nul(scope: Scope, send: Send) -> None:
    request_id = scope.get("state", {}).get("request_id", "")
    message = "Text may not contain the NUL character (U+0000)"
    await _send_json(send, 422, error_body("validation_error", message, request_id))


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class _BodyTooLarge(HTTPException):
    """Raised from `receive`; an HTTPException so FastAPI's body parsing re-raises it as is."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"Request body exceeds the limit of {max_bytes} bytes")
