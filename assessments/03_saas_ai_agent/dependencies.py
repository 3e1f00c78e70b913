"""Typed dependencies: the runtime, the caller's token and context, and tenant work.

A route on tenant data takes a `TenantWork` for its permission and awaits it with the
function that does the work: `async def list_leads(leads: ReadLeads, ...)`, then
`return await leads(services.leads_page, limit=limit, offset=offset)`. Awaiting it opens
one session in the caller's tenant, checks the caller in it, rate-limits them there, then
runs the function in that session, as one call: a connection checkout, a transaction, and
no second look at the caller. Where that call runs is the point of the design:

- a short read on SQLite runs on the event loop: a local file read of about a millisecond,
  which never waits on a lock (WAL mode);
- everything else (writes, which may wait on a lock; every statement on PostgreSQL, a
  network round trip; reads with no bound, like the usage report) takes one threadpool hop,
  on a pool of its own of `SAAS_DB_THREADS` threads.

Plain sync dependencies and handlers took four hops (the session's start and end, the
handler, FastAPI's validation of a sync handler's return value), each ~0.3 ms of CPU, and
under load FastAPI's 40 threads contended for the GIL; `bench/bench_saas.py` measures the
read. Dependencies without I/O are `async def`, so they take no hop at all.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
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


def allowed(ctx: RequestContext, permission: str | None) -> RequestContext:
    """The caller, if they hold `permission` (None: any caller); 403 otherwise."""
    if permission is not None and not ctx.can(permission):
        raise AuthorizationException(f"This action needs the {permission!r} permission")
    return ctx


def require(permission: str) -> Callable[[RequestContext], Awaitable[RequestContext]]:
    """The caller, if they hold `permission`, checked in a short session of its own."""

    async def check(ctx: CurrentContext) -> RequestContext:
        return allowed(ctx, permission)

    return check


CanRunAgents = Annotated[RequestContext, Depends(require(perms.AGENTS_RUN))]
PlatformAdmin = Annotated[RequestContext, Depends(require(perms.PLATFORM_ADMIN))]


@dataclass(frozen=True)
class TenantWork:
    """The caller's work in their tenant, run when awaited: `await work(fn, *args)` opens the
    tenant session, checks the caller in it (401 for a token whose user is not in that
    tenant, 403 without the permission), rate-limits the tenant, then returns
    `fn(db, ctx, *args)`. Build the response inside `fn`: nothing touches the session after.

    `on_loop` runs it on the event loop; otherwise it takes one threadpool hop."""

    runtime: SaasRuntime
    claims: TokenClaims
    permission: str | None  # None: any user of the tenant
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
        call = functools.partial(self._in_tenant, work, *args, **kwargs)
        return await to_thread.run_sync(call, limiter=self.runtime.db_threads)

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
            result = work(db, allowed(ctx, self.permission), *args, **kwargs)
            if db.session.in_transaction() and not _has_changes(db):
                # A read ends with COMMIT, not the ROLLBACK of closing the session: psycopg
                # forgets its prepared statements at every ROLLBACK, so on PostgreSQL each
                # request parsed and planned its three statements again.
                db.commit()
            return result


def _has_changes(db: TenantDB) -> bool:
    """Rows the work changed and left uncommitted, pending or already written (a flush, a
    statement): closing the session drops them."""
    session = db.session
    return bool(session.new or session.dirty or session.deleted or session.info.get("wrote"))


def in_tenant(permission: str | None, *, reads: bool) -> Callable[..., Awaitable[TenantWork]]:
    """A `TenantWork` for the caller, to run with `permission`; no I/O until awaited.
    `reads`: the work is a short, bounded read (a page of a list, one row), run on the event
    loop on SQLite."""

    async def bind(request: Request, runtime: RuntimeDep, claims: TokenClaimsDep) -> TenantWork:
        if claims.tenant_id is None:
            # A valid platform admin (or 401), then refused: tenant data is not theirs.
            await run_in_threadpool(load_context, runtime, claims, request_id=request_id(request))
            raise AuthorizationException("This action is for tenant users")
        on_loop = reads and runtime.tenant_engine.dialect.name == "sqlite"
        return TenantWork(runtime, claims, permission, request_id(request), on_loop=on_loop)

    return bind


ReadLeads = Annotated[TenantWork, Depends(in_tenant(perms.LEADS_READ, reads=True))]
WriteLeads = Annotated[TenantWork, Depends(in_tenant(perms.LEADS_WRITE, reads=False))]
ReadCRM = Annotated[TenantWork, Depends(in_tenant(perms.CRM_READ, reads=True))]
WriteCRM = Annotated[TenantWork, Depends(in_tenant(perms.CRM_WRITE, reads=False))]
ReadAsAdmin = Annotated[TenantWork, Depends(in_tenant(perms.ADMIN, reads=True))]
# The tenant admin's writes, and reads with no bound (the usage report's sums).
AdminWork = Annotated[TenantWork, Depends(in_tenant(perms.ADMIN, reads=False))]
ReadOwnTenant = Annotated[TenantWork, Depends(in_tenant(None, reads=True))]
