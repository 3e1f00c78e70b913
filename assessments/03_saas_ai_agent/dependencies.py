"""Typed dependencies: the runtime, the caller's context, permissions, the tenant's data.

Handlers read like sentences: `def list_leads(ctx: CanReadLeads, db: TenantDBDep)`.
The context is resolved once per request (FastAPI caches it) and rate-limited
there, before any handler work. Dependencies without I/O are `async def`, so
they run on the event loop instead of taking a threadpool hop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from core.exceptions import (
    AuthenticationException,
    AuthorizationException,
    PayloadTooLargeException,
)
from core.request_id import request_id
from core.telemetry import tag_tenant

from .auth import context as perms
from .auth.context import RequestContext
from .auth.services import load_context
from .auth.tokens import BEARER, decode_access_token
from .db import TenantDB
from .runtime import SaasRuntime

# Absolute, for Swagger's "Authorize" form: backend.main mounts this package at /api/03-saas.
TOKEN_URL = "/api/03-saas/auth/token"
oauth2_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)


async def get_runtime(request: Request) -> SaasRuntime:
    return request.app.state.saas  # type: ignore[no-any-return]


RuntimeDep = Annotated[SaasRuntime, Depends(get_runtime)]


async def read_webhook_body(request: Request, runtime: RuntimeDep) -> bytes:
    """The raw body a webhook signature covers, read only up to SAAS_WEBHOOK_MAX_BODY_BYTES:
    a larger one is refused by its Content-Length or while it streams in, before anything
    parses, verifies or stores it."""
    limit = runtime.saas.WEBHOOK_MAX_BODY_BYTES
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _webhook_too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _webhook_too_large(limit)
    return bytes(body)


def _webhook_too_large(limit: int) -> PayloadTooLargeException:
    return PayloadTooLargeException(f"Webhook body exceeds the limit of {limit} bytes")


WebhookBody = Annotated[bytes, Depends(read_webhook_body)]


def get_request_context(
    request: Request,
    runtime: RuntimeDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> RequestContext:
    if not token:
        raise AuthenticationException("Not authenticated", headers=BEARER)
    claims = decode_access_token(token, settings=runtime.settings)
    ctx = load_context(runtime, claims, request_id=request_id(request))
    if ctx.tenant_id is not None:
        tag_tenant(ctx.tenant_id)
        runtime.rate_limiter.hit_tenant(ctx.tenant_id, ctx.subscription_tier or "starter")
    return ctx


CurrentContext = Annotated[RequestContext, Depends(get_request_context)]


def require(permission: str) -> Callable[[RequestContext], Awaitable[RequestContext]]:
    async def check(ctx: CurrentContext) -> RequestContext:
        if not ctx.can(permission):
            raise AuthorizationException(f"This action needs the {permission!r} permission")
        return ctx

    return check


CanReadLeads = Annotated[RequestContext, Depends(require(perms.LEADS_READ))]
CanWriteLeads = Annotated[RequestContext, Depends(require(perms.LEADS_WRITE))]
CanReadCRM = Annotated[RequestContext, Depends(require(perms.CRM_READ))]
CanWriteCRM = Annotated[RequestContext, Depends(require(perms.CRM_WRITE))]
CanRunAgents = Annotated[RequestContext, Depends(require(perms.AGENTS_RUN))]
TenantAdmin = Annotated[RequestContext, Depends(require(perms.ADMIN))]
PlatformAdmin = Annotated[RequestContext, Depends(require(perms.PLATFORM_ADMIN))]


def get_tenant_db(ctx: CurrentContext, runtime: RuntimeDep) -> Iterator[TenantDB]:
    with runtime.tenant_db(ctx.tenant) as db:
        yield db


TenantDBDep = Annotated[TenantDB, Depends(get_tenant_db)]
