"""The caller's tenant's audit log."""

from __future__ import annotations

from fastapi import APIRouter

from core.pagination import Limit, Offset

from ..dependencies import TenantAdmin, TenantDBDep
from . import services
from .models import AuditLogPublic

router = APIRouter(tags=["A3 · audit and usage"])


@router.get("/audit")
def read_audit_log(
    ctx: TenantAdmin,
    db: TenantDBDep,
    action: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> AuditLogPublic:
    """Every write and agent run in this tenant, newest first (`?action=` filters)."""
    return services.list_entries(db, action=action, limit=limit, offset=offset)
