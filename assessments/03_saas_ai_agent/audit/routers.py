"""The caller's tenant's audit log."""

from __future__ import annotations

from fastapi import APIRouter

from core.pagination import Limit, Offset

from ..auth.context import RequestContext
from ..db import TenantDB
from ..dependencies import ReadAsAdmin
from . import services
from .models import AuditLogPublic

router = APIRouter(tags=["A3 · audit and usage"])


@router.get("/audit")
async def read_audit_log(
    admin: ReadAsAdmin,
    action: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> AuditLogPublic:
    """Every write and agent run in this tenant, newest first (`?action=` filters)."""
    return await admin(_page, action=action, limit=limit, offset=offset)


def _page(
    db: TenantDB, ctx: RequestContext, *, action: str | None, limit: int, offset: int
) -> AuditLogPublic:
    return services.list_entries(db, action=action, limit=limit, offset=offset)
