"""The caller's tenant's usage: agent runs, tokens and cost per agent, model and day."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from ..auth.context import RequestContext
from ..db import TenantDB, utcnow
from ..dependencies import AdminWork, RuntimeDep
from ..runtime import SaasRuntime
from . import services
from .models import UsageReport

router = APIRouter(tags=["A3 · audit and usage"])


@router.get("/usage")
async def read_usage(
    admin: AdminWork,
    runtime: RuntimeDep,
    days: Annotated[int | None, Query(ge=1, le=366)] = None,
) -> UsageReport:
    """Usage this month (or the last `days` days), with the monthly quota."""
    since = utcnow() - timedelta(days=days) if days else services.month_start()
    return await admin(_report, runtime, since)


def _report(
    db: TenantDB, ctx: RequestContext, runtime: SaasRuntime, since: datetime
) -> UsageReport:
    return services.usage_report(
        db, monthly_runs=runtime.monthly_agent_runs(ctx.subscription_tier), since=since
    )
