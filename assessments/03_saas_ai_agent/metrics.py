"""Prometheus gauges read from the database when `/metrics` is scraped: the webhook inbox by
status (its depth and its dead letters) and each tenant's usage this month.

Read from the tables, not counted in memory: Celery worker processes do the work
and serve no `/metrics`, and every API process then reports the same figures.
"""

from __future__ import annotations

from collections.abc import Iterator

import structlog
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlmodel import col, func, select

from .runtime import SaasRuntime
from .tenants.models import Tenant
from .usage.models import UsageEvent
from .usage.services import month_start
from .webhooks.models import EventStatus, WebhookEvent

log = structlog.get_logger(__name__)


class SaasCollector(Collector):
    """Collects for the runtime of the app that is running (none between apps)."""

    runtime: SaasRuntime | None = None

    def collect(self) -> Iterator[Metric]:
        runtime = self.runtime
        if runtime is None:
            return
        try:
            by_status, usage = _read(runtime)
        except Exception as exc:  # a scrape must answer even when the database does not
            log.warning("saas_metrics_unavailable", error=type(exc).__name__)
            return
        events = GaugeMetricFamily(
            "saas_webhook_events", "Webhook inbox events by status", labels=["status"]
        )
        for status in EventStatus:
            events.add_metric([status.value], by_status.get(status.value, 0))
        yield events
        runs = GaugeMetricFamily(
            "saas_tenant_agent_runs_month", "Agent runs this month", labels=["tenant"]
        )
        cost = GaugeMetricFamily(
            "saas_tenant_cost_usd_month", "Estimated LLM cost this month", labels=["tenant"]
        )
        tokens = GaugeMetricFamily(
            "saas_tenant_tokens_month", "LLM tokens this month", labels=["tenant", "kind"]
        )
        for tenant, (n, prompt, completion, usd) in usage.items():
            runs.add_metric([tenant], n)
            cost.add_metric([tenant], usd)
            tokens.add_metric([tenant, "prompt"], prompt)
            tokens.add_metric([tenant, "completion"], completion)
        yield from (runs, cost, tokens)


def _read(
    runtime: SaasRuntime,
) -> tuple[dict[str, int], dict[str, tuple[int, int, int, float]]]:
    with runtime.privileged() as session:
        by_status = session.exec(
            select(WebhookEvent.status, func.count()).group_by(col(WebhookEvent.status))
        ).all()
        usage = session.exec(
            select(
                Tenant.name,
                func.count(col(UsageEvent.id)),
                func.coalesce(func.sum(UsageEvent.prompt_tokens), 0),
                func.coalesce(func.sum(UsageEvent.completion_tokens), 0),
                func.coalesce(func.sum(UsageEvent.cost_usd), 0.0),
            )
            .join(Tenant, col(Tenant.id) == col(UsageEvent.tenant_id))
            .where(UsageEvent.created_at >= month_start())
            .group_by(col(Tenant.name))
        ).all()
    return (
        {str(status): count for status, count in by_status},
        {name: (runs, prompt, completion, cost) for name, runs, prompt, completion, cost in usage},
    )


COLLECTOR = SaasCollector()
REGISTRY.register(COLLECTOR)
