"""Assessment 1 behaves the same on PostgreSQL as on SQLite: tables created on an empty
database, then create a lead, list, read its audit trail, import the shipped CSV."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from tests.services import throwaway_database
from tests.support import make_settings

LEADS = "/api/01-workflow/leads"
SALES_MESSAGE = (
    "Hi, I'm Dana Kim from Lumen Outdoor. We'd like a demo and a quote for 220 employees. "
    "Budget is $50k. Reach me at dana.kim@lumen.example.com or (415) 555-0134."
)
SAMPLE_CSV = importlib.import_module("assessments.01_workflow_automation.classifier").LEADS_DATA_DIR


@pytest.fixture(params=["sqlite", "postgresql"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    """The whole backend on a new SQLite file, or on a new, empty PostgreSQL database."""
    with ExitStack() as stack:
        overrides = {}
        if request.param == "postgresql":
            overrides["DATABASE_URL"] = stack.enter_context(throwaway_database(extensions=()))
        with TestClient(create_app(make_settings(tmp_path, **overrides))) as test_client:
            assert test_client.app.state.engine.dialect.name == request.param
            yield test_client


def test_leads_list_audit_and_import_work_the_same_on_both_databases(client: TestClient) -> None:
    created = client.post(LEADS, json={"message": SALES_MESSAGE, "source": "web_form"})

    assert created.status_code == 201
    lead = created.json()
    assert (lead["intent"], lead["extraction_method"]) == ("Sales", "llm")
    assert lead["fields"]["email"] == "dana.kim@lumen.example.com"
    assert lead["fields"]["budget"] == 50000

    listed = client.get(LEADS, params={"intent": "Sales", "limit": 10}).json()
    assert [row["id"] for row in listed["data"]] == [lead["id"]]
    assert client.get(f"{LEADS}/{lead['id']}").json()["id"] == lead["id"]

    trail = client.get(f"{LEADS}/{lead['id']}/audit").json()
    assert [entry["step"] for entry in trail["data"]] == [
        "classify",
        "decide",
        "extract",
        "validate",
        "persist",
    ]

    content = (SAMPLE_CSV / "sample_leads.csv").read_bytes()
    imported = client.post(
        f"{LEADS}/import", files={"file": ("sample_leads.csv", content, "text/csv")}
    ).json()
    # The shipped CSV repeats two of its own rows; its first row has the phone number of the
    # lead created above, so it is a duplicate of that one.
    assert (imported["total"], imported["created"], imported["duplicates"]) == (15, 11, 3)
    assert imported["failed"] == 1
    assert client.get(LEADS).json()["count"] == 12
