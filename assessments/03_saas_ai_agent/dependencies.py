"""Typed dependencies: the runtime, the caller's context, permissions, the tenant's data.

Handlers read like sentences: `def list_contacts(ctx: CanReadCRM, db: TenantDBDep)`.
A route on tenant data opens one session in the caller's tenant, checks the caller
in it and rate-limits them there, before any handler work; the handler then works in
that same session (FastAPI resolves it once per request). Dependencies without I/O
are `async def`, so they run on the event loop instead of taking a threadpool hop.

The leads routes, the API's busiest, take a `TenantWork` instead
(`async def list_leads(leads: ReadLeads)`, then `await leads(services.leads_page, ...)`):
the session, the caller's check, the rate limit and the route's work run as one call.
A read runs it on the event loop: it never waits on a lock (SQLite in WAL mode,
PostgreSQL's MVCC) and takes about a millisecond. A write, which may wait on one, runs it
in one threadpool hop. The dependency style above takes four hops (the session's start
and end, the handler, FastAPI's validation of a sync handler's return value), each ~0.3 ms
of CPU, with FastAPI's 40 threads contending for the GIL under load; `bench/bench_saas.py`
measures the read.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Concatenate, ParamSpec, TypeVar

from anyio import to_thread
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from starlette.concurrency import run_in_threadpool

from core.exceptions import (
    AuthenticationException,
    AuthorizationException,
    PayloadTooLargeException,
)
from core.request_id import request_id
from core.telemetry import tag_tenant

from .auth import context as perms
from .auth.context import RequestContext
from .auth.services import load_context, verify_caller
from .auth.tokens import BEARER, TokenClaims, decode_access_token
from .db import TenantDB
from .runtime import SaasRuntime

P = ParamSpec("P")
R = TypeVar("R")

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


async def get_token_claims(
    runtime: RuntimeDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> TokenClaims:
    if not token:
        raise AuthenticationException("Not authenticated", headers=BEARER)
    return decode_access_token(token, auth=runtime.auth, data_dir=runtime.settings.DATA_DIR)


TokenClaimsDep = Annotated[TokenClaims, Depends(get_token_claims)]


def get_request_context(
    request: Request, runtime: RuntimeDep, claims: TokenClaimsDep
) -> RequestContext:
    """The caller, checked in a session of its own: for routes that hold no tenant session
    through the request (agent runs, which may wait seconds on an LLM)."""
    ctx = load_context(runtime, claims, request_id=request_id(request))
    if ctx.tenant_id is not None:
        tag_tenant(ctx.tenant_id)
        runtime.rate_limiter.hit_tenant(ctx.tenant_id, ctx.subscription_tier or "starter")
    return ctx


CurrentContext = Annotated[RequestContext, Depends(get_request_context)]


@dataclass(frozen=True)
class TenantScope:
    ctx: RequestContext
    db: TenantDB


def open_tenant_scope(
    request: Request, runtime: RuntimeDep, claims: TokenClaimsDep
) -> Iterator[TenantScope]:
    """The request's one session in the caller's tenant, with the caller checked in it: a
    route that reads or writes tenant data makes one connection checkout and one transaction,
    not one to check the caller and another for the work."""
    if claims.tenant_id is None:
        load_context(runtime, claims, request_id=request_id(request))  # a valid platform admin
        raise AuthorizationException("This action is for tenant users")
    with runtime.tenant_db(claims.tenant_id) as db:
        ctx = verify_caller(db, claims, request_id=request_id(request))
        tag_tenant(db.tenant_id)
        runtime.rate_limiter.hit_tenant(db.tenant_id, ctx.subscription_tier or "starter")
        yield TenantScope(ctx, db)


TenantScopeDep = Annotated[TenantScope, Depends(open_tenant_scope)]


async def get_tenant_context(scope: TenantScopeDep) -> RequestContext:
    return scope.ctx


TenantContext = Annotated[RequestContext, Depends(get_tenant_context)]


def require(
    permission: str, *, in_tenant: bool = True
) -> Callable[[RequestContext], Awaitable[RequestContext]]:
    """The caller, if they hold `permission`: checked in the request's tenant session
    (`in_tenant`), or in a short session of its own."""

    def allowed(ctx: RequestContext) -> RequestContext:
        if not ctx.can(permission):
            raise AuthorizationException(f"This action needs the {permission!r} permission")
        return ctx

    async def check_in_tenant(ctx: TenantContext) -> RequestContext:
        return allowed(ctx)

    async def check(ctx: CurrentContext) -> RequestContext:
        return allowed(ctx)

    return check_in_tenant if in_tenant else check


CanReadLeads = Annotated[RequestContext, Depends(require(perms.LEADS_READ))]
CanWriteLeads = Annotated[RequestContext, Depends(require(perms.LEADS_WRITE))]
CanReadCRM = Annotated[RequestContext, Depends(require(perms.CRM_READ))]
CanWriteCRM = Annotated[RequestContext, Depends(require(perms.CRM_WRITE))]
TenantAdmin = Annotated[RequestContext, Depends(require(perms.ADMIN))]
CanRunAgents = Annotated[RequestContext, Depends(require(perms.AGENTS_RUN, in_tenant=False))]
PlatformAdmin = Annotated[RequestContext, Depends(require(perms.PLATFORM_ADMIN, in_tenant=False))]


async def get_tenant_db(scope: TenantScopeDep) -> TenantDB:
    return scope.db


TenantDBDep = Annotated[TenantDB, Depends(get_tenant_db)]


@dataclass(frozen=True)
class TenantWork:
    """The caller's work in their tenant, run when awaited: `await work(fn, *args)` opens the
    tenant session, checks the caller in it (401 for a token whose user is not in that
    tenant, 403 without the permission), rate-limits the tenant, then returns
    `fn(db, ctx, *args)`. Build the response inside `fn`: nothing touches the session after.

    `on_loop` (reads) runs it on the event loop; otherwise it takes one threadpool hop."""

    runtime: SaasRuntime
    claims: TokenClaims
    permission: str
    request_id: str
    on_loop: bool

    async def __call__(
        self,
        work: Callable[Concatenate[TenantDB, RequestContext, P], R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        if self.on_loop:
            return self._in_tenant(work, *args, **kwargs)
        return await to_thread.run_sync(functools.partial(self._in_tenant, work, *args, **kwargs))

    def _in_tenant(
        self,
        work: Callable[Concatenate[TenantDB, RequestContext, P], R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        tenant_id = self.claims.tenant_id
        assert tenant_id is not None  # `in_tenant` refused the platform admin
        with self.runtime.tenant_db(tenant_id) as db:
            ctx = verify_caller(db, self.claims, request_id=self.request_id)
            tag_tenant(tenant_id)
            self.runtime.rate_limiter.hit_tenant(tenant_id, ctx.subscription_tier or "starter")
            if not ctx.can(self.permission):
                raise AuthorizationException(
                    f"This action needs the {self.permission!r} permission"
                )
            return work(db, ctx, *args, **kwargs)


def in_tenant(permission: str, *, reads: bool) -> Callable[..., Awaitable[TenantWork]]:
    """A `TenantWork` for the caller, to run with `permission`; no I/O until awaited.
    `reads`: the work only reads, so it runs on the event loop."""

    async def bind(request: Request, runtime: RuntimeDep, claims: TokenClaimsDep) -> TenantWork:
        if claims.tenant_id is None:
            # A valid platform admin (or 401), then refused: tenant data is not theirs.
            await run_in_threadpool(load_context, runtime, claims, request_id=request_id(request))
            raise AuthorizationException("This action is for tenant users")
        return TenantWork(runtime, claims, permission, request_id(request), on_loop=reads)

    return bind


ReadLeads = Annotated[TenantWork, Depends(in_tenant(perms.LEADS_READ, reads=True))]
WriteLeads = Annotated[TenantWork, Depends(in_tenant(perms.LEADS_WRITE, reads=False))]
