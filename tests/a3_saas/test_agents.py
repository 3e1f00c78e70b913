"""The three agents through `/agents/*`: on the local provider, and on OpenAI over a mock
transport (the real `openai` SDK, no network), including the fallback when it fails."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from core.llm_client import LLMClient
from tests.a3_saas.helpers import Api, build_client, saas_test_settings
from tests.support import chat_completion, fake_openai_key, make_settings

API_KEY = fake_openai_key()

STRONG_LEAD = {
    "name": "Priya Natarajan",
    "company": "Northwind Logistics",
    "message": "I'm the CTO. We need to replace our lead routing and want a demo ASAP. "
    "Budget is $80k.",
}
WEAK_LEAD = {"name": "Tom", "message": "Just browsing."}


def test_qualify_scores_a_strong_lead_high_with_a_reason_per_criterion(sqlite_api: Api) -> None:
    tenant = sqlite_api.create_tenant()

    response = sqlite_api.post(
        "/agents/qualify", headers=tenant.headers, json={"lead": STRONG_LEAD}
    )

    assert response.status_code == 200
    body = response.json()
    assert 0.8 <= body["score"] <= 1
    assert [r.split(":")[0] for r in sorted(body["reasons"])] == [
        "Authority",
        "Budget",
        "Need",
        "Timing",
    ]
    assert set(body["criteria"]) == {"budget", "authority", "need", "timing"}
    assert body["agent"] == "qualify"
    assert body["provider"] == "local"
    assert body["model"] == "bant-rubric-v1"
    assert body["usage"]["total_tokens"] == 0


def test_qualify_scores_a_weak_lead_low(sqlite_api: Api) -> None:
    tenant = sqlite_api.create_tenant()

    body = sqlite_api.post(
        "/agents/qualify", headers=tenant.headers, json={"lead": WEAK_LEAD}
    ).json()

    assert 0 <= body["score"] < 0.3
    assert any("no budget" in reason for reason in body["reasons"])


def test_qualify_by_lead_id_saves_the_score_on_the_lead(api: Api) -> None:
    tenant = api.create_tenant()
    lead = api.create_lead(tenant, **STRONG_LEAD)
    assert lead["ai_score"] is None and lead["qualified_at"] is None

    body = api.post("/agents/qualify", headers=tenant.headers, json={"lead_id": lead["id"]}).json()

    stored = api.get(f"/leads/{lead['id']}", headers=tenant.headers).json()
    assert stored["ai_score"] == body["score"]
    assert stored["ai_reasons"] == body["reasons"]
    assert stored["qualified_at"] is not None
    assert body["lead_id"] == lead["id"]


@pytest.mark.parametrize(
    "body", [{}, {"lead": WEAK_LEAD, "lead_id": "00000000-0000-0000-0000-000000000000"}]
)
def test_qualify_takes_exactly_one_of_lead_or_lead_id(sqlite_api: Api, body: dict) -> None:
    tenant = sqlite_api.create_tenant()

    assert sqlite_api.post("/agents/qualify", headers=tenant.headers, json=body).status_code == 422


def test_extract_finds_the_fields_with_an_e164_phone(sqlite_api: Api) -> None:
    tenant = sqlite_api.create_tenant()
    text = "Hi, I'm Jane Doe (jane.doe@example.com, +1 415-555-2671). Our budget is 25k."

    response = sqlite_api.post("/agents/extract", headers=tenant.headers, json={"text": text})

    assert response.status_code == 200
    body = response.json()
    assert body["fields"] == {
        "name": "Jane Doe",
        "email": "jane.doe@example.com",
        "phone": "+14155552671",
        "budget": 25000.0,
    }
    assert body["agent"] == "extract"
    assert body["provider"] == "local"


def test_reply_uses_what_the_tenant_knows_about_the_lead(sqlite_api: Api) -> None:
    tenant = sqlite_api.create_tenant()
    lead = sqlite_api.create_lead(tenant, **STRONG_LEAD, budget=80000)
    thread = "Hello, can you integrate with Salesforce?\n\nOn Mon, Priya wrote:\n> older message"

    response = sqlite_api.post(
        "/agents/reply", headers=tenant.headers, json={"thread": thread, "lead_id": lead["id"]}
    )

    assert response.status_code == 200
    reply = response.json()["reply"]
    assert reply.startswith("Hi Priya,")
    assert "Northwind Logistics" in reply
    assert "80,000" in reply
    assert "Salesforce" in reply
    assert "older message" not in reply
    assert tenant.name in reply
    assert response.json()["agent"] == "reply"


def test_reply_without_a_lead_greets_the_sender_named_in_the_thread(sqlite_api: Api) -> None:
    tenant = sqlite_api.create_tenant()

    response = sqlite_api.post(
        "/agents/reply",
        headers=tenant.headers,
        json={"thread": "Do you offer a trial?\n\nBest regards,\nMarta Lopez"},
    )

    assert response.json()["reply"].startswith("Hi Marta,")


def test_every_agent_run_is_metered(sqlite_api: Api) -> None:
    tenant = sqlite_api.create_tenant()
    member = sqlite_api.add_member(tenant)

    sqlite_api.post("/agents/qualify", headers=member, json={"lead": WEAK_LEAD})
    sqlite_api.post("/agents/extract", headers=member, json={"text": "call me at +44 20 7946 0958"})
    sqlite_api.post("/agents/reply", headers=member, json={"thread": "Hi"})

    usage = sqlite_api.get("/usage", headers=tenant.headers).json()
    assert usage["agent_runs_this_month"] == 3
    assert sorted((row["agent"], row["runs"], row["provider"]) for row in usage["data"]) == [
        ("extract", 1, "local"),
        ("qualify", 1, "local"),
        ("reply", 1, "local"),
    ]


def test_the_platform_admin_runs_no_agents(sqlite_api: Api) -> None:
    response = sqlite_api.post(
        "/agents/extract", headers=sqlite_api.platform_admin(), json={"text": "hi"}
    )

    assert response.status_code == 403


# --- the openai provider, over a mock transport -----------------------------------------------


def _completion(
    content: str, *, model: str, prompt_tokens: int = 300, completion_tokens: int = 60
) -> httpx.Response:
    return chat_completion(
        content, model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
    )


FakeLLM = Callable[[Callable[[httpx.Request], httpx.Response]], list[httpx.Request]]


@pytest.fixture
def openai_api(tmp_path: Path) -> Iterator[tuple[Api, FakeLLM]]:
    """The backend on the openai provider; `fake_llm(handler)` answers its chat completions."""
    settings = make_settings(
        tmp_path,
        LLM_PROVIDER="openai",
        OPENAI_API_KEY=API_KEY,
        OPENAI_BASE_URL="http://llm.test/v1",
        LLM_MAX_ATTEMPTS=2,
    )
    saas = saas_test_settings(QUALIFY_MODEL="gpt-4.1-mini", REPLY_MODEL="gpt-4o-mini")
    http_clients: list[httpx.AsyncClient] = []
    with build_client(settings, saas) as client:
        api = Api(client)

        def fake_llm(handler: Callable[[httpx.Request], httpx.Response]) -> list[httpx.Request]:
            seen: list[httpx.Request] = []

            def record(request: httpx.Request) -> httpx.Response:
                seen.append(request)
                return handler(request)

            http = httpx.AsyncClient(transport=httpx.MockTransport(record))
            http_clients.append(http)
            client.portal.call(api.app.state.llm.aclose)  # type: ignore[union-attr]
            api.app.state.llm = LLMClient(settings, http_client=http)
            return seen

        yield api, fake_llm
        for http in http_clients:
            client.portal.call(http.aclose)  # type: ignore[union-attr]


JUDGED = {
    "budget": {"score": 1.0, "reason": "States a budget of $80k"},
    "authority": {"score": 1.0, "reason": "Is the CTO"},
    "need": {"score": 0.5, "reason": "Wants to replace lead routing"},
    "timing": {"score": 0.0, "reason": "No timeline"},
}


def test_qualifier_on_openai_uses_its_model_and_meters_tokens_and_cost(
    openai_api: tuple[Api, FakeLLM],
) -> None:
    api, fake_llm = openai_api
    requests = fake_llm(lambda _: _completion(json.dumps(JUDGED), model="gpt-4.1-mini-2025-04-14"))
    tenant = api.create_tenant()

    body = api.post("/agents/qualify", headers=tenant.headers, json={"lead": STRONG_LEAD}).json()

    sent = json.loads(requests[0].content)
    assert sent["model"] == "gpt-4.1-mini"
    assert "Northwind Logistics" in sent["messages"][1]["content"]
    assert body["provider"] == "openai"
    assert body["model"] == "gpt-4.1-mini-2025-04-14"
    assert body["fallback"] is False
    assert body["score"] == 0.68  # 0.30·1 + 0.25·1 + 0.25·0.5 + 0.20·0, to 2 places
    assert "Authority: Is the CTO" in body["reasons"]
    expected_cost = (300 * 0.40 + 60 * 1.60) / 1_000_000
    assert body["usage"] == {
        "prompt_tokens": 300,
        "completion_tokens": 60,
        "total_tokens": 360,
        "cost_usd": pytest.approx(expected_cost),
    }
    usage = api.get("/usage", headers=tenant.headers).json()
    assert usage["data"][0]["provider"] == "openai"
    assert usage["data"][0]["prompt_tokens"] == 300
    assert usage["total_cost_usd"] == pytest.approx(expected_cost)


def test_reply_on_openai_sends_the_lead_context_and_returns_the_models_text(
    openai_api: tuple[Api, FakeLLM],
) -> None:
    api, fake_llm = openai_api
    requests = fake_llm(lambda _: _completion("Hi Priya, happy to help.", model="gpt-4o-mini"))
    tenant = api.create_tenant()
    lead = api.create_lead(tenant, **STRONG_LEAD)

    body = api.post(
        "/agents/reply", headers=tenant.headers, json={"thread": "Any news?", "lead_id": lead["id"]}
    ).json()

    assert body["reply"] == "Hi Priya, happy to help."
    assert body["provider"] == "openai"
    prompt = json.loads(requests[0].content)["messages"][1]["content"]
    assert "Northwind Logistics" in prompt and "Any news?" in prompt


def test_openai_failing_falls_back_to_the_local_agent_and_says_so(
    openai_api: tuple[Api, FakeLLM],
) -> None:
    api, fake_llm = openai_api
    requests = fake_llm(lambda _: httpx.Response(500, json={"error": {"message": "boom"}}))
    tenant = api.create_tenant()

    response = api.post("/agents/qualify", headers=tenant.headers, json={"lead": STRONG_LEAD})

    assert response.status_code == 200
    body = response.json()
    assert body["provider"] == "local"
    assert body["fallback"] is True
    assert "llm_unavailable" in body["fallback_reason"]
    assert 0.8 <= body["score"] <= 1
    assert len(requests) == 2
    usage = api.get("/usage", headers=tenant.headers).json()
    assert [row["provider"] for row in usage["data"]] == ["local"]


# --- values the model invents or leaves out ----------------------------------------------------

LLAMA_CPP_JSON_SCHEMA_REFUSAL = httpx.Response(
    500,
    json={
        "error": {
            "message": "Input should be 'text' or 'json_object'",
            "type": "internal_server_error",
            "param": None,
            "code": None,
        }
    },
)
SUPPORT_TEXT = (
    "Hi, this is Sam Ortiz (sam.ortiz@example.com). Our exports fail since the update; "
    "please call me at (415) 555-0134."
)


def test_extract_on_openai_drops_an_invented_budget_and_fills_the_phone_from_the_rules(
    openai_api: tuple[Api, FakeLLM],
) -> None:
    api, fake_llm = openai_api
    answer = {"name": "Sam Ortiz", "email": "sam.ortiz@example.com", "phone": None, "budget": 50000}
    requests = fake_llm(
        lambda request: (
            LLAMA_CPP_JSON_SCHEMA_REFUSAL
            if json.loads(request.content)["response_format"]["type"] == "json_schema"
            else _completion(json.dumps(answer), model="qwen2.5-0.5b-instruct")
        )
    )
    tenant = api.create_tenant()

    body = api.post("/agents/extract", headers=tenant.headers, json={"text": SUPPORT_TEXT}).json()

    assert (body["provider"], body["fallback"]) == ("openai", False)
    assert body["fields"] == {
        "name": "Sam Ortiz",
        "email": "sam.ortiz@example.com",
        "phone": "+14155550134",
        "budget": None,
    }
    assert body["field_sources"] == {
        "name": "llm",
        "email": "llm",
        "phone": "rules",
        "budget": None,
    }
    assert body["notes"] == [
        "budget dropped (llm value not in the input): not found in the lead's message or fields"
    ]
    assert [json.loads(r.content)["response_format"]["type"] for r in requests] == [
        "json_schema",
        "json_object",
    ]
    (entry,) = api.get("/audit?action=agent.extract", headers=tenant.headers).json()["data"]
    assert [d["reason"] for d in entry["details"]["dropped"]] == ["not_in_input"]
    assert [a["outcome"] for a in entry["details"]["llm_attempts"]] == ["refused", "ok"]


def test_qualify_on_openai_rejudges_a_criterion_that_cites_an_invented_budget(
    openai_api: tuple[Api, FakeLLM],
) -> None:
    api, fake_llm = openai_api
    judged = {
        "budget": {"score": 1.0, "reason": "They have a budget of $50k"},
        "authority": {"score": 0.0, "reason": "Role unknown"},
        "need": {"score": 1.0, "reason": "Exports fail after the update"},
        "timing": {"score": 1.0, "reason": "Wants a call now"},
    }
    fake_llm(lambda _: _completion(json.dumps(judged), model="gpt-4.1-mini-2025-04-14"))
    tenant = api.create_tenant()

    body = api.post(
        "/agents/qualify", headers=tenant.headers, json={"lead": {"message": SUPPORT_TEXT}}
    ).json()

    assert body["criteria_sources"] == {
        "budget": "rules",
        "authority": "llm",
        "need": "llm",
        "timing": "llm",
    }
    assert body["criteria"]["budget"] == 0.0
    assert "Budget: no budget mentioned" in body["reasons"]
    assert body["score"] == 0.45  # 0.30·0 + 0.25·0 + 0.25·1 + 0.20·1
    (entry,) = api.get("/audit?action=agent.qualify", headers=tenant.headers).json()["data"]
    assert entry["details"]["dropped"][0]["field"] == "budget"


def test_qualify_keeps_an_amount_the_lead_stated_in_another_form(
    openai_api: tuple[Api, FakeLLM],
) -> None:
    api, fake_llm = openai_api
    fake_llm(lambda _: _completion(json.dumps(JUDGED), model="gpt-4.1-mini-2025-04-14"))
    tenant = api.create_tenant()
    lead = {**STRONG_LEAD, "message": "I'm the CTO; we need a demo. We can spend 80,000 USD."}

    body = api.post("/agents/qualify", headers=tenant.headers, json={"lead": lead}).json()

    assert set(body["criteria_sources"].values()) == {"llm"}
    assert "Budget: States a budget of $80k" in body["reasons"]
