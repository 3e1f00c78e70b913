"""The caller's tenant's usage: agent runs, tokens and cost per agent, model and day."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from ..db import utcnow
from ..dependencies import RuntimeDep, TenantAdmin, TenantDBDep
from . import services
from .models import UsageReport

router = APIRouter(tags=["A3 · audit and usage"])


@router.get("/usage")
def read_usage(
    ctx: TenantAdmin,
    db: TenantDBDep,
    runtime: RuntimeDep,
    days: Annotated[int | None, Query(ge=1, le=366)] = None,
) -> UsageReport:
    """Usage this month (or the last `days` days), with the monthly quota."""
    since = utcnow() - timedelta(days=days) if days else services.month_start()
    return services.usage_report(
        db, monthly_runs=runtime.monthly_agent_runs(ctx.subscription_tier), since=since
    )
