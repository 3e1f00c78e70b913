"""Tests of the grader's kit itself (helpers, preflight, report), without the server under test.

`python -m grader` leaves this file out: it grades servers, not the kit.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import httpx
import pytest

from grader.report import build, read_junit, render
from tests.contract.helpers import expect, items_of, make_pdf, sign_webhook, sse_events
from tests.processes import serve_in_thread

ROOT = Path(__file__).resolve().parents[2]


def test_sign_webhook_is_accepted_by_the_standard_webhooks_library() -> None:
    from standardwebhooks import Webhook, WebhookVerificationError

    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    body, msg_id, timestamp = '{"type": "contact.updated"}', "msg_test", int(time.time())
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_webhook(secret, msg_id, timestamp, body),
    }

    Webhook(secret).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("updated", "deleted"), headers)


def test_make_pdf_has_an_extractable_text_layer() -> None:
    from pypdf import PdfReader

    reader = PdfReader(BytesIO(make_pdf("The Quokka Initiative (2026) costs 4.2 million.")))
    assert "Quokka Initiative (2026) costs 4.2 million" in reader.pages[0].extract_text()


def test_sse_events_reads_names_data_and_skips_comments() -> None:
    body = 'event: token\ndata: {"text": "Hi"}\n\n: heartbeat\n\ndata: plain\n\n'
    response = httpx.Response(200, text=body)
    assert sse_events(response) == [("token", '{"text": "Hi"}'), ("message", "plain")]


def test_items_of_accepts_a_list_or_a_data_object() -> None:
    assert items_of([1, 2]) == [1, 2]
    assert items_of({"data": [1], "count": 1}) == [1]


def test_expect_names_the_endpoint_and_what_was_expected() -> None:
    request = httpx.Request("POST", "http://server/api/01-workflow/leads")
    response = httpx.Response(404, json={"error": {"code": "not_found"}}, request=request)
    with pytest.raises(pytest.fail.Exception) as failure:
        expect(response, 201, {"id": str})
    assert str(failure.value).startswith(
        "POST /api/01-workflow/leads: expected 201 with fields ['id'], got 404 {"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_suite(base_url: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "pytest", "-p", "tests.contract.plugin",
        "tests/contract/test_service.py", "-q", "-p", "no:cacheprovider",
        "--base-url", base_url,
    ]  # fmt: skip
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_suite_stops_with_one_message_when_the_server_is_down() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    result = _run_suite(url)
    assert result.returncode == 4, result.stdout[-2000:]
    assert f"contract preflight: GET {url}/health did not answer" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


@pytest.fixture
def other_server() -> Iterator[str]:
    """A server that answers /health but speaks another contract."""
    from fastapi import FastAPI

    app = FastAPI()
    app.get("/health")(lambda: {"ok": True})
    app.get("/items")(lambda: [])
    with serve_in_thread(app) as url:
        yield url


def test_suite_stops_with_one_message_on_another_contract(other_server: str) -> None:
    result = _run_suite(other_server)
    assert result.returncode == 4, result.stdout[-2000:]
    assert f"GET {other_server}/openapi.json: this server speaks another contract" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="contract" tests="3">
<testcase classname="tests.contract.test_01_workflow" name="test_a" time="0.5">
  <properties><property name="assessment" value="01-workflow"/>
  <property name="criterion" value="contract"/><property name="origin" value="suite"/></properties>
</testcase>
<testcase classname="tests.contract.test_ai_quality" name="test_b[x.csv]" time="1.0">
  <properties><property name="assessment" value="01-workflow"/>
  <property name="criterion" value="ai_quality"/><property name="origin" value="hidden"/>
  <property name="metric" value='{"name": "intent_accuracy", "value": 0.5, "target": 0.9,
    "higher_is_better": true, "unit": "", "detail": "1/2"}'/></properties>
  <failure message="Failed: intent_accuracy = 0.500 is below the target 0.9">trace</failure>
</testcase>
<testcase classname="tests.contract.test_service" name="test_c" time="0.1">
  <skipped message="remote"/>
</testcase>
</testsuite></testsuites>
"""


def test_report_groups_by_assessment_and_criterion(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    report = build(read_junit(junit), target="test", hidden=None)
    workflow = report["assessments"]["01-workflow"]
    assert workflow["criteria"]["contract"] == {
        "passed": 1,
        "failed": 0,
        "skipped": 0,
        "score": 1.0,
    }
    assert workflow["criteria"]["ai_quality"]["failed"] == 1
    assert workflow["hidden"]["failed"] == 1
    assert workflow["metrics"][0]["met"] is False
    assert report["totals"] == {"passed": 1, "failed": 1, "skipped": 1, "score": 0.5}
    text = render(report)
    assert "intent_accuracy" in text and "MISSED" in text
    assert "test_ai_quality::test_b[x.csv] [ai_quality]: intent_accuracy = 0.500" in text


HIDDEN_TEST = """
import pytest


@pytest.mark.assessment2
@pytest.mark.criterion("ai_quality")
def test_grader_secret(grade_metric):
    grade_metric("secret_figure", 0.75, target=0.5)
"""


def test_hidden_tests_use_the_suites_fixtures_and_appear_in_the_report(tmp_path: Path) -> None:
    hidden, out = tmp_path / "hidden", tmp_path / "out"
    hidden.mkdir()
    (hidden / "test_secret.py").write_text(textwrap.dedent(HIDDEN_TEST))
    command = [
        sys.executable, "-m", "grader", "--hidden", str(hidden), "--out", str(out), "--quiet",
        "--", "-k", "grader_secret",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:]
    report = json.loads((out / "report.json").read_text())
    [test] = report["tests"]
    assert (test["origin"], test["assessment"], test["criterion"]) == (
        "hidden",
        "02-rag",
        "ai_quality",
    )
    assert report["assessments"]["02-rag"]["metrics"][0]["met"] is True
    assert "secret_figure" in result.stdout and (out / "junit.xml").exists()
