"""Shared fixtures: every test gets its own settings, data folder and database.

Tests run on the local providers (no network). Areas are marked by folder and
the run ends with one summary line per area, so a grader sees the grade at a
glance.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from core.config import Settings
from core.structured_output import STRUCTURED_OUTPUT_MEMORY
from core.telemetry import configure_tracing, shutdown_tracing
from core.trace_redaction import RedactingExporter
from tests.support import make_app, make_settings

AREAS = {
    "core": "core",
    "a1_workflow": "assessment1",
    "a2_rag": "assessment2",
    "a3_saas": "assessment3",
    "contract": "contract",
    "scale": "scale",
    "kit": "kit",
    "fuzz": "fuzz",
    "browser": "browser",
    "live": "live",
}
AREA_TITLES = {
    "core": "core",
    "assessment1": "assessment 1",
    "assessment2": "assessment 2",
    "assessment3": "assessment 3",
    "contract": "contract",
    "scale": "scale-out (live services)",
    "kit": "grader's kit",
    "fuzz": "fuzzing (OpenAPI)",
    "browser": "demo in a browser",
    "live": "live (a real LLM server)",
}

pytest_plugins = ["tests.contract.plugin"]


@pytest.fixture(autouse=True)
def _forget_structured_output_refusals() -> None:
    """Mock servers share base URLs: one test's json_schema refusal must not shape the next."""
    STRUCTURED_OUTPUT_MEMORY.clear()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture(scope="session")
def sample_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder as the app's first start with sample data leaves it: acme-corp and
    globex-inc ingested, the demo tenants created (read-only: copy it)."""
    data_dir = tmp_path_factory.mktemp("sample-data")
    with TestClient(make_app(make_settings(data_dir, LOAD_SAMPLE_DATA=True))):
        pass
    return data_dir


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(make_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def traced() -> Iterator[InMemorySpanExporter]:
    """Tracing on in this process, into memory, for the apps the test creates; off afterwards.
    Spans pass the same redaction as those sent to a collector."""
    exporter = InMemorySpanExporter()
    configure_tracing("test-api", processor=SimpleSpanProcessor(RedactingExporter(exporter)))
    try:
        yield exporter
    finally:
        shutdown_tracing()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        for folder, marker in AREAS.items():
            if folder in parts:
                item.add_marker(getattr(pytest.mark, marker))


def _area(report: pytest.TestReport) -> str:
    parts = Path(report.nodeid.split("::")[0]).parts
    for folder, marker in AREAS.items():
        if folder in parts:
            return marker
    return "other"


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    counts: dict[str, Counter] = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") not in ("call", "setup") and outcome != "error":
                continue
            if outcome == "passed" and report.when != "call":
                continue
            counts.setdefault(_area(report), Counter())[outcome] += 1
    if not counts:
        return
    terminalreporter.section("summary by area")
    for area in [*AREA_TITLES, "other"]:
        if area not in counts:
            continue
        c = counts[area]
        failed = c["failed"] + c["error"]
        line = f"{AREA_TITLES.get(area, area)}: {c['passed']} passed, {failed} failed"
        if c["skipped"]:
            line += f", {c['skipped']} skipped"
        terminalreporter.write_line(line)
