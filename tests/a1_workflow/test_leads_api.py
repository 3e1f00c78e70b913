"""POST/GET /api/01-workflow/leads on the local provider: the SPEC §4.1 contract."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

LEADS = "/api/01-workflow/leads"
SALES_MESSAGE = (
    "Hi, I'm Dana Kim from Lumen Outdoor. We'd like a demo and a quote for 220 employees. "
    "Budget is $50k. Reach me at dana.kim@lumen.example.com or (415) 555-0134."
)
VAGUE_MESSAGE = "hello?"
PIPELINE_STEPS = ["classify", "decide", "extract", "validate", "persist"]


def assert_error(response, status: int) -> dict:
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] and error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    return error


def test_create_lead_answers_201_with_every_contract_field(client: TestClient) -> None:
    response = client.post(LEADS, json={"message": SALES_MESSAGE, "source": "web_form"})

    assert response.status_code == 201
    body = response.json()
    assert {
        "id",
        "request_id",
        "intent",
        "confidence",
        "low_confidence",
        "fields",
        "extraction_method",
        "provider",
        "processed_at",
    } <= set(body)
    assert set(body["fields"]) == {"name", "email", "phone", "budget"}
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["intent"] in {"Sales", "Support", "Partnership"}
    assert 0.0 <= body["confidence"] <= 1.0
    assert body["provider"] == "local"


def test_each_field_says_where_its_value_came_from(client: TestClient) -> None:
    lead = {"email": "dana@lumen.example.com", "message": "Call me on (415) 555-0134 please."}

    body = client.post(LEADS, json=lead).json()

    assert body["field_sources"] == {
        "name": None,
        "email": "explicit",
        "phone": "rules",
        "budget": None,
    }
    assert client.get(f"{LEADS}/{body['id']}").json()["field_sources"] == body["field_sources"]


def test_confident_lead_takes_the_extraction_path_for_confident_leads(client: TestClient) -> None:
    body = client.post(LEADS, json={"message": SALES_MESSAGE}).json()

    assert body["intent"] == "Sales"
    assert body["confidence"] > 0.7
    assert body["low_confidence"] is False
    assert body["extraction_method"] == "llm"
    assert body["fields"] == {
        "name": "Dana Kim",
        "email": "dana.kim@lumen.example.com",
        "phone": "+14155550134",
        "budget": 50000,
    }


def test_vague_lead_is_low_confidence_and_uses_the_fallback(client: TestClient) -> None:
    body = client.post(LEADS, json={"message": VAGUE_MESSAGE, "name": "Sam Rivera"}).json()

    assert body["confidence"] <= 0.7
    assert body["low_confidence"] is True
    assert body["extraction_method"] == "fallback"
    assert body["fields"]["name"] == "Sam Rivera"


def test_budget_is_a_number(client: TestClient) -> None:
    body = client.post(LEADS, json={"message": "We can spend €20K/month on this."}).json()

    assert body["fields"]["budget"] == 20000


def test_explicit_fields_win_over_the_message(client: TestClient) -> None:
    lead = {
        "name": "Robert Smith",
        "email": "Robert@Example.com",
        "phone": "212-555-0166",
        "message": SALES_MESSAGE,
    }

    fields = client.post(LEADS, json=lead).json()["fields"]

    assert fields["name"] == "Robert Smith"
    assert fields["email"] == "robert@example.com"
    assert fields["phone"] == "+12125550166"


def test_invalid_email_is_dropped_and_the_reason_is_audited(client: TestClient) -> None:
    lead = {"email": "dana@@lumen", "phone": "12345", "message": "I need a quote for 10 seats."}

    created = client.post(LEADS, json=lead)

    assert created.status_code == 201
    assert created.json()["fields"]["email"] is None
    assert created.json()["fields"]["phone"] is None
    audit = client.get(f"{LEADS}/{created.json()['id']}/audit").json()["data"]
    validate = next(entry for entry in audit if entry["step"] == "validate")
    dropped = {(d["field"], d["source"], d["reason"]) for d in validate["output"]["dropped"]}
    assert dropped == {("email", "explicit", "invalid"), ("phone", "explicit", "invalid")}


def test_client_request_id_is_used_for_the_lead(client: TestClient) -> None:
    response = client.post(
        LEADS, json={"message": SALES_MESSAGE}, headers={"X-Request-ID": "lead-req-42"}
    )

    assert response.headers["x-request-id"] == "lead-req-42"
    assert response.json()["request_id"] == "lead-req-42"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": "No Message"},
        {"message": ""},
        {"message": "   \n\t "},
        {"message": 123},
        {"message": ["a list"]},
        {"message": "hi", "email": 42},
        {"message": "x" * 1_000_000},
        [{"message": "a list, not an object"}],
        "just a string",
    ],
)
def test_bad_lead_bodies_answer_422_in_the_error_shape(client: TestClient, body) -> None:
    response = client.post(LEADS, json=body)

    assert_error(response, 422)
    assert client.get(LEADS).json()["count"] == 0


def test_malformed_json_answers_422(client: TestClient) -> None:
    response = client.post(
        LEADS, content=b'{"message": "unterminated', headers={"content-type": "application/json"}
    )

    assert_error(response, 422)


def test_same_idempotency_key_and_body_returns_the_stored_lead(client: TestClient) -> None:
    headers = {"Idempotency-Key": "order-7"}

    first = client.post(LEADS, json={"message": SALES_MESSAGE}, headers=headers)
    second = client.post(LEADS, json={"message": SALES_MESSAGE}, headers=headers)

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert client.get(LEADS).json()["count"] == 1


def test_same_idempotency_key_with_another_body_answers_409(client: TestClient) -> None:
    headers = {"Idempotency-Key": "order-8"}
    client.post(LEADS, json={"message": SALES_MESSAGE}, headers=headers)

    response = client.post(LEADS, json={"message": "Something else"}, headers=headers)

    assert assert_error(response, 409)["code"] == "idempotency_key_reused"
    assert client.get(LEADS).json()["count"] == 1


def test_without_idempotency_key_each_post_is_a_new_lead(client: TestClient) -> None:
    first = client.post(LEADS, json={"message": SALES_MESSAGE}).json()
    second = client.post(LEADS, json={"message": SALES_MESSAGE}).json()

    assert first["id"] != second["id"]
    assert client.get(LEADS).json()["count"] == 2


def _seed(client: TestClient) -> None:
    messages = [
        SALES_MESSAGE,
        "We'd like to buy 40 licences, please send pricing.",
        "I can't log in since this morning and the password reset email never arrives.",
        "We are a reseller in Brazil and would like to distribute your product.",
        VAGUE_MESSAGE,
    ]
    for message in messages:
        assert client.post(LEADS, json={"message": message}).status_code == 201


def test_list_filters_by_intent_and_confidence(client: TestClient) -> None:
    _seed(client)

    sales = client.get(LEADS, params={"intent": "Sales"}).json()
    low = client.get(LEADS, params={"low_confidence": True}).json()
    high = client.get(LEADS, params={"low_confidence": False}).json()

    assert sales["count"] == len(sales["data"]) >= 2
    assert all(lead["intent"] == "Sales" for lead in sales["data"])
    assert all(lead["low_confidence"] for lead in low["data"])
    assert not any(lead["low_confidence"] for lead in high["data"])
    assert low["count"] + high["count"] == 5


def test_list_pages_with_limit_and_offset_and_reports_the_total(client: TestClient) -> None:
    _seed(client)

    first = client.get(LEADS, params={"limit": 2, "offset": 0}).json()
    second = client.get(LEADS, params={"limit": 2, "offset": 2}).json()
    last = client.get(LEADS, params={"limit": 2, "offset": 4}).json()

    assert first["count"] == second["count"] == last["count"] == 5
    assert [len(page["data"]) for page in (first, second, last)] == [2, 2, 1]
    ids = [lead["id"] for page in (first, second, last) for lead in page["data"]]
    assert len(set(ids)) == 5


@pytest.mark.parametrize(
    "params",
    [
        {"intent": "Spam"},
        {"limit": 0},
        {"limit": 10_000},
        {"offset": -1},
        {"offset": 2**63},
        {"offset": 10**30},
    ],
)
def test_list_rejects_bad_query_parameters(client: TestClient, params) -> None:
    assert_error(client.get(LEADS, params=params), 422)


def test_the_largest_offset_a_database_takes_is_an_empty_page(client: TestClient) -> None:
    _seed(client)

    response = client.get(LEADS, params={"offset": 2**63 - 1})

    assert response.status_code == 200
    assert response.json() == {"data": [], "count": 5}


def test_read_lead_returns_the_stored_lead(client: TestClient) -> None:
    created = client.post(LEADS, json={"message": SALES_MESSAGE, "source": "email"}).json()

    response = client.get(f"{LEADS}/{created['id']}")

    assert response.status_code == 200
    stored = response.json()
    assert {key: stored[key] for key in created} == created
    assert stored["message"] == SALES_MESSAGE
    assert stored["source"] == "email"


@pytest.mark.parametrize("lead_id", ["does-not-exist", "999999"])
def test_unknown_lead_answers_404(client: TestClient, lead_id: str) -> None:
    assert_error(client.get(f"{LEADS}/{lead_id}"), 404)
    assert_error(client.get(f"{LEADS}/{lead_id}/audit"), 404)


def test_audit_trail_records_every_step_in_order(client: TestClient) -> None:
    created = client.post(LEADS, json={"message": SALES_MESSAGE}).json()

    response = client.get(f"{LEADS}/{created['id']}/audit")

    assert response.status_code == 200
    trail = response.json()
    assert [entry["step"] for entry in trail["data"]] == PIPELINE_STEPS
    assert trail["count"] == len(PIPELINE_STEPS)
    for entry in trail["data"]:
        assert entry["request_id"] == created["request_id"]
        assert entry["lead_id"] == created["id"]
        assert entry["started_at"] <= entry["finished_at"]
        assert entry["duration_ms"] >= 0
        assert {"input", "output", "raw_output", "provider", "model", "confidence"} <= set(entry)
    classify = trail["data"][0]
    assert classify["confidence"] == pytest.approx(created["confidence"])
    assert classify["output"]["intent"] == created["intent"]
    assert classify["provider"] == "local"
    assert classify["model"].startswith("tfidf-linearsvc-sigmoid@")
    probabilities = json.loads(classify["raw_output"])["probabilities"]
    assert set(probabilities) == {"Sales", "Support", "Partnership"}
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    extract = trail["data"][2]
    assert json.loads(extract["raw_output"])["budget"] == 50000
    decide = trail["data"][1]
    assert decide["input"]["threshold"] == 0.7
    assert decide["output"]["low_confidence"] is False


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        (
            "post",
            LEADS,
            {"content": b"\xff\xfe\x00garbage", "headers": {"content-type": "text/plain"}},
        ),
        ("post", LEADS, {"json": {"message": "hi", "phone": "+" + "9" * 60}}),
        ("post", LEADS, {"json": {"message": "hi"}, "headers": {"Idempotency-Key": "k" * 300}}),
        ("post", LEADS, {"json": {"message": {"nested": True}}}),
        ("post", f"{LEADS}/batch", {"json": [1, None, [], {"message": None}]}),
        (
            "post",
            f"{LEADS}/batch",
            {"content": b"[{", "headers": {"content-type": "application/json"}},
        ),
        ("post", f"{LEADS}/import", {"json": {"file": "not multipart"}}),
        ("get", LEADS, {"params": {"low_confidence": "maybe"}}),
        ("get", LEADS, {"params": {"limit": "ten"}}),
    ],
)
def test_garbage_input_never_answers_5xx(client: TestClient, method, path, kwargs) -> None:
    response = getattr(client, method)(path, **kwargs)

    assert response.status_code < 500
    if response.status_code >= 400:
        assert_error(response, response.status_code)


@pytest.mark.parametrize(
    "message",
    ["1 " * 5000, "A" * 10_000, "$1," * 3333, "(415) 555-0134 " * 600, "a@" * 5000],
)
def test_pathological_long_messages_are_processed(client: TestClient, message: str) -> None:
    response = client.post(LEADS, json={"message": message[:10_000]})

    assert response.status_code == 201
