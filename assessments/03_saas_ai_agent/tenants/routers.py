"""Tenants (platform admin) and the users of a tenant (tenant admin)."""

from __future__ import annotations

from fastapi import APIRouter, status

from core.pagination import Limit, Offset

from ..dependencies import PlatformAdmin, RuntimeDep, TenantAdmin, TenantDBDep
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
def read_my_tenant(db: TenantDBDep, runtime: RuntimeDep) -> TenantPublic:
    """The caller's tenant, with its rate limit and monthly agent-run quota."""
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


@router.post("/tenants/me/webhook-secret")
def rotate_webhook_secret(ctx: TenantAdmin, db: TenantDBDep) -> WebhookSecret:
    """Replace the webhook signing secret; the new one is shown this once."""
    return WebhookSecret(webhook_secret=services.rotate_webhook_secret(db, ctx))


@router.post("/users", status_code=status.HTTP_201_CREATED)
def create_user(
    body: UserCreate, ctx: TenantAdmin, db: TenantDBDep, runtime: RuntimeDep
) -> UserPublic:
    """Add a user (a member by default) to the caller's tenant."""
    user = services.create_user(runtime, db, ctx, body)
    return UserPublic.model_validate(user, from_attributes=True)


@router.get("/users")
def list_users(
    ctx: TenantAdmin,
    db: TenantDBDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> UsersPublic:
    """The users of the caller's tenant."""
    users, count = services.list_users(db, limit=limit, offset=offset)
    return UsersPublic(
        data=[UserPublic.model_validate(u, from_attributes=True) for u in users], count=count
    )
