"""Metering agent runs, the monthly quota, and the usage report."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import func

from core.exceptions import AppException

from ..db import TenantDB, utcnow
from .models import UsageEvent, UsageReport, UsageRow


class QuotaExceeded(AppException):
    # 402, not 429: retrying will not help before the month turns or the plan changes.
    status_code = 402
    code = "quota_exceeded"


def record_run(
    db: TenantDB,
    *,
    agent: str,
    provider: str,
    model: str,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    cost_usd: float | None = None,
) -> UsageEvent:
    event = UsageEvent(
        tenant_id=db.tenant_id,
        agent=agent,
        provider=provider,
        model=model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=cost_usd or 0.0,
    )
    return db.add(event)


def month_start(now: datetime | None = None) -> datetime:
    now = now or utcnow()
    return datetime(now.year, now.month, 1, tzinfo=UTC)


def runs_this_month(db: TenantDB) -> int:
    statement = db.select(UsageEvent).where(UsageEvent.created_at >= month_start())
    return db.count(statement)


def ensure_quota(db: TenantDB, *, monthly_runs: int | None) -> None:
    if monthly_runs is None:
        return
    used = runs_this_month(db)
    if used >= monthly_runs:
        raise QuotaExceeded(
            f"Monthly agent-run quota reached ({used}/{monthly_runs}); "
            "it resets on the 1st (UTC) or with a higher subscription tier",
            details={"used": used, "quota": monthly_runs},
        )


def usage_report(db: TenantDB, *, monthly_runs: int | None, since: datetime) -> UsageReport:
    day = func.date(UsageEvent.created_at)
    statement = (
        db.select(
            UsageEvent,
            day.label("day"),
            UsageEvent.agent,
            UsageEvent.provider,
            UsageEvent.model,
            func.count().label("runs"),
            func.coalesce(func.sum(UsageEvent.prompt_tokens), 0),
            func.coalesce(func.sum(UsageEvent.completion_tokens), 0),
            func.coalesce(func.sum(UsageEvent.cost_usd), 0.0),
        )
        .where(UsageEvent.created_at >= since)
        .group_by(day, UsageEvent.agent, UsageEvent.provider, UsageEvent.model)
        .order_by(day, UsageEvent.agent, UsageEvent.model)
    )
    rows = [
        UsageRow(
            day=str(day_value),
            agent=agent,
            provider=provider,
            model=model,
            runs=runs,
            prompt_tokens=int(prompt),
            completion_tokens=int(completion),
            cost_usd=round(float(cost), 8),
        )
        for day_value, agent, provider, model, runs, prompt, completion, cost in db.session.exec(
            statement
        ).all()
    ]
    return UsageReport(
        period=month_start().strftime("%Y-%m"),
        agent_runs_this_month=runs_this_month(db),
        monthly_agent_runs=monthly_runs,
        total_cost_usd=round(sum(row.cost_usd for row in rows), 8),
        data=rows,
    )
