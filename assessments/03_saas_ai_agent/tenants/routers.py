"""Tenants (platform admin) and the users of a tenant (tenant admin)."""

from __future__ import annotations

from fastapi import APIRouter, status

from core.pagination import Limit, Offset

from ..auth.context import RequestContext
from ..db import TenantDB
from ..dependencies import AdminWork, PlatformAdmin, ReadAsAdmin, ReadOwnTenant, RuntimeDep
from ..runtime import SaasRuntime
from . import services
from .models import (
    TenantCreate,
    TenantCreated,
    TenantLimits,
    TenantPublic,
    UserCreate,
    UserPublic,
    UsersPublic,
    WebhookSecret,
)

router = APIRouter(tags=["A3 · tenants"])


@router.post("/tenants", status_code=status.HTTP_201_CREATED)
def create_tenant(body: TenantCreate, ctx: PlatformAdmin, runtime: RuntimeDep) -> TenantCreated:
    """Create a tenant and its admin; the webhook secret is shown this once."""
    return services.create_tenant(runtime, ctx, body)


@router.get("/tenants/me")
async def read_my_tenant(tenant: ReadOwnTenant, runtime: RuntimeDep) -> TenantPublic:
    """The caller's tenant, with its rate limit and monthly agent-run quota."""
    return await tenant(_read_tenant, runtime)


@router.post("/tenants/me/webhook-secret")
async def rotate_webhook_secret(admin: AdminWork) -> WebhookSecret:
    """Replace the webhook signing secret; the new one is shown this once."""
    return await admin(_rotate_secret)


@router.post("/users", status_code=status.HTTP_201_CREATED)
async def create_user(body: UserCreate, admin: AdminWork, runtime: RuntimeDep) -> UserPublic:
    """Add a user (a member by default) to the caller's tenant."""
    return await admin(_create_user, runtime, body)


@router.get("/users")
async def list_users(admin: ReadAsAdmin, limit: Limit = 50, offset: Offset = 0) -> UsersPublic:
    """The users of the caller's tenant."""
    return await admin(_users_page, limit=limit, offset=offset)


# The work of each tenant route, run in the tenant's session by `TenantWork`.


def _read_tenant(db: TenantDB, ctx: RequestContext, runtime: SaasRuntime) -> TenantPublic:
    tenant = services.current_tenant(db)
    return TenantPublic(
        id=tenant.id,
        name=tenant.name,
        subscription_tier=tenant.subscription_tier,
        created_at=tenant.created_at,
        limits=TenantLimits(
            rate_limit=str(runtime.rate_limiter.limit_for(tenant.subscription_tier)),
            monthly_agent_runs=runtime.monthly_agent_runs(tenant.subscription_tier),
        ),
    )


def _rotate_secret(db: TenantDB, ctx: RequestContext) -> WebhookSecret:
    return WebhookSecret(webhook_secret=services.rotate_webhook_secret(db, ctx))


def _create_user(
    db: TenantDB, ctx: RequestContext, runtime: SaasRuntime, body: UserCreate
) -> UserPublic:
    user = services.create_user(runtime, db, ctx, body)
    return UserPublic.model_validate(user, from_attributes=True)


def _users_page(db: TenantDB, ctx: RequestContext, *, limit: int, offset: int) -> UsersPublic:
    users, count = services.list_users(db, limit=limit, offset=offset)
    return UsersPublic(
        data=[UserPublic.model_validate(u, from_attributes=True) for u in users], count=count
    )
