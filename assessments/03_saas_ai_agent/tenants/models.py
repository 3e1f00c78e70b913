"""Tenants and their users, and the request and response shapes around them."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, EmailStr, field_validator
from pydantic import Field as PydanticField
from sqlalchemy import String
from sqlmodel import Field, SQLModel

from ..config import Tier
from ..db import UtcDateTime, utcnow


class Role(StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    TENANT_ADMIN = "tenant_admin"
    MEMBER = "member"


class Tenant(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    subscription_tier: Tier = Field(sa_type=String(20))
    # Kept readable (not hashed): verifying an HMAC needs the key itself.
    webhook_secret: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class User(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    tenant_id: uuid.UUID | None = Field(default=None, foreign_key="tenant.id", index=True)
    email: str = Field(max_length=320, unique=True, index=True)
    password_hash: str = Field(max_length=200)
    role: str = Field(max_length=20)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


Email = Annotated[EmailStr, AfterValidator(str.lower)]


class TenantCreate(BaseModel):
    name: str = PydanticField(min_length=1, max_length=200)
    subscription_tier: Tier = "starter"
    admin_email: Email
    admin_password: str = PydanticField(min_length=8, max_length=200)


class TenantCreated(BaseModel):
    id: uuid.UUID
    name: str
    subscription_tier: Tier
    webhook_secret: str
    admin_user_id: uuid.UUID


class TenantLimits(BaseModel):
    rate_limit: str
    monthly_agent_runs: int | None


class TenantPublic(BaseModel):
    id: uuid.UUID
    name: str
    subscription_tier: Tier
    created_at: datetime
    limits: TenantLimits


class WebhookSecret(BaseModel):
    webhook_secret: str


class UserCreate(BaseModel):
    email: Email
    password: str = PydanticField(min_length=8, max_length=200)
    role: Role = Role.MEMBER

    @field_validator("role")
    @classmethod
    def _tenant_roles_only(cls, role: Role) -> Role:
        if role == Role.PLATFORM_ADMIN:
            raise ValueError("a tenant user is a member or a tenant_admin")
        return role


class UserPublic(BaseModel):
    id: uuid.UUID
    email: str
    role: Role
    tenant_id: uuid.UUID | None
    created_at: datetime


class UsersPublic(BaseModel):
    data: list[UserPublic]
    count: int
