"""SPEC §4.1 — assessment 1, the lead-intent workflow, over HTTP only."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from tests.contract.helpers import (
    A1,
    CONFIDENCE_THRESHOLD,
    INTENTS,
    LEAD_FIELDS,
    NUMBER,
    OPTIONAL_NUMBER,
    OPTIONAL_STR,
    Api,
    create_lead,
    expect,
    expect_error,
    expect_not_server_error,
    items_of,
    row_outcome,
    unique,
    unique_email,
)

pytestmark = pytest.mark.assessment1

SALES_MESSAGE = (
    "Hi, we're evaluating scheduling tools for our 14 clinics. Could someone walk us through "
    "a demo next week and send a quote? Budget is around $50k."
)


def _total(api: Api, **params: object) -> int:
    body = expect(api.get(f"{A1}/leads", params={"limit": 1, **params}), 200)
    if isinstance(body, dict) and isinstance(body.get("count"), int):
        return body["count"]
    return len(items_of(expect(api.get(f"{A1}/leads", params={"limit": 10_000}), 200)))


# --- contract -----------------------------------------------------------------------------


def test_create_lead_returns_201_with_the_spec_fields(api: Api) -> None:
    lead = create_lead(api, message=SALES_MESSAGE, source="web_form")
    assert lead["intent"] in INTENTS
    assert 0 <= lead["confidence"] <= 1
    assert set(lead["fields"]) >= {"name", "email", "phone", "budget"}, lead["fields"]
    assert lead["extraction_method"] in ("llm", "fallback")
    assert isinstance(lead["fields"]["budget"], OPTIONAL_NUMBER)
    assert not isinstance(lead["fields"]["budget"], bool)
    for name in ("name", "email", "phone"):
        assert isinstance(lead["fields"][name], OPTIONAL_STR), (name, lead["fields"])
    datetime.fromisoformat(lead["processed_at"].replace("Z", "+00:00"))


def test_low_confidence_flag_and_extraction_method_follow_the_threshold(api: Api) -> None:
    for message in (SALES_MESSAGE, "can someone give me a call?", "hello"):
        lead = create_lead(api, message=message)
        confident = lead["confidence"] > CONFIDENCE_THRESHOLD
        assert lead["low_confidence"] is (not confident), lead
        assert lead["extraction_method"] == ("llm" if confident else "fallback"), lead


def test_request_id_in_the_body_is_the_requests_id(api: Api) -> None:
    response = api.post(
        f"{A1}/leads", json={"message": SALES_MESSAGE}, headers={"X-Request-ID": "grader-lead-1"}
    )
    lead = expect(response, 201, LEAD_FIELDS)
    assert lead["request_id"] == response.headers["x-request-id"] == "grader-lead-1"


def test_explicit_fields_are_extracted_and_budget_is_a_number(api: Api) -> None:
    email = unique_email("maria")
    lead = create_lead(
        api,
        name="Maria Gonzalez",
        email=f"  {email.upper()} ",
        phone="(415) 555-0134",
        message=SALES_MESSAGE,
    )
    fields = lead["fields"]
    assert fields["name"] == "Maria Gonzalez"
    assert fields["email"] == email
    assert fields["phone"] and fields["phone"].replace(" ", "").endswith("4155550134"), fields
    assert fields["budget"] == 50_000


def test_fields_are_extracted_from_the_message_alone(api: Api) -> None:
    email = unique_email("dana")
    lead = create_lead(
        api,
        message=f"Hi, I'm Dana Kim. Please send a quote to {email} or call (212) 555-0148. "
        "Our budget is between 10k and 20k.",
    )
    fields = lead["fields"]
    assert fields["email"] == email
    assert fields["budget"] == 15_000
    assert fields["name"] == "Dana Kim"


def test_read_lead_returns_the_stored_lead(api: Api) -> None:
    lead = create_lead(api, message=SALES_MESSAGE)
    stored = expect(api.get(f"{A1}/leads/{lead['id']}"), 200, LEAD_FIELDS)
    for key in ("id", "intent", "confidence", "low_confidence", "fields", "extraction_method"):
        assert stored[key] == lead[key], key


def test_list_leads_filters_by_intent(api: Api) -> None:
    create_lead(api, message=SALES_MESSAGE)
    for intent in INTENTS:
        leads = items_of(expect(api.get(f"{A1}/leads", params={"intent": intent}), 200))
        assert all(lead["intent"] == intent for lead in leads), intent
    sales = items_of(expect(api.get(f"{A1}/leads", params={"intent": "Sales"}), 200))
    assert sales, "GET /leads?intent=Sales: no Sales lead listed"


def test_list_leads_filters_by_low_confidence(api: Api) -> None:
    create_lead(api, message="hello")
    for flag in ("true", "false"):
        leads = items_of(expect(api.get(f"{A1}/leads", params={"low_confidence": flag}), 200))
        assert all(lead["low_confidence"] is (flag == "true") for lead in leads), flag


def test_list_leads_pages_with_limit_and_offset(api: Api) -> None:
    for _ in range(3):
        create_lead(api, message=SALES_MESSAGE)
    first = items_of(expect(api.get(f"{A1}/leads", params={"limit": 2, "offset": 0}), 200))
    second = items_of(expect(api.get(f"{A1}/leads", params={"limit": 2, "offset": 2}), 200))
    assert len(first) == 2 and len(second) >= 1
    assert not {lead["id"] for lead in first} & {lead["id"] for lead in second}


def _audit(api: Api, lead_id: object) -> list[dict]:
    steps = items_of(expect(api.get(f"{A1}/leads/{lead_id}/audit"), 200))
    assert len(steps) >= 2, f"expected a classify and an extract step at least, got {steps}"
    return steps


def test_audit_trail_has_every_step_with_timestamps_and_confidence(api: Api) -> None:
    lead = create_lead(api, message=SALES_MESSAGE)
    steps = _audit(api, lead["id"])
    for step in steps:
        stamped = [k for k in step if k.endswith("_at") or "time" in k]
        assert stamped and all(step[k] for k in stamped), f"step without a timestamp: {step}"
    assert any(isinstance(step.get("confidence"), NUMBER) for step in steps), steps


def test_audit_trail_keeps_the_raw_model_output(api: Api) -> None:
    lead = create_lead(api, message=SALES_MESSAGE)
    steps = _audit(api, lead["id"])
    raw = {
        str(step.get("step") or step.get("name")): step[key]
        for step in steps
        for key in step
        if "raw" in key and step[key] not in (None, "", {}, [])
    }
    assert raw, f"no step of GET /leads/{{id}}/audit keeps a raw model output: {steps}"


def test_idempotency_key_returns_the_same_lead_without_a_second_row(api: Api) -> None:
    key = f"grader-{uuid.uuid4()}"
    payload = {"message": SALES_MESSAGE, "email": unique_email("idem")}
    before = _total(api)
    first = api.post(f"{A1}/leads", json=payload, headers={"Idempotency-Key": key})
    second = api.post(f"{A1}/leads", json=payload, headers={"Idempotency-Key": key})
    lead = expect(first, 201, LEAD_FIELDS)
    replay = expect(second, (200, 201), LEAD_FIELDS)
    assert replay["id"] == lead["id"]
    assert _total(api) == before + 1


def test_concurrent_posts_with_one_idempotency_key_store_one_lead(api: Api) -> None:
    key = f"grader-{uuid.uuid4()}"
    payload = {"message": SALES_MESSAGE, "email": unique_email("race")}
    before = _total(api)
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(
            pool.map(
                lambda _: api.post(f"{A1}/leads", json=payload, headers={"Idempotency-Key": key}),
                range(4),
            )
        )
    ids = set()
    for response in responses:
        if response.status_code == 409:
            expect_error(response, 409)
        else:
            ids.add(expect(response, (200, 201), LEAD_FIELDS)["id"])
    assert len(ids) == 1, f"one Idempotency-Key gave {len(ids)} leads"
    assert _total(api) == before + 1


def test_without_idempotency_key_each_post_is_a_new_lead(api: Api) -> None:
    first, second = create_lead(api, message=SALES_MESSAGE), create_lead(api, message=SALES_MESSAGE)
    assert first["id"] != second["id"]


def test_batch_gives_per_row_results_and_detects_duplicates(api: Api) -> None:
    email = unique_email("batch")
    rows = [
        {"name": "Sam Rivera", "email": email, "message": "Demo for our 3 stores please."},
        {"name": "Sam Rivera", "email": f" {email.upper()} ", "message": "Following up on a demo."},
        {"name": "No Message", "message": ""},
        {"name": "Olu Ade", "email": unique_email("olu"), "message": "We want to resell your app."},
    ]
    response = api.post(f"{A1}/leads/batch", json=rows)
    results = items_of(expect(response, (200, 201, 207)))
    assert len(results) == len(rows), results
    outcomes = [row_outcome(result) for result in results]
    assert outcomes == ["ok", "duplicate", "error", "ok"], results


def test_csv_import_gives_per_row_results_and_detects_duplicates(api: Api) -> None:
    email = unique_email("import")
    phone_tail = f"{uuid.uuid4().int % 100:02d}"
    csv = (
        "name,email,phone,message,source\n"
        f"Greg Hollis,{unique_email('greg')},303-555-01{phone_tail},Pricing for 2 sites?,csv\n"
        f'Ana Diaz,{email},,"Demo, please: 20 seats",csv\n'
        f'Ana Diaz," {email.upper()} ",,Second request for the demo,csv\n'
        f"Pine Ridge,,+1 (303) 555 01{phone_tail},Quote for our clinic,csv\n"
        "Karin Lindqvist,karin@example.com,,,csv\n"
    )
    response = api.post(
        f"{A1}/leads/import", files={"file": (f"{unique('leads')}.csv", csv.encode(), "text/csv")}
    )
    results = items_of(expect(response, (200, 201, 207)))
    assert len(results) == 5, results
    outcomes = [row_outcome(result) for result in results]
    assert outcomes[2] == "duplicate", f"same email in another case: {results[2]}"
    assert outcomes[3] == "duplicate", f"same phone in another format: {results[3]}"
    assert outcomes[4] == "error", f"empty message: {results[4]}"
    assert outcomes[1] == "ok", results[1]


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.criterion("bad_input")
@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"message": ""},
        {"message": "   "},
        {"message": 12345},
        {"message": None},
        {"message": ["a list"]},
        ["not", "an", "object"],
    ],
    ids=["missing", "empty", "blank", "number", "null", "list", "array-body"],
)
def test_create_lead_refuses_bad_bodies_with_a_4xx(api: Api, payload: object) -> None:
    expect_error(api.post(f"{A1}/leads", json=payload))


@pytest.mark.criterion("bad_input")
def test_a_huge_message_is_refused_or_processed_never_a_5xx(api: Api) -> None:
    response = api.post(f"{A1}/leads", json={"message": "Pricing please. " * 20_000})
    expect_not_server_error(response)
    if response.status_code >= 400:
        expect_error(response)


@pytest.mark.criterion("bad_input")
def test_create_lead_refuses_a_non_json_body(api: Api) -> None:
    response = api.post(
        f"{A1}/leads", content=b"message=hi", headers={"content-type": "text/plain"}
    )
    expect_error(response)


@pytest.mark.criterion("bad_input")
def test_invalid_email_is_dropped_not_an_error(api: Api) -> None:
    lead = create_lead(api, email="dana@", message="Please send pricing for 20 seats.")
    assert lead["fields"]["email"] is None


@pytest.mark.criterion("bad_input")
def test_unknown_lead_is_404(api: Api) -> None:
    expect_error(api.get(f"{A1}/leads/{uuid.uuid4()}"), 404)
    expect_error(api.get(f"{A1}/leads/{uuid.uuid4()}/audit"), 404)


@pytest.mark.criterion("bad_input")
@pytest.mark.parametrize("lead_id", ["not-a-uuid", "0", "%00", "a" * 300])
def test_malformed_lead_id_is_a_4xx(api: Api, lead_id: str) -> None:
    expect_error(api.get(f"{A1}/leads/{lead_id}"), (400, 404, 422))


@pytest.mark.criterion("bad_input")
@pytest.mark.parametrize(
    "params",
    [
        {"intent": "Gossip"},
        {"limit": -1},
        {"limit": "many"},
        {"offset": -5},
        {"low_confidence": "x"},
    ],
    ids=["intent", "negative-limit", "text-limit", "negative-offset", "flag"],
)
def test_bad_list_filters_are_a_4xx(api: Api, params: dict) -> None:
    expect_error(api.get(f"{A1}/leads", params=params), (400, 422))


@pytest.mark.criterion("bad_input")
def test_idempotency_key_reused_with_another_body_is_refused(api: Api) -> None:
    key = f"grader-{uuid.uuid4()}"
    first = api.post(
        f"{A1}/leads", json={"message": SALES_MESSAGE}, headers={"Idempotency-Key": key}
    )
    lead = expect(first, 201, LEAD_FIELDS)
    other = api.post(
        f"{A1}/leads", json={"message": "A different lead."}, headers={"Idempotency-Key": key}
    )
    expect_error(other, (409, 422))
    assert lead["id"] not in other.text


@pytest.mark.criterion("bad_input")
@pytest.mark.parametrize(
    "payload",
    [{"not": "a list"}, [], [1, 2, 3]],
    ids=["object", "empty", "numbers"],
)
def test_batch_refuses_or_reports_bad_bodies_without_a_5xx(api: Api, payload: object) -> None:
    response = api.post(f"{A1}/leads/batch", json=payload)
    expect_not_server_error(response)
    if response.status_code >= 400:
        expect_error(response)


@pytest.mark.criterion("bad_input")
@pytest.mark.parametrize(
    "content",
    [b"", b"\xff\xfe\x00garbage\x00", b"just,one,header\n"],
    ids=["empty", "binary", "no-message-column"],
)
def test_import_refuses_bad_files_with_a_4xx(api: Api, content: bytes) -> None:
    response = api.post(f"{A1}/leads/import", files={"file": ("bad.csv", content, "text/csv")})
    expect_error(response)


@pytest.mark.criterion("bad_input")
def test_import_without_a_file_is_a_4xx(api: Api) -> None:
    expect_error(api.post(f"{A1}/leads/import"))
