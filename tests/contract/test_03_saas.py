"""SPEC §4.3 — assessment 3, the multi-tenant AI agent SaaS, over HTTP only."""

from __future__ import annotations

import base64
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.contract.helpers import (
    A3,
    NUMBER,
    TOKEN_LIFETIME_SECONDS,
    Api,
    Tenant,
    admin_credentials,
    create_contact,
    create_saas_lead,
    create_tenant,
    expect,
    expect_error,
    expect_not_server_error,
    fail,
    items_of,
    jwt_claims,
    login,
    send_webhook,
    sign_webhook,
    unique,
    unique_email,
    wait_for,
    webhook_body,
)

pytestmark = pytest.mark.assessment3

AGENT_FIELDS = {"agent": str, "provider": str, "model": str, "usage": (dict, type(None))}
QUALIFIED_LEAD = {
    "name": "Priya Natarajan",
    "email": "priya@harbor.example.com",
    "phone": "+1 415 555 0134",
    "company": "Harbor Freight Logistics",
    "message": "We run 40 trucks and need route planning; can we get a demo and a quote this "
    "month? Budget is $60k.",
    "budget": 60000,
}


def _contact(api: Api, tenant: Tenant, contact_id: object) -> dict:
    return expect(api.get(f"{A3}/crm/contacts/{contact_id}", token=tenant.token), 200)


def _events(api: Api, tenant: Tenant, msg_id: str, **params: object) -> list[dict]:
    """The tenant's webhook events that mention `msg_id`, in whichever field a server keeps it."""
    response = api.get(f"{A3}/webhooks/events", params=params, token=tenant.token)
    return [event for event in items_of(expect(response, 200)) if msg_id in json.dumps(event)]


def _wait_until_dead(api: Api, tenant: Tenant, msg_id: str, timeout: float) -> None:
    wait_for(
        lambda: _events(api, tenant, msg_id, status="dead"),
        timeout=timeout,
        interval=0.5,
        what=f"event {msg_id} in GET {A3}/webhooks/events?status=dead",
    )


# --- auth and tenants ---------------------------------------------------------------------


def test_platform_admin_logs_in_with_json(api: Api) -> None:
    email, password = admin_credentials()
    response = api.post(f"{A3}/auth/token", json={"email": email, "password": password})
    body = expect(response, 200, {"access_token": str, "token_type": str})
    assert body["token_type"].lower() == "bearer"


def test_oauth2_password_form_login(api: Api, tenant: Tenant) -> None:
    response = api.post(
        f"{A3}/auth/token", data={"username": tenant.admin_email, "password": tenant.admin_password}
    )
    body = expect(response, 200, {"access_token": str, "token_type": str})
    assert jwt_claims(body["access_token"])["tenant"] == tenant.id


def test_token_claims_are_sub_tenant_iat_and_an_8_hour_exp(api: Api, tenant: Tenant) -> None:
    claims = jwt_claims(tenant.token)
    assert {"sub", "tenant", "iat", "exp"} <= set(claims), claims
    assert claims["tenant"] == tenant.id
    assert claims["exp"] - claims["iat"] == TOKEN_LIFETIME_SECONDS
    header = json.loads(base64.urlsafe_b64decode(tenant.token.split(".")[0] + "=="))
    assert header["alg"] == "HS256"


def test_create_tenant_shows_a_whsec_secret_once(api: Api, platform_token: str) -> None:
    payload = {
        "name": unique("Contract Co"),
        "subscription_tier": "starter",
        "admin_email": unique_email("admin"),
        "admin_password": "s3cret-pass-1",
    }
    response = api.post(f"{A3}/tenants", json=payload, token=platform_token)
    body = expect(response, 201, {"id": (str, int), "name": str, "subscription_tier": str})
    assert body["name"] == payload["name"] and body["subscription_tier"] == "starter"
    assert body["webhook_secret"].startswith("whsec_")
    base64.b64decode(body["webhook_secret"].removeprefix("whsec_"), validate=True)
    token = login(api, payload["admin_email"], payload["admin_password"])
    me = expect(api.get(f"{A3}/tenants/me", token=token), 200, {"id": (str, int)})
    assert "webhook_secret" not in me and body["webhook_secret"] not in json.dumps(me)


def test_tenants_me_is_the_callers_tenant(api: Api, tenant: Tenant) -> None:
    me = expect(api.get(f"{A3}/tenants/me", token=tenant.token), 200, {"id": (str, int)})
    assert str(me["id"]) == tenant.id and me["name"] == tenant.name


def test_tenant_admin_adds_a_member_who_works_in_the_same_tenant(api: Api, tenant: Tenant) -> None:
    email = unique_email("member")
    response = api.post(
        f"{A3}/users", json={"email": email, "password": "member-pass-1"}, token=tenant.token
    )
    expect(response, 201)
    member = login(api, email, "member-pass-1")
    assert jwt_claims(member)["tenant"] == tenant.id
    lead = create_saas_lead(api, tenant, name="Shared Lead")
    listed = items_of(expect(api.get(f"{A3}/leads", token=member), 200))
    assert lead["id"] in [item["id"] for item in listed]


# --- leads --------------------------------------------------------------------------------


def test_lead_crud(api: Api, tenant: Tenant) -> None:
    lead = create_saas_lead(api, tenant, **QUALIFIED_LEAD)
    for key in ("name", "email", "company", "message"):
        assert lead[key] == QUALIFIED_LEAD[key], key
    assert lead["budget"] == 60000
    assert lead.get("ai_score") is None and lead.get("qualified_at") is None
    path = f"{A3}/leads/{lead['id']}"
    assert expect(api.get(path, token=tenant.token), 200)["id"] == lead["id"]
    listed = items_of(expect(api.get(f"{A3}/leads", token=tenant.token), 200))
    assert lead["id"] in [item["id"] for item in listed]
    patched = expect(api.patch(path, json={"budget": 75000}, token=tenant.token), 200)
    assert patched["budget"] == 75000 and patched["name"] == QUALIFIED_LEAD["name"]
    expect(api.delete(path, token=tenant.token), (200, 204))
    expect_error(api.get(path, token=tenant.token), 404)


def test_qualifying_a_lead_by_id_shows_ai_score_and_qualified_at(api: Api, tenant: Tenant) -> None:
    lead = create_saas_lead(api, tenant, **QUALIFIED_LEAD)
    response = api.post(f"{A3}/agents/qualify", json={"lead_id": lead["id"]}, token=tenant.token)
    result = expect(response, 200, {"score": NUMBER, "reasons": list, **AGENT_FIELDS})
    stored = expect(api.get(f"{A3}/leads/{lead['id']}", token=tenant.token), 200)
    assert stored["ai_score"] == pytest.approx(result["score"]), stored
    assert stored["qualified_at"], stored


# --- agents -------------------------------------------------------------------------------


def test_qualify_agent_scores_an_inline_lead(api: Api, tenant: Tenant) -> None:
    response = api.post(f"{A3}/agents/qualify", json={"lead": QUALIFIED_LEAD}, token=tenant.token)
    result = expect(response, 200, {"score": NUMBER, "reasons": list, **AGENT_FIELDS})
    assert 0 <= result["score"] <= 1
    assert result["reasons"] and all(isinstance(r, str) and r for r in result["reasons"])


def test_qualify_agent_ranks_a_strong_lead_above_a_weak_one(api: Api, tenant: Tenant) -> None:
    weak = {"name": "x", "message": "hi"}
    strong = expect(
        api.post(f"{A3}/agents/qualify", json={"lead": QUALIFIED_LEAD}, token=tenant.token), 200
    )
    poor = expect(api.post(f"{A3}/agents/qualify", json={"lead": weak}, token=tenant.token), 200)
    assert strong["score"] > poor["score"], (strong["score"], poor["score"])


def test_extract_agent_returns_the_fields(api: Api, tenant: Tenant) -> None:
    text = (
        "Hi, I'm Dana Kim from Lumen Clinics. Reach me at dana.kim@lumen.example.com or "
        "(415) 555-0134. Our budget is $50k."
    )
    response = api.post(f"{A3}/agents/extract", json={"text": text}, token=tenant.token)
    result = expect(response, 200, {"fields": dict, **AGENT_FIELDS})
    fields = result["fields"]
    assert set(fields) >= {"name", "email", "phone", "budget"}, fields
    assert fields["email"] == "dana.kim@lumen.example.com"
    assert fields["budget"] == 50000
    assert fields["name"] == "Dana Kim"
    assert fields["phone"] and fields["phone"].replace(" ", "").endswith("4155550134")


def test_reply_agent_writes_a_reply(api: Api, tenant: Tenant) -> None:
    thread = "Hi, could you tell me whether your plan includes SSO? We have 40 users. — Sam"
    response = api.post(f"{A3}/agents/reply", json={"thread": thread}, token=tenant.token)
    result = expect(response, 200, {"reply": str, **AGENT_FIELDS})
    assert result["reply"].strip() and result["agent"]


def test_reply_agent_uses_a_leads_context(api: Api, tenant: Tenant) -> None:
    lead = create_saas_lead(api, tenant, **QUALIFIED_LEAD)
    body = {"thread": "Following up on the demo request.", "lead_id": lead["id"]}
    result = expect(api.post(f"{A3}/agents/reply", json=body, token=tenant.token), 200)
    # The thread names neither the lead nor the company: only the lead's record can.
    reply = result["reply"]
    assert "Priya" in reply or QUALIFIED_LEAD["company"] in reply, reply


def test_usage_and_audit_answer_for_the_callers_tenant(api: Api, tenant: Tenant) -> None:
    api.post(f"{A3}/agents/qualify", json={"lead": QUALIFIED_LEAD}, token=tenant.token)
    expect(api.get(f"{A3}/usage", token=tenant.token), 200)
    lead = create_saas_lead(api, tenant, name="Audited Lead")
    audit = expect(api.get(f"{A3}/audit", token=tenant.token), 200)
    assert lead["id"] in json.dumps(audit), "creating a lead left no audit entry"


# --- CRM and webhooks ---------------------------------------------------------------------


def test_crm_contact_starts_without_an_ai_score(api: Api, tenant: Tenant) -> None:
    contact = create_contact(api, tenant)
    stored = _contact(api, tenant, contact["id"])
    assert "ai_score" in stored and stored["ai_score"] is None, stored


def test_signed_webhook_is_acknowledged_with_202(api: Api, tenant: Tenant) -> None:
    contact = create_contact(api, tenant)
    response = send_webhook(
        api, tenant, contact["id"], msg_id="msg_contract_ack_" + uuid.uuid4().hex
    )
    body = expect(response, 202, {"status": str, "event_id": str})
    assert body["status"] == "received"
    assert body["event_id"] == response.request.headers["webhook-id"]


def test_webhook_is_processed_asynchronously_into_ai_score(
    api: Api, tenant: Tenant, async_timeout: float
) -> None:
    contact = create_contact(api, tenant, email=unique_email("webhook"))
    expect(send_webhook(api, tenant, contact["id"]), 202)
    scored = wait_for(
        lambda: (c := _contact(api, tenant, contact["id"]))["ai_score"] is not None and c,
        timeout=async_timeout,
        what=f"GET {A3}/crm/contacts/{contact['id']} to show ai_score",
    )
    assert 0 <= scored["ai_score"] <= 1
    leads = items_of(expect(api.get(f"{A3}/leads", params={"limit": 200}, token=tenant.token), 200))
    mirrored = [lead for lead in leads if lead.get("email") == contact["email"]]
    assert mirrored, "the tenant's lead for the contact was not written"
    assert mirrored[0]["ai_score"] == pytest.approx(scored["ai_score"])
    assert mirrored[0]["qualified_at"]


def test_redelivered_webhook_is_processed_once(
    api: Api, tenant: Tenant, async_timeout: float
) -> None:
    contact = create_contact(api, tenant)
    msg_id = "msg_" + uuid.uuid4().hex
    first = send_webhook(api, tenant, contact["id"], msg_id=msg_id)
    second = send_webhook(api, tenant, contact["id"], msg_id=msg_id)
    assert expect(first, 202)["event_id"] == msg_id
    expect(second, (200, 202))
    wait_for(
        lambda: _contact(api, tenant, contact["id"])["ai_score"] is not None,
        timeout=async_timeout,
        what="the webhook to be processed",
    )
    events = _events(api, tenant, msg_id)
    assert len(events) == 1, f"webhook-id {msg_id} stored {len(events)} times: {events}"


def test_failing_event_ends_in_the_dead_letter_list(
    api: Api, tenant: Tenant, async_timeout: float
) -> None:
    msg_id = "msg_" + uuid.uuid4().hex
    # An unknown contact: every attempt fails.
    expect(send_webhook(api, tenant, str(uuid.uuid4()), msg_id=msg_id), 202)
    _wait_until_dead(api, tenant, msg_id, async_timeout)


def test_dead_letter_is_replayable(api: Api, tenant: Tenant, async_timeout: float) -> None:
    spec = expect(api.get("/openapi.json"), 200, {"paths": dict})
    replay_routes = [
        path
        for path, operations in spec["paths"].items()
        if path.startswith(f"{A3}/webhooks/events/{{") and "replay" in path and "post" in operations
    ]
    if not replay_routes:
        fail(f"no POST {A3}/webhooks/events/{{id}}/replay-like route in /openapi.json")
    msg_id = "msg_" + uuid.uuid4().hex
    expect(send_webhook(api, tenant, str(uuid.uuid4()), msg_id=msg_id), 202)
    _wait_until_dead(api, tenant, msg_id, async_timeout)
    path = replay_routes[0].replace(replay_routes[0].split("/")[-2], msg_id)
    expect(api.post(path, token=tenant.token), (200, 202))
    assert len(_events(api, tenant, msg_id)) == 1


def test_webhook_a_few_minutes_old_is_accepted(api: Api, tenant: Tenant) -> None:
    contact = create_contact(api, tenant)
    response = send_webhook(api, tenant, contact["id"], timestamp=int(time.time()) - 240)
    expect(response, 202)


def test_webhook_with_several_signatures_is_accepted_if_one_matches(
    api: Api, tenant: Tenant
) -> None:
    contact = create_contact(api, tenant)
    msg_id, timestamp = "msg_" + uuid.uuid4().hex, int(time.time())
    body = webhook_body(tenant.id, str(contact["id"]))
    good = sign_webhook(tenant.webhook_secret, msg_id, timestamp, body)
    wrong = "v1," + base64.b64encode(b"\1" * 32).decode()
    response = send_webhook(
        api, tenant, contact["id"], msg_id=msg_id, timestamp=timestamp, signature=f"{wrong} {good}"
    )
    expect(response, 202)


def test_concurrent_redeliveries_are_stored_once(
    api: Api, tenant: Tenant, async_timeout: float
) -> None:
    contact = create_contact(api, tenant)
    msg_id, timestamp = "msg_" + uuid.uuid4().hex, int(time.time())
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(
            pool.map(
                lambda _: send_webhook(
                    api, tenant, contact["id"], msg_id=msg_id, timestamp=timestamp
                ),
                range(4),
            )
        )
    for response in responses:
        expect(response, (200, 202))
    wait_for(
        lambda: _contact(api, tenant, contact["id"])["ai_score"] is not None,
        timeout=async_timeout,
        what="the webhook to be processed",
    )
    assert len(_events(api, tenant, msg_id)) == 1


def test_usage_is_metered_per_agent_run(api: Api, tenant: Tenant) -> None:
    before = expect(api.get(f"{A3}/usage", token=tenant.token), 200)
    body = {"lead": QUALIFIED_LEAD}
    expect(api.post(f"{A3}/agents/qualify", json=body, token=tenant.token), 200)
    after = expect(api.get(f"{A3}/usage", token=tenant.token), 200)
    assert after != before, f"GET {A3}/usage did not change after an agent run: {after}"


def test_rate_limit_answers_429_with_retry_after(
    api: Api, platform_token: str, other_tenant: Tenant
) -> None:
    tenant = create_tenant(api, platform_token, tier="starter")
    for _ in range(600):
        response = api.get(f"{A3}/leads", token=tenant.token)
        if response.status_code == 429:
            break
        expect(response, 200)
    else:
        fail("600 requests in a row on the starter tier never answered 429")
    expect_error(response, 429)
    assert int(response.headers["retry-after"]) >= 1
    expect(api.get(f"{A3}/leads", token=other_tenant.token), 200)


# --- isolation ----------------------------------------------------------------------------


@pytest.mark.criterion("isolation")
def test_cross_tenant_lead_read_update_delete_answer_404(
    api: Api, tenant: Tenant, other_tenant: Tenant
) -> None:
    lead = create_saas_lead(api, tenant, **QUALIFIED_LEAD)
    path = f"{A3}/leads/{lead['id']}"
    for response in (
        api.get(path, token=other_tenant.token),
        api.patch(path, json={"name": "Hijacked"}, token=other_tenant.token),
        api.delete(path, token=other_tenant.token),
    ):
        expect_error(response, 404)
        assert QUALIFIED_LEAD["email"] not in response.text
    assert expect(api.get(path, token=tenant.token), 200)["name"] == QUALIFIED_LEAD["name"]


@pytest.mark.criterion("isolation")
def test_lead_lists_show_only_the_callers_tenant(
    api: Api, tenant: Tenant, other_tenant: Tenant
) -> None:
    lead = create_saas_lead(api, tenant, name="Tenant A Only")
    theirs = items_of(expect(api.get(f"{A3}/leads", token=other_tenant.token), 200))
    assert lead["id"] not in [item["id"] for item in theirs]


@pytest.mark.criterion("isolation")
def test_cross_tenant_contact_answers_404(api: Api, tenant: Tenant, other_tenant: Tenant) -> None:
    contact = create_contact(api, tenant)
    expect_error(api.get(f"{A3}/crm/contacts/{contact['id']}", token=other_tenant.token), 404)


@pytest.mark.criterion("isolation")
def test_agents_cannot_read_another_tenants_lead(
    api: Api, tenant: Tenant, other_tenant: Tenant
) -> None:
    lead = create_saas_lead(api, tenant, **QUALIFIED_LEAD)
    for agent, body in (
        ("qualify", {"lead_id": lead["id"]}),
        ("reply", {"thread": "Hi", "lead_id": lead["id"]}),
    ):
        response = api.post(f"{A3}/agents/{agent}", json=body, token=other_tenant.token)
        expect_error(response, 404)
        assert QUALIFIED_LEAD["email"] not in response.text
    stored = expect(api.get(f"{A3}/leads/{lead['id']}", token=tenant.token), 200)
    assert stored.get("ai_score") is None


@pytest.mark.criterion("isolation")
def test_audit_usage_and_events_show_only_the_callers_tenant(
    api: Api, tenant: Tenant, other_tenant: Tenant
) -> None:
    lead = create_saas_lead(api, tenant, name="Audit Isolation")
    contact = create_contact(api, tenant)
    msg_id = "msg_" + uuid.uuid4().hex
    expect(send_webhook(api, tenant, contact["id"], msg_id=msg_id), 202)
    for path in ("/audit", "/usage", "/webhooks/events"):
        response = api.get(f"{A3}{path}", token=other_tenant.token)
        expect(response, 200)
        for secret in (lead["id"], str(contact["id"]), msg_id, tenant.id):
            assert secret not in response.text, f"GET {A3}{path} shows tenant A's {secret}"


@pytest.mark.criterion("isolation")
def test_webhook_signed_with_another_tenants_secret_is_401(
    api: Api, tenant: Tenant, other_tenant: Tenant
) -> None:
    contact = create_contact(api, tenant)
    response = send_webhook(api, tenant, contact["id"], secret=other_tenant.webhook_secret)
    expect_error(response, 401)


@pytest.mark.criterion("isolation")
def test_webhook_cannot_touch_another_tenants_contact(
    api: Api, tenant: Tenant, other_tenant: Tenant, async_timeout: float
) -> None:
    contact = create_contact(api, tenant)
    msg_id = "msg_" + uuid.uuid4().hex
    expect(send_webhook(api, other_tenant, contact["id"], msg_id=msg_id), 202)
    wait_for(
        lambda: any(
            str(event.get("status", "")).lower() not in ("pending", "received", "processing")
            for event in _events(api, other_tenant, msg_id)
        ),
        timeout=async_timeout,
        interval=0.5,
        what=f"tenant B's event {msg_id} to leave the queue",
    )
    assert _contact(api, tenant, contact["id"])["ai_score"] is None


@pytest.mark.criterion("isolation")
def test_token_with_a_forged_tenant_claim_is_401(
    api: Api, tenant: Tenant, other_tenant: Tenant
) -> None:
    header, payload, signature = tenant.token.split(".")
    claims = jwt_claims(tenant.token) | {"tenant": other_tenant.id}
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    forged = f"{header}.{forged_payload}.{signature}"
    expect_error(api.get(f"{A3}/leads", token=forged), 401)


@pytest.mark.criterion("isolation")
def test_tenant_admin_cannot_create_tenants_or_members_elsewhere(api: Api, tenant: Tenant) -> None:
    payload = {
        "name": unique("Rogue Co"),
        "subscription_tier": "enterprise",
        "admin_email": unique_email("rogue"),
        "admin_password": "s3cret-pass-1",
    }
    expect_error(api.post(f"{A3}/tenants", json=payload, token=tenant.token), 403)


@pytest.mark.criterion("isolation")
def test_member_cannot_add_users(api: Api, tenant: Tenant) -> None:
    email = unique_email("member")
    body = {"email": email, "password": "member-pass-1"}
    expect(api.post(f"{A3}/users", json=body, token=tenant.token), 201)
    member = login(api, email, "member-pass-1")
    other = {"email": unique_email("member"), "password": "member-pass-1"}
    expect_error(api.post(f"{A3}/users", json=other, token=member), 403)


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.criterion("bad_input")
@pytest.mark.parametrize("path", ["/leads", "/tenants/me", "/audit", "/usage", "/crm/contacts/1"])
def test_missing_or_bad_token_is_401(api: Api, path: str) -> None:
    expect_error(api.get(f"{A3}{path}"), 401)
    expect_error(api.get(f"{A3}{path}", token="not-a-jwt"), 401)


@pytest.mark.criterion("bad_input")
def test_wrong_password_and_unknown_user_are_401(api: Api, tenant: Tenant) -> None:
    wrong = {"email": tenant.admin_email, "password": "wrong-password"}
    expect_error(api.post(f"{A3}/auth/token", json=wrong), 401)
    unknown = {"email": unique_email("nobody"), "password": "whatever-1"}
    expect_error(api.post(f"{A3}/auth/token", json=unknown), 401)


@pytest.mark.criterion("bad_input")
@pytest.mark.parametrize(
    "payload",
    [{}, {"email": "a@example.com"}, {"password": "x"}, ["a", "b"]],
    ids=["empty", "no-password", "no-email", "array"],
)
def test_login_with_a_malformed_body_is_a_4xx(api: Api, payload: object) -> None:
    expect_error(api.post(f"{A3}/auth/token", json=payload), (400, 401, 422))


@pytest.mark.criterion("bad_input")
@pytest.mark.parametrize(
    "change",
    [
        {"subscription_tier": "gold"},
        {"name": ""},
        {"admin_email": "not-an-email"},
        {"admin_password": ""},
    ],
    ids=["tier", "name", "email", "password"],
)
def test_create_tenant_refuses_bad_fields(api: Api, platform_token: str, change: dict) -> None:
    payload = {
        "name": unique("Contract Co"),
        "subscription_tier": "pro",
        "admin_email": unique_email("admin"),
        "admin_password": "s3cret-pass-1",
    } | change
    expect_error(api.post(f"{A3}/tenants", json=payload, token=platform_token), (400, 422))


@pytest.mark.criterion("bad_input")
def test_duplicate_tenant_name_is_a_4xx(api: Api, platform_token: str, tenant: Tenant) -> None:
    payload = {
        "name": tenant.name,
        "subscription_tier": "pro",
        "admin_email": unique_email("admin"),
        "admin_password": "s3cret-pass-1",
    }
    expect_error(api.post(f"{A3}/tenants", json=payload, token=platform_token), (400, 409, 422))


@pytest.mark.criterion("bad_input")
@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"name": ""},
        {"name": "Ok", "email": "nope"},
        {"name": "Ok", "budget": "lots"},
        {"name": "Ok", "budget": -5},
    ],
    ids=["empty", "blank-name", "bad-email", "text-budget", "negative-budget"],
)
def test_create_lead_refuses_bad_fields(api: Api, tenant: Tenant, payload: dict) -> None:
    expect_error(api.post(f"{A3}/leads", json=payload, token=tenant.token), (400, 422))


@pytest.mark.criterion("bad_input")
def test_patch_lead_refuses_bad_fields(api: Api, tenant: Tenant) -> None:
    lead = create_saas_lead(api, tenant)
    path = f"{A3}/leads/{lead['id']}"
    expect_error(api.patch(path, json={"email": "nope"}, token=tenant.token), (400, 422))
    assert expect(api.get(path, token=tenant.token), 200)["name"] == lead["name"]


@pytest.mark.criterion("bad_input")
@pytest.mark.parametrize("field", ["name", "email", "phone", "company", "message", "budget"])
def test_patch_lead_with_a_null_field_never_makes_a_5xx(
    api: Api, tenant: Tenant, field: str
) -> None:
    lead = create_saas_lead(api, tenant, **QUALIFIED_LEAD)
    path = f"{A3}/leads/{lead['id']}"
    response = api.patch(path, json={field: None}, token=tenant.token)
    if response.status_code >= 400:
        expect_error(response, (400, 422))
    else:
        assert expect(response, 200)["name"], "a lead must keep its required name"


@pytest.mark.criterion("bad_input")
def test_patch_cannot_change_a_leads_id_or_score(api: Api, tenant: Tenant) -> None:
    lead = create_saas_lead(api, tenant, **QUALIFIED_LEAD)
    path = f"{A3}/leads/{lead['id']}"
    body = {"id": str(uuid.uuid4()), "ai_score": 1.0, "tenant_id": str(uuid.uuid4())}
    response = api.patch(path, json=body, token=tenant.token)
    expect_not_server_error(response)
    stored = expect(api.get(path, token=tenant.token), 200)
    assert stored["id"] == lead["id"] and stored.get("ai_score") is None, stored


@pytest.mark.criterion("bad_input")
@pytest.mark.parametrize("lead_id", [str(uuid.uuid4()), "not-a-uuid", "0"])
def test_unknown_or_malformed_lead_id_is_404_or_422(api: Api, tenant: Tenant, lead_id: str) -> None:
    expect_error(api.get(f"{A3}/leads/{lead_id}", token=tenant.token), (404, 422))


@pytest.mark.criterion("bad_input")
@pytest.mark.parametrize(
    ("agent", "payload"),
    [
        ("qualify", {}),
        ("qualify", {"lead_id": "not-a-uuid"}),
        ("extract", {}),
        ("extract", {"text": ""}),
        ("reply", {}),
        ("reply", {"thread": 42}),
    ],
    ids=[
        "qualify-empty",
        "qualify-bad-id",
        "extract-empty",
        "extract-blank",
        "reply-empty",
        "reply-number",
    ],
)
def test_agents_refuse_bad_bodies_with_a_4xx(
    api: Api, tenant: Tenant, agent: str, payload: dict
) -> None:
    response = api.post(f"{A3}/agents/{agent}", json=payload, token=tenant.token)
    expect_error(response, (400, 404, 422))


@pytest.mark.criterion("bad_input")
def test_unknown_agent_is_404(api: Api, tenant: Tenant) -> None:
    expect_error(api.post(f"{A3}/agents/summarise", json={"text": "x"}, token=tenant.token), 404)


@pytest.mark.criterion("bad_input")
def test_webhook_with_a_bad_signature_is_401_and_not_stored(api: Api, tenant: Tenant) -> None:
    contact = create_contact(api, tenant)
    msg_id = "msg_" + uuid.uuid4().hex
    wrong = "v1," + base64.b64encode(b"\0" * 32).decode()
    response = send_webhook(api, tenant, contact["id"], msg_id=msg_id, signature=wrong)
    expect_error(response, 401)
    assert not _events(api, tenant, msg_id)


@pytest.mark.criterion("bad_input")
def test_webhook_with_a_tampered_body_is_401(api: Api, tenant: Tenant) -> None:
    contact = create_contact(api, tenant)
    msg_id, timestamp = "msg_" + uuid.uuid4().hex, int(time.time())
    body = webhook_body(tenant.id, str(contact["id"]))
    signature = sign_webhook(tenant.webhook_secret, msg_id, timestamp, body)
    tampered = body.replace(b"contact.updated", b"contact.deleted")
    response = send_webhook(
        api,
        tenant,
        contact["id"],
        msg_id=msg_id,
        timestamp=timestamp,
        body=tampered,
        signature=signature,
    )
    expect_error(response, 401)


@pytest.mark.criterion("bad_input")
@pytest.mark.parametrize("skew", [-400, 400], ids=["6-min-old", "6-min-ahead"])
def test_webhook_timestamp_more_than_5_minutes_off_is_401(
    api: Api, tenant: Tenant, skew: int
) -> None:
    contact = create_contact(api, tenant)
    response = send_webhook(api, tenant, contact["id"], timestamp=int(time.time()) + skew)
    expect_error(response, 401)


@pytest.mark.criterion("bad_input")
def test_webhook_for_an_unknown_tenant_is_401(api: Api, tenant: Tenant) -> None:
    contact = create_contact(api, tenant)
    response = send_webhook(api, tenant, contact["id"], tenant_id=str(uuid.uuid4()))
    expect_error(response, 401)


@pytest.mark.criterion("bad_input")
def test_webhook_without_signature_headers_is_401(api: Api, tenant: Tenant) -> None:
    body = webhook_body(tenant.id, "1")
    response = api.post(
        f"{A3}/webhooks/crm/contact.updated",
        content=body,
        headers={"content-type": "application/json"},
    )
    expect_error(response, (400, 401))


@pytest.mark.criterion("bad_input")
def test_webhook_with_a_non_json_body_is_a_4xx(api: Api, tenant: Tenant) -> None:
    response = send_webhook(api, tenant, "1", body=b"not json at all")
    expect_error(response, (400, 401, 422))


@pytest.mark.criterion("bad_input")
@pytest.mark.parametrize(
    "payload", [{}, {"name": ""}, {"name": "Ok", "email": "nope"}], ids=["empty", "blank", "email"]
)
def test_create_contact_refuses_bad_fields(api: Api, tenant: Tenant, payload: dict) -> None:
    expect_error(api.post(f"{A3}/crm/contacts", json=payload, token=tenant.token), (400, 422))


@pytest.mark.criterion("bad_input")
def test_unknown_event_status_filter_never_makes_a_5xx(api: Api, tenant: Tenant) -> None:
    response = api.get(f"{A3}/webhooks/events", params={"status": "zombie"}, token=tenant.token)
    expect_not_server_error(response)
