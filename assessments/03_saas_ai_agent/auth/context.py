"""Who is calling, for which tenant, and what they may do."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from core.exceptions import AuthorizationException

from ..config import Tier
from ..tenants.models import Role

LEADS_READ = "leads:read"
LEADS_WRITE = "leads:write"
CRM_READ = "crm:read"
CRM_WRITE = "crm:write"
AGENTS_RUN = "agents:run"
ADMIN = "admin"
PLATFORM_ADMIN = "platform:admin"

_TENANT_WORK = frozenset({LEADS_READ, LEADS_WRITE, CRM_READ, CRM_WRITE, AGENTS_RUN})
PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.PLATFORM_ADMIN: frozenset({PLATFORM_ADMIN}),
    Role.TENANT_ADMIN: _TENANT_WORK | {ADMIN},
    Role.MEMBER: _TENANT_WORK,
}


@dataclass(frozen=True)
class RequestContext:
    """The caller. `user_id` is None for work the system does itself (the webhook worker)."""

    tenant_id: uuid.UUID | None
    user_id: uuid.UUID | None
    permissions: frozenset[str]
    role: Role | None = None
    subscription_tier: Tier | None = None
    request_id: str = ""

    @classmethod
    def system(cls, tenant_id: uuid.UUID, tier: Tier, *, request_id: str) -> RequestContext:
        return cls(
            tenant_id=tenant_id,
            user_id=None,
            permissions=frozenset({AGENTS_RUN, LEADS_WRITE, CRM_WRITE}),
            subscription_tier=tier,
            request_id=request_id,
        )

    @property
    def tenant(self) -> uuid.UUID:
        """The tenant this context acts for (the platform admin has none)."""
        if self.tenant_id is None:
            raise AuthorizationException("This action is for tenant users")
        return self.tenant_id

    def can(self, permission: str) -> bool:
        return permission in self.permissions
