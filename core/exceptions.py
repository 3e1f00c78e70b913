"""The exception hierarchy and the handlers that turn it into the error JSON.

Every error leaves the API as
`{"error": {"code": str, "message": str, "request_id": str}}` (SPEC §4).
Services raise these; routers never build error responses by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.request_id import request_id


class AppException(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.status_code = status_code or self.status_code
        self.details = details
        self.headers = headers


class ValidationException(AppException):
    status_code = 422
    code = "validation_error"


class NotFoundException(AppException):
    status_code = 404
    code = "not_found"


class ConflictException(AppException):
    status_code = 409
    code = "conflict"


class AuthenticationException(AppException):
    status_code = 401
    code = "unauthorized"


class AuthorizationException(AppException):
    status_code = 403
    code = "forbidden"


class RateLimitException(AppException):
    status_code = 429
    code = "rate_limited"


class PayloadTooLargeException(AppException):
    status_code = 413
    code = "payload_too_large"


class LLMException(AppException):
    """A real LLM call failed after its retries (or the circuit is open).

    Services catch it and fall back to the local step; it reaches a client
    only where no fallback exists.
    """

    status_code = 502
    code = "llm_unavailable"
    # Each HTTP request the call made and what came of it, for the step's audit (never a body).
    attempt_log: Sequence[dict[str, Any]] = ()


def error_body(code: str, message: str, request_id: str | None, details: Any = None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message, "request_id": request_id or ""}
    if details is not None:
        error["details"] = details
    return {"error": error}


async def _app_exception(request: Request, exc: AppException) -> JSONResponse:
    return JSONResponse(
        error_body(exc.code, exc.message, request_id(request), exc.details),
        status_code=exc.status_code,
        headers=exc.headers,
    )


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


async def _http_exception(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400 and isinstance(exc.__cause__, RecursionError):
        # FastAPI answers 400 when `json.loads` gives up on a deeply nested body; it is
        # malformed JSON like any other, so 422 as FastAPI answers the rest.
        return JSONResponse(
            error_body("validation_error", "body: JSON nested too deeply", request_id(request)),
            status_code=422,
        )
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "Request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = f"No route for {request.method} {request.url.path}"
    return JSONResponse(
        error_body(code, message, request_id(request)),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def _jsonable_errors(exc: RequestValidationError) -> list[dict]:
    cleaned = []
    for err in exc.errors():
        item = {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type")}
        cleaned.append(item)
    return cleaned


async def _validation_exception(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = _jsonable_errors(exc)
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"])
    message = f"{where}: {first['msg']}" if where else first["msg"]
    return JSONResponse(
        error_body("validation_error", message, request_id(request), errors),
        status_code=422,
    )


def register_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppException, _app_exception)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_exception)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_exception)  # type: ignore[arg-type]
    # Unexpected exceptions become a 500 in the same shape in
    # backend.middleware.RequestContextMiddleware, which also stamps the request ID.
