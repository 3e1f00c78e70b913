"""Sign-in: `POST /auth/token` with JSON or the OAuth2 password form."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from core.exceptions import AppException, ValidationException

from ..dependencies import RuntimeDep
from ..errors import validation_details
from .services import authenticate_user
from .tokens import create_access_token

router = APIRouter(prefix="/auth", tags=["A3 · auth"])


class Credentials(BaseModel):
    email: str
    password: str


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


_BOTH_BODIES: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": Credentials.model_json_schema()},
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {
                        "grant_type": {"type": "string", "enum": ["password"]},
                        "username": {"type": "string", "description": "the email"},
                        "password": {"type": "string", "format": "password"},
                    },
                }
            },
        },
    }
}


@router.post("/token", openapi_extra=_BOTH_BODIES)
async def issue_token(request: Request, runtime: RuntimeDep) -> Token:
    """Exchange email and password for a bearer token (8 h)."""
    credentials = await _read_credentials(request)
    user = await run_in_threadpool(
        authenticate_user, runtime, email=credentials.email, password=credentials.password
    )
    auth = runtime.auth
    token = create_access_token(
        user.id, user.tenant_id, auth=auth, data_dir=runtime.settings.DATA_DIR
    )
    return Token(access_token=token, expires_in=auth.ACCESS_TOKEN_EXPIRE_MINUTES * 60)


async def _read_credentials(request: Request) -> Credentials:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type == "application/json":
            return Credentials.model_validate_json(await request.body())
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.form()
            return Credentials(email=form.get("username"), password=form.get("password"))  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ValidationException(
            "Send email and password (JSON) or username and password (form)",
            details=validation_details(exc),
        ) from None
    raise AppException(
        "Send JSON or an OAuth2 password form",
        code="unsupported_media_type",
        status_code=415,
    )
