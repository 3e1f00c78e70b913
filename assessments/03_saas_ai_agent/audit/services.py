"""Recording to the audit log, and reading a tenant's log back."""

from __future__ import annotations

from typing import Any

from sqlmodel import col

from core.telemetry import current_trace_id

from ..auth.context import RequestContext
from ..db import TenantDB
from .models import AuditEntryPublic, AuditLog, AuditLogPublic


def record(db: TenantDB, ctx: RequestContext, **fields: Any) -> AuditLog:
    """Add an entry (`entry`'s fields) to the caller's transaction: it commits with the
    change it describes."""
    return db.add(entry(db, ctx, **fields))


def entry(
    db: TenantDB,
    ctx: RequestContext,
    *,
    action: str,
    resource_type: str,
    resource_id: object | None = None,
    details: dict[str, Any] | None = None,
) -> AuditLog:
    """An audit entry of the caller's tenant: `record` adds it to the transaction; a caller
    that writes its rows itself (`TenantDB.insert`) takes it as it is."""
    return AuditLog(
        tenant_id=db.tenant_id,
        user_id=ctx.user_id,
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id) if resource_id is not None else None,
        details=details or {},
        request_id=ctx.request_id or None,
        trace_id=current_trace_id(),
    )


def list_entries(db: TenantDB, *, action: str | None, limit: int, offset: int) -> AuditLogPublic:
    statement = db.select(AuditLog)
    if action:
        statement = statement.where(AuditLog.action == action)
    order = (col(AuditLog.created_at).desc(), col(AuditLog.id).desc())
    rows, count = db.page(statement, *order, limit=limit, offset=offset)
    return AuditLogPublic(data=[AuditEntryPublic.model_validate(r) for r in rows], count=count)
