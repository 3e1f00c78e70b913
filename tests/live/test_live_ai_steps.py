"""The three assessments' AI steps end to end against a real OpenAI-compatible server.

What is asserted is what any competent model does — the intent of an unambiguous lead,
no value that is not in the input, a cited answer from the documents, a refused
off-topic question, four judged criteria — never exact text. Each step must have been
answered by the live model (`provider: openai`, no fallback): the point is to see that
the product works with it, not that the local fallback does.
"""

from __future__ import annotations

import importlib
import re

import pytest

from tests.a3_saas.helpers import Api
from tests.live.conftest import LiveServer
from tests.live.support import TIMINGS, Timing, timed

pytestmark = pytest.mark.live

grounding = importlib.import_module("assessments.01_workflow_automation.grounding")

LEADS = "/api/01-workflow/leads"
RAG = "/api/02-rag"
REFUSAL = "I don't have enough information in the provided documents to answer that question."

SALES_LEAD = (
    "Hi, I'm Dana Kim, head of operations at Initech. We'd like a quote for 50 seats of your "
    "Pro plan; our budget is $50k. Call me at (415) 555-0134 or write to dana.kim@initech.example."
)
SUPPORT_LEAD = (
    "Hello, since this morning none of our users can log in to the dashboard; the page shows "
    "an error 500. Please fix this as soon as possible. Sam Ortiz"
)
PARTNERSHIP_LEAD = (
    "We are a systems integrator in Germany with 40 consultants. We would like to become a "
    "reseller of your platform and bundle it with our implementation services. Who handles "
    "partner programs? Regards, Lena Fischer"
)
HANDBOOK = """# Initech customer handbook

## Refunds
Initech refunds any subscription within 30 days of purchase. Refunds are paid back to the
original card within 5 business days.

## Plans
The Pro plan costs $49 per user per month. The Enterprise plan is priced on request.

## Support
Support is available Monday to Friday, 9:00 to 17:00 CET, at support@initech.example.
"""


def create_lead(api: Api, message: str, step: str) -> dict:
    with timed(step) as seen:
        response = api.client.post(LEADS, json={"message": message})
        seen["provider"] = response.json().get("provider", "?")
    assert response.status_code == 201, response.text
    return response.json()


def assert_lead_answered_by_the_model(api: Api, lead: dict) -> None:
    assert lead["provider"] == "openai", "the classification fell back to the local model"
    audit = api.client.get(f"{LEADS}/{lead['id']}/audit").json()["data"]
    steps = {entry["step"]: entry for entry in audit}
    for name in ("classify", "extract"):
        seconds = steps[name]["duration_ms"] / 1000
        TIMINGS.append(Timing(f"  of which {name}", seconds, steps[name]["provider"]))
    assert steps["classify"]["status"] == "ok", steps["classify"]["error"]
    if not lead["low_confidence"]:
        assert steps["extract"]["status"] == "ok", steps["extract"]["error"]


def assert_no_invented_values(fields: dict, *inputs: str) -> None:
    evidence = grounding.InputEvidence.of(inputs)
    for field, value in fields.items():
        if value is not None:
            assert evidence.holds(field, value), f"{field}={value!r} is not in the input"


def test_health_names_the_live_model_and_its_structured_output_mode(
    live_api: Api, live_server: LiveServer
) -> None:
    llm = live_api.client.get("/health").json()["providers"]["llm"]

    assert llm["provider"] == "openai"
    assert llm["model"] == live_server.model
    assert llm["structured_output"] in {"json_schema", "json_object"}


def test_a1_sales_lead_gets_its_intent_and_only_the_values_it_states(live_api: Api) -> None:
    lead = create_lead(live_api, SALES_LEAD, "A1 lead (classify + extract), Sales")

    assert_lead_answered_by_the_model(live_api, lead)
    assert lead["intent"] == "Sales"
    assert_no_invented_values(lead["fields"], SALES_LEAD)
    assert lead["fields"]["phone"] == "+14155550134"  # by the model, else by the rules
    assert lead["fields"]["budget"] in (None, 50000)
    assert set(lead["field_sources"].values()) <= {"llm", "rules", None}


def test_a1_support_lead_gets_no_invented_budget_or_contact(live_api: Api) -> None:
    lead = create_lead(live_api, SUPPORT_LEAD, "A1 lead (classify + extract), Support")

    assert_lead_answered_by_the_model(live_api, lead)
    assert lead["intent"] == "Support"
    assert_no_invented_values(lead["fields"], SUPPORT_LEAD)
    assert (lead["fields"]["budget"], lead["fields"]["email"]) == (None, None)


def test_a1_partnership_lead_gets_its_intent(live_api: Api) -> None:
    lead = create_lead(live_api, PARTNERSHIP_LEAD, "A1 lead (classify + extract), Partnership")

    assert_lead_answered_by_the_model(live_api, lead)
    assert lead["intent"] == "Partnership"
    assert_no_invented_values(lead["fields"], PARTNERSHIP_LEAD)


@pytest.fixture(scope="module")
def handbook_company(live_api: Api) -> str:
    response = live_api.client.post(
        f"{RAG}/documents",
        data={"company_id": "live-initech"},
        files=[("files", ("handbook.md", HANDBOOK.encode()))],
    )
    assert response.status_code == 201, response.text
    return "live-initech"


def ask(api: Api, company: str, query: str, step: str) -> dict:
    with timed(step) as seen:
        response = api.client.post(f"{RAG}/chat", json={"query": query, "company_id": company})
        seen["provider"] = response.json().get("provider", "?")
    assert response.status_code == 200, response.text
    return response.json()


def test_a2_question_the_documents_answer_gets_a_cited_answer(
    live_api: Api, handbook_company: str
) -> None:
    body = ask(
        live_api,
        handbook_company,
        "How many days do customers have to ask for a refund?",
        "A2 chat, answerable question",
    )

    assert body["refused"] is False
    assert (body["provider"], body["fallback"]) == ("openai", False)
    assert "30" in body["answer"]
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", body["answer"])}
    assert cited, "the answer cites no source"
    assert cited <= set(range(1, len(body["sources"]) + 1))
    assert {source["source"] for source in body["sources"]} == {"handbook.md"}


def test_a2_off_topic_question_is_refused(live_api: Api, handbook_company: str) -> None:
    body = ask(live_api, handbook_company, "Who won the 1998 FIFA World Cup?", "A2 chat, off-topic")

    assert body["refused"] is True
    assert body["answer"] == REFUSAL
    assert body["sources"] == []


def run_agent(api: Api, headers: dict, agent: str, body: dict, step: str) -> dict:
    with timed(step) as seen:
        response = api.post(f"/agents/{agent}", headers=headers, json=body)
        seen["provider"] = response.json().get("provider", "?")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["provider"], answer["fallback"]) == ("openai", False), answer["fallback_reason"]
    return answer


def test_a3_qualifier_scores_a_strong_lead_above_a_weak_one(live_api: Api) -> None:
    tenant = live_api.create_tenant()
    strong = {
        "name": "Priya Natarajan",
        "company": "Northwind Logistics",
        "message": "I'm the CTO. We need to replace our lead routing this month and want a "
        "demo ASAP. Budget is $80k.",
    }
    weak = {"name": "Tom", "message": "Just browsing, no plans yet."}

    high = run_agent(live_api, tenant.headers, "qualify", {"lead": strong}, "A3 qualify, strong")
    low = run_agent(live_api, tenant.headers, "qualify", {"lead": weak}, "A3 qualify, weak")

    assert high["score"] > low["score"]
    for answer in (high, low):
        assert set(answer["criteria"]) == {"budget", "authority", "need", "timing"}
        assert len(answer["reasons"]) == 4


def test_a3_extractor_returns_only_values_the_text_states(live_api: Api) -> None:
    tenant = live_api.create_tenant()
    text = "Hi, I'm Jane Doe (jane.doe@example.com). Call me at +1 415 555 2671; budget is 25k."

    answer = run_agent(live_api, tenant.headers, "extract", {"text": text}, "A3 extract")

    assert_no_invented_values(answer["fields"], text)
    assert answer["fields"]["email"] == "jane.doe@example.com"
    assert answer["fields"]["phone"] == "+14155552671"


def test_a3_reply_agent_writes_a_reply(live_api: Api) -> None:
    tenant = live_api.create_tenant()
    thread = "Hello, do you integrate with Salesforce, and is there a free trial?\n\nBest, Marta"

    answer = run_agent(live_api, tenant.headers, "reply", {"thread": thread}, "A3 reply")

    assert len(answer["reply"].split()) >= 5
