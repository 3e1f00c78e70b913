"""The OpenAI path of the pipeline, through the real `openai` SDK over an httpx mock transport.

A fake chat-completions server answers the classification and extraction
calls (told apart by the JSON schema each one sends). Nothing reaches the
network; failures are scripted as HTTP 500s and invalid JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from core.dependencies import get_llm
from core.llm_client import LLMClient
from tests.support import chat_completion, make_settings

LEADS = "/api/01-workflow/leads"
SERVED_MODEL = "gpt-4o-mini-2024-07-18"
MESSAGE = "Hi, I'm Dana Kim. We'd like a demo for 220 employees; budget is $50k."


def completion(content: str) -> httpx.Response:
    return chat_completion(content, model=SERVED_MODEL)


def server_error() -> httpx.Response:
    return httpx.Response(500, json={"error": {"message": "boom", "type": "server_error"}})


class FakeOpenAI:
    """Answers by schema: `classify` for IntentPrediction, `extract` for LLMExtractedFields."""

    def __init__(
        self,
        *,
        classify: Callable[[], httpx.Response],
        extract: Callable[[], httpx.Response] | None = None,
    ) -> None:
        self.replies = {"IntentPrediction": classify, "LLMExtractedFields": extract}
        self.calls: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        schema = json.loads(request.content)["response_format"]["json_schema"]["name"]
        self.calls.append(schema)
        reply = self.replies[schema]
        assert reply is not None, f"unexpected {schema} call"
        return reply()


def classification(intent: str, confidence: float) -> Callable[[], httpx.Response]:
    return lambda: completion(json.dumps({"intent": intent, "confidence": confidence}))


def extraction(**fields: object) -> Callable[[], httpx.Response]:
    values = {"name": None, "email": None, "phone": None, "budget": None, **fields}
    return lambda: completion(json.dumps(values))


@pytest.fixture
def llm_api(tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """An app whose LLM is a real `LLMClient` talking to a `FakeOpenAI`."""
    stack = ExitStack()

    def build(fake: FakeOpenAI, **llm_settings: object) -> TestClient:
        llm = LLMClient(
            make_settings(
                tmp_path,
                LLM_PROVIDER="openai",
                OPENAI_API_KEY="sk-test",
                OPENAI_BASE_URL="http://llm.test/v1",
                LLM_MAX_ATTEMPTS=2,
                **llm_settings,
            ),
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(fake.handle)),
        )
        app = create_app(make_settings(tmp_path))
        app.dependency_overrides[get_llm] = lambda: llm
        return stack.enter_context(TestClient(app))

    with stack:
        yield build


def audit_steps(client: TestClient, lead_id: str) -> dict[str, dict]:
    trail = client.get(f"{LEADS}/{lead_id}/audit").json()["data"]
    return {entry["step"]: entry for entry in trail}


def test_confident_llm_classification_uses_llm_extraction(llm_api) -> None:
    fake = FakeOpenAI(
        classify=classification("Sales", 0.93),
        extract=extraction(name="Dana Kim", phone="(415) 555-0134", budget=50000),
    )
    client = llm_api(fake)

    response = client.post(LEADS, json={"message": MESSAGE, "email": "dana@lumen.example.com"})

    assert response.status_code == 201
    body = response.json()
    assert (body["intent"], body["confidence"], body["low_confidence"]) == ("Sales", 0.93, False)
    assert body["extraction_method"] == "llm"
    assert body["provider"] == "openai"
    assert body["model"] == SERVED_MODEL
    assert body["fields"] == {
        "name": "Dana Kim",
        "email": "dana@lumen.example.com",
        "phone": "+14155550134",
        "budget": 50000,
    }
    assert fake.calls == ["IntentPrediction", "LLMExtractedFields"]


def test_audit_keeps_raw_model_output_and_prompt_versions(llm_api) -> None:
    fake = FakeOpenAI(classify=classification("Sales", 0.93), extract=extraction(budget=50000))
    client = llm_api(fake)

    lead = client.post(LEADS, json={"message": MESSAGE}).json()

    steps = audit_steps(client, lead["id"])
    classify, extract = steps["classify"], steps["extract"]
    assert json.loads(classify["raw_output"]) == {"intent": "Sales", "confidence": 0.93}
    assert classify["prompt_version"].startswith("classify.txt@")
    assert (classify["provider"], classify["model"]) == ("openai", SERVED_MODEL)
    assert json.loads(extract["raw_output"])["budget"] == 50000
    assert extract["prompt_version"].startswith("extract.txt@")
    assert extract["status"] == "ok"


def test_low_llm_confidence_skips_the_llm_for_extraction(llm_api) -> None:
    fake = FakeOpenAI(classify=classification("Support", 0.55))
    client = llm_api(fake)

    body = client.post(LEADS, json={"message": "can someone give me a call? 212-555-0166"}).json()

    assert body["low_confidence"] is True
    assert body["extraction_method"] == "fallback"
    assert body["provider"] == "openai"
    assert body["fields"]["phone"] == "+12125550166"
    assert fake.calls == ["IntentPrediction"]
    assert audit_steps(client, body["id"])["extract"]["provider"] == "local"


def test_llm_failure_falls_back_and_the_lead_is_still_stored(llm_api) -> None:
    fake = FakeOpenAI(classify=server_error, extract=server_error)
    client = llm_api(fake)

    response = client.post(LEADS, json={"message": MESSAGE})

    assert response.status_code == 201
    body = response.json()
    assert body["extraction_method"] == "fallback"
    assert body["provider"] == "local"
    assert body["intent"] == "Sales"
    assert body["fields"]["budget"] == 50000
    assert client.get(f"{LEADS}/{body['id']}").status_code == 200
    steps = audit_steps(client, body["id"])
    assert steps["classify"]["status"] == "fallback"
    assert "llm_unavailable" in steps["classify"]["error"]
    assert steps["extract"]["status"] == "fallback"
    # Two attempts for classification; extraction does not retry an LLM that just failed.
    assert fake.calls == ["IntentPrediction", "IntentPrediction"]


def test_failed_llm_extraction_alone_means_fallback(llm_api) -> None:
    fake = FakeOpenAI(classify=classification("Sales", 0.9), extract=server_error)
    client = llm_api(fake)

    body = client.post(LEADS, json={"message": MESSAGE}).json()

    assert body["extraction_method"] == "fallback"
    assert body["provider"] == "openai"
    assert body["fields"]["name"] == "Dana Kim"
    extract = audit_steps(client, body["id"])["extract"]
    assert (extract["status"], extract["provider"]) == ("fallback", "local")
    assert "llm_unavailable" in extract["error"]


def test_invalid_llm_json_falls_back(llm_api) -> None:
    fake = FakeOpenAI(classify=lambda: completion("I think this is a sales lead"))
    client = llm_api(fake)

    response = client.post(LEADS, json={"message": MESSAGE})

    assert response.status_code == 201
    assert response.json()["provider"] == "local"
    classify = audit_steps(client, response.json()["id"])["classify"]
    assert "llm_invalid_output" in classify["error"]


def test_open_circuit_falls_back_without_calling_the_llm(llm_api) -> None:
    fake = FakeOpenAI(classify=server_error)
    client = llm_api(fake, LLM_CIRCUIT_FAILURE_THRESHOLD=1, LLM_CIRCUIT_RESET_SECONDS=300)
    client.post(LEADS, json={"message": MESSAGE})
    calls_before = len(fake.calls)

    response = client.post(LEADS, json={"message": MESSAGE})

    assert response.status_code == 201
    assert len(fake.calls) == calls_before
    classify = audit_steps(client, response.json()["id"])["classify"]
    assert "llm_circuit_open" in classify["error"]


def test_invalid_values_from_the_llm_are_dropped(llm_api) -> None:
    fake = FakeOpenAI(
        classify=classification("Sales", 0.95),
        extract=extraction(email="dana at lumen dot com", phone="555", budget=-5),
    )
    client = llm_api(fake)

    body = client.post(LEADS, json={"message": MESSAGE}).json()

    assert body["fields"]["email"] is None
    assert body["fields"]["phone"] is None
    assert body["fields"]["budget"] is None
    dropped = audit_steps(client, body["id"])["validate"]["output"]["dropped"]
    assert len(dropped) == 3
