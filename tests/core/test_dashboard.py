"""The Grafana dashboard (deploy/grafana) asks only for metrics the app exports at /metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.core

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy/grafana/assessments-dashboard.json"
PROMQL_FUNCTIONS = {"sum", "max", "min", "avg", "rate", "increase", "histogram_quantile"}


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression reads (labels, ranges and functions left out)."""
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without)\s*\([^)]*\)", "", expr)
    return set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr)) - PROMQL_FUNCTIONS


def exported_names(exposition: str) -> set[str]:
    """Every series name the text format can carry, from its `# TYPE` lines."""
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


def _queries() -> list[tuple[str, str]]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [
        (panel["title"], target["expr"])
        for panel in panels
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


def test_metric_names_are_read_from_promql_as_prometheus_would() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket"
        '{route=~"/api.*"}[$__rate_interval]))) / max without (kind) (saas_tenant_tokens_month)'
    )
    assert metric_names(expr) == {
        "http_request_duration_seconds_bucket",
        "saas_tenant_tokens_month",
    }


def test_every_dashboard_query_names_a_metric_the_app_exports(client: TestClient) -> None:
    exported = exported_names(client.get("/metrics").text)
    queries = _queries()

    assert len(queries) >= 14
    missing = {(title, name) for title, expr in queries for name in metric_names(expr) - exported}
    assert missing == set()
    assert {"saas_webhook_events", "saas_tenant_agent_runs_month"} <= exported


def test_every_panel_says_what_it_answers() -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    charts = [panel for panel in panels if panel["type"] != "row"]
    assert all(len(panel.get("description", "")) > 20 for panel in charts)
