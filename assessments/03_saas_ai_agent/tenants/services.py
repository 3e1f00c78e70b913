"""Creating tenants and users, the platform admin at start, and webhook secrets."""

from __future__ import annotations

import base64
import secrets

import structlog
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.exceptions import ConflictException, NotFoundException

from ..audit import services as audit
from ..auth.context import RequestContext
from ..db import TenantDB
from ..runtime import SaasRuntime
from .models import Role, Tenant, TenantCreate, TenantCreated, User, UserCreate

log = structlog.get_logger(__name__)


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def bootstrap_platform_admin(runtime: SaasRuntime) -> User:
    """Create the platform admin from settings, or bring its password in line with them."""
    email = runtime.auth.PLATFORM_ADMIN_EMAIL.strip().lower()
    password = runtime.auth.PLATFORM_ADMIN_PASSWORD.get_secret_value()
    with runtime.privileged() as session:
        admin = session.exec(select(User).where(User.email == email)).first()
        if admin is None:
            admin = User(
                email=email,
                password_hash=runtime.passwords.hash(password),
                role=Role.PLATFORM_ADMIN,
            )
            session.add(admin)
            try:
                session.commit()
            except IntegrityError:  # another replica created it first
                session.rollback()
                return session.exec(select(User).where(User.email == email)).one()
            log.info("platform_admin_created", email=email)
        elif admin.role != Role.PLATFORM_ADMIN or admin.tenant_id is not None:
            raise RuntimeError(f"PLATFORM_ADMIN_EMAIL {email} belongs to a tenant user")
        elif not runtime.passwords.verify(admin.password_hash, password):
            admin.password_hash = runtime.passwords.hash(password)
            session.add(admin)
            session.commit()
            log.info("platform_admin_password_updated", email=email)
        return admin


def create_tenant(
    runtime: SaasRuntime, ctx: RequestContext, tenant_in: TenantCreate
) -> TenantCreated:
    """A tenant and its first admin. Privileged: the tenant does not exist yet."""
    with runtime.privileged() as session:
        _ensure_free(session, name=tenant_in.name, email=tenant_in.admin_email)
        tenant = Tenant(
            name=tenant_in.name,
            subscription_tier=tenant_in.subscription_tier,
            webhook_secret=new_webhook_secret(),
        )
        admin = User(
            tenant_id=tenant.id,
            email=tenant_in.admin_email,
            password_hash=runtime.passwords.hash(tenant_in.admin_password),
            role=Role.TENANT_ADMIN,
        )
        session.add(tenant)
        session.flush()
        session.add(admin)
        try:
            session.commit()
        except IntegrityError:
            raise ConflictException("A tenant with this name or admin email exists") from None
    with runtime.tenant_db(tenant.id) as db:
        audit.record(
            db,
            ctx,
            action="tenant.created",
            resource_type="tenant",
            resource_id=tenant.id,
            details={"name": tenant.name, "tier": tenant.subscription_tier, "admin": str(admin.id)},
        )
        db.commit()
    return TenantCreated(
        id=tenant.id,
        name=tenant.name,
        subscription_tier=tenant.subscription_tier,
        webhook_secret=tenant.webhook_secret,
        admin_user_id=admin.id,
    )


def _ensure_free(session: Session, *, name: str, email: str) -> None:
    if session.exec(select(Tenant).where(Tenant.name == name)).first():
        raise ConflictException(f"A tenant named {name!r} exists")
    if session.exec(select(User).where(User.email == email)).first():
        raise ConflictException("A user with this email exists")


def current_tenant(db: TenantDB) -> Tenant:
    tenant = db.first(db.select(Tenant))
    if tenant is None:
        raise NotFoundException("This tenant no longer exists")
    return tenant


def rotate_webhook_secret(db: TenantDB, ctx: RequestContext) -> str:
    tenant = current_tenant(db)
    tenant.webhook_secret = new_webhook_secret()
    db.session.add(tenant)
    audit.record(
        db,
        ctx,
        action="tenant.webhook_secret_rotated",
        resource_type="tenant",
        resource_id=tenant.id,
    )
    db.commit()
    return tenant.webhook_secret


def create_user(
    runtime: SaasRuntime, db: TenantDB, ctx: RequestContext, user_in: UserCreate
) -> User:
    user = User(
        email=user_in.email,
        password_hash=runtime.passwords.hash(user_in.password),
        role=user_in.role,
    )
    db.add(user)
    audit.record(
        db,
        ctx,
        action="user.created",
        resource_type="user",
        resource_id=user.id,
        details={"email": user.email, "role": user.role},
    )
    try:
        db.commit()
    except IntegrityError:
        # Emails are unique across all tenants; say so without saying whose.
        raise ConflictException("A user with this email exists") from None
    return user


def list_users(db: TenantDB, *, limit: int, offset: int) -> tuple[list[User], int]:
    return db.page(db.select(User), col(User.created_at), limit=limit, offset=offset)
