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
from tests.support import chat_completion, fake_openai_key, make_settings

API_KEY = fake_openai_key()

LEADS = "/api/01-workflow/leads"
SERVED_MODEL = "gpt-4o-mini-2024-07-18"
MESSAGE = "Hi, I'm Dana Kim. We'd like a demo for 220 employees; budget is $50k."


def completion(content: str) -> httpx.Response:
    return chat_completion(content, model=SERVED_MODEL)


def server_error() -> httpx.Response:
    return httpx.Response(500, json={"error": {"message": "boom", "type": "server_error"}})


# llama-cpp-python's server answers a json_schema response_format with this HTTP 500.
LLAMA_CPP_REFUSAL = {
    "error": {
        "message": "1 validation error:\n  {'type': 'literal_error', "
        "'loc': ('body', 'response_format', 'type'), "
        "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}",
        "type": "internal_server_error",
        "param": None,
        "code": None,
    }
}


class FakeOpenAI:
    """Answers by step: `classify` for IntentPrediction, `extract` for LLMExtractedFields.

    The step is read from the JSON schema's name, or (in JSON mode, which sends no schema)
    from the system prompt. `json_object_only` answers json_schema requests as
    llama-cpp-python's server does.
    """

    def __init__(
        self,
        *,
        classify: Callable[[], httpx.Response],
        extract: Callable[[], httpx.Response] | None = None,
        json_object_only: bool = False,
    ) -> None:
        self.replies = {"IntentPrediction": classify, "LLMExtractedFields": extract}
        self.json_object_only = json_object_only
        self.calls: list[str] = []
        self.modes: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        response_format = body["response_format"]
        self.modes.append(response_format["type"])
        if response_format["type"] == "json_schema":
            if self.json_object_only:
                return httpx.Response(500, json=LLAMA_CPP_REFUSAL)
            schema = response_format["json_schema"]["name"]
        else:
            system = body["messages"][0]["content"]
            schema = "IntentPrediction" if "classify" in system else "LLMExtractedFields"
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
                OPENAI_API_KEY=API_KEY,
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
        extract=extraction(name="Dana Kim", phone="415-555-0134", budget=50000),
    )
    client = llm_api(fake)

    response = client.post(
        LEADS,
        json={"message": f"{MESSAGE} Call (415) 555-0134.", "email": "dana@lumen.example.com"},
    )

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
    assert body["field_sources"] == {
        "name": "llm",
        "email": "explicit",
        "phone": "llm",
        "budget": "llm",
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
    # The message states the budget: the rules find it once the model's value is dropped.
    assert (body["fields"]["budget"], body["field_sources"]["budget"]) == (50000, "rules")
    dropped = audit_steps(client, body["id"])["validate"]["output"]["dropped"]
    assert [(d["field"], d["source"], d["reason"]) for d in dropped] == [
        ("email", "llm", "invalid"),
        ("phone", "llm", "invalid"),
        ("budget", "llm", "invalid"),
    ]


# --- what real OpenAI-compatible servers answer -------------------------------------------------

SUPPORT_MESSAGE = (
    "Hi, this is Sam Ortiz. Our dashboard has been down since this morning and nobody on "
    "the team can log in. Please call me back at (415) 555-0134."
)


def test_a_server_refusing_json_schema_with_a_500_is_asked_in_json_mode_at_once(llm_api) -> None:
    fake = FakeOpenAI(
        classify=classification("Sales", 0.93),
        extract=extraction(name="Dana Kim", budget=50000),
        json_object_only=True,
    )
    client = llm_api(fake, LLM_CIRCUIT_FAILURE_THRESHOLD=1)

    first = client.post(LEADS, json={"message": MESSAGE}).json()
    second = client.post(LEADS, json={"message": MESSAGE}).json()

    for body in (first, second):
        assert (body["provider"], body["extraction_method"]) == ("openai", "llm")
        assert body["fields"]["budget"] == 50000
    # One refused request, then JSON mode for every call: the server is remembered.
    assert fake.modes == ["json_schema"] + ["json_object"] * 4
    classify = audit_steps(client, first["id"])["classify"]
    assert [(a["mode"], a["outcome"]) for a in classify["output"]["llm_attempts"]] == [
        ("json_schema", "refused"),
        ("json_object", "ok"),
    ]
    assert classify["output"]["llm_attempts"][0]["status_code"] == 500


def test_an_answer_missing_a_field_is_asked_again_with_its_error_then_audited(llm_api) -> None:
    answers = iter(['{"intent": "Sales"}', json.dumps({"intent": "Sales", "confidence": 0.9})])
    fake = FakeOpenAI(
        classify=lambda: completion(next(answers)), extract=extraction(name="Dana Kim")
    )
    client = llm_api(fake)

    body = client.post(LEADS, json={"message": MESSAGE}).json()

    assert (body["provider"], body["confidence"]) == ("openai", 0.9)
    attempts = audit_steps(client, body["id"])["classify"]["output"]["llm_attempts"]
    assert [a["outcome"] for a in attempts] == ["invalid", "ok"]
    assert attempts[0]["error"] == "confidence: Field required"
    assert attempts[0]["raw"] == '{"intent": "Sales"}'


def test_an_answer_missing_a_field_twice_falls_back_to_the_local_classifier(llm_api) -> None:
    fake = FakeOpenAI(classify=lambda: completion('{"intent": "Sales"}'))
    client = llm_api(fake)

    body = client.post(LEADS, json={"message": MESSAGE}).json()

    assert (body["provider"], body["extraction_method"]) == ("local", "fallback")
    classify = audit_steps(client, body["id"])["classify"]
    assert classify["status"] == "fallback"
    assert "llm_invalid_output" in classify["error"]
    assert [a["outcome"] for a in classify["output"]["llm_attempts"]] == ["invalid", "invalid"]
    assert fake.calls == ["IntentPrediction", "IntentPrediction"]


def test_a_budget_the_model_invented_is_dropped_as_not_in_input(llm_api) -> None:
    fake = FakeOpenAI(
        classify=classification("Support", 0.95),
        extract=extraction(name="Sam Ortiz", phone="(415) 555-0134", budget=50000),
    )
    client = llm_api(fake)

    body = client.post(LEADS, json={"message": SUPPORT_MESSAGE}).json()

    assert body["fields"] == {
        "name": "Sam Ortiz",
        "email": None,
        "phone": "+14155550134",
        "budget": None,
    }
    assert body["field_sources"] == {
        "name": "llm",
        "email": None,
        "phone": "llm",
        "budget": None,
    }
    dropped = audit_steps(client, body["id"])["validate"]["output"]["dropped"]
    assert [(d["field"], d["source"], d["reason"]) for d in dropped] == [
        ("budget", "llm", "not_in_input")
    ]
    stored = client.get(f"{LEADS}/{body['id']}").json()
    assert stored["fields"]["budget"] is None
    assert stored["field_sources"] == body["field_sources"]


def test_an_email_and_phone_the_model_invented_are_dropped(llm_api) -> None:
    fake = FakeOpenAI(
        classify=classification("Sales", 0.95),
        extract=extraction(name="Jane Roe", email="dana@initech.example", phone="+1 212 555 0166"),
    )
    client = llm_api(fake)

    body = client.post(LEADS, json={"message": MESSAGE}).json()

    assert body["fields"]["email"] is None and body["fields"]["phone"] is None
    # "Jane Roe" is not in the message either; the rules find the sender's name.
    assert (body["fields"]["name"], body["field_sources"]["name"]) == ("Dana Kim", "rules")
    dropped = audit_steps(client, body["id"])["validate"]["output"]["dropped"]
    assert {(d["field"], d["reason"]) for d in dropped} == {
        ("name", "not_in_input"),
        ("email", "not_in_input"),
        ("phone", "not_in_input"),
    }


def test_a_phone_the_model_left_out_is_filled_by_the_rules(llm_api) -> None:
    fake = FakeOpenAI(
        classify=classification("Support", 0.95),
        extract=extraction(name="Sam Ortiz", phone=None),
    )
    client = llm_api(fake)

    body = client.post(LEADS, json={"message": SUPPORT_MESSAGE}).json()

    assert body["extraction_method"] == "llm"
    assert body["fields"]["phone"] == "+14155550134"
    assert body["field_sources"] == {
        "name": "llm",
        "email": None,
        "phone": "rules",
        "budget": None,
    }
    assert audit_steps(client, body["id"])["validate"]["output"]["dropped"] == []


def test_values_the_lead_states_in_another_form_are_kept(llm_api) -> None:
    message = (
        "Hello, I'm José Núñez (JOSE.NUNEZ@Example.com, 0044 20 7946 0958). "
        "We can spend between 10 and 20k a year."
    )
    fake = FakeOpenAI(
        classify=classification("Sales", 0.95),
        extract=extraction(
            name="jose nunez", email="jose.nunez@example.com", phone="+442079460958", budget=15000
        ),
    )
    client = llm_api(fake)

    body = client.post(LEADS, json={"message": message}).json()

    assert body["fields"] == {
        "name": "jose nunez",
        "email": "jose.nunez@example.com",
        "phone": "+442079460958",
        "budget": 15000,
    }
    assert set(body["field_sources"].values()) == {"llm"}
