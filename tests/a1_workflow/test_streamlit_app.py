"""The Streamlit demo, run by `streamlit.testing` against a live backend on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from backend.main import create_app
from tests.processes import serve_in_thread
from tests.support import make_settings

APP = Path(__file__).resolve().parents[2] / "streamlit_apps" / "01_workflow_app.py"


@pytest.fixture
def backend_url(tmp_path: Path) -> Iterator[str]:
    with serve_in_thread(create_app(make_settings(tmp_path))) as url:
        yield url


@pytest.fixture
def app(backend_url: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("BACKEND_URL", backend_url)
    return AppTest.from_file(str(APP), default_timeout=30)


def test_submitting_a_lead_shows_its_intent_and_fields(app: AppTest) -> None:
    app.run()
    app.text_input(key="lead_name").input("Dana Kim")
    app.text_area(key="lead_message").input(
        "We'd like a demo for 220 employees. Budget is $50k. Call (415) 555-0134."
    )

    app.button[0].click().run()

    assert not app.exception
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Intent"] == "Sales"
    assert metrics["Extraction"] == "llm"
    fields = app.dataframe[0].value
    assert fields["name"].tolist() == ["Dana Kim"]
    assert fields["phone"].tolist() == ["+14155550134"]
    assert fields["budget"].tolist() == [50000]


def test_json_input_with_a_bad_lead_shows_the_error(app: AppTest) -> None:
    app.run()
    app.radio(key="submit_mode").set_value("JSON").run()
    app.text_area(key="lead_json").input('{"message": "   "}')

    app.button(key="submit_json").click().run()

    assert not app.exception
    assert app.error and "422" in app.error[0].value


def test_browsing_shows_stored_leads_and_an_audit_trail(app: AppTest, backend_url: str) -> None:
    httpx.post(
        f"{backend_url}/api/01-workflow/leads",
        json={"message": "<b>I can't log in</b> since this morning, please help"},
    ).raise_for_status()

    app.run()

    assert not app.exception
    leads = app.dataframe[-1].value
    assert leads["message"].tolist() == ["<b>I can't log in</b> since this morning, please help"]
    steps = [expander.label for expander in app.expander]
    assert any(label.startswith("classify") for label in steps)


def test_importing_a_csv_shows_per_row_results(app: AppTest) -> None:
    csv = (
        b"name,email,message\n"
        b"Ana Silva,ana@acme.example.com,Quote for 40 seats please\n"
        b"Ana S.,ANA@acme.example.com,Following up on my quote\n"
        b"No Message,x@example.com,\n"
    )
    app.run()
    app.file_uploader(key="csv_file").set_value(("leads.csv", csv, "text/csv")).run()

    app.button(key="import_csv").click().run()

    assert not app.exception
    metrics = {metric.label: metric.value for metric in app.metric}
    assert (metrics["Created"], metrics["Duplicates"], metrics["Failed"]) == ("1", "1", "1")
    rows = next(frame.value for frame in app.dataframe if "row" in frame.value.columns)
    assert rows["status"].tolist() == ["created", "duplicate", "failed"]
