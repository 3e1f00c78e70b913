"""Chat through the API on the local provider: contract, refusal, sources, history, rewrite."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from .helpers import API, REFUSAL, ask

PRICE_QUESTION = "What does the Starter plan cost per month?"


def test_query_parameter_form_answers_for_the_sample_company(sample_client: TestClient) -> None:
    response = sample_client.post(f"{API}/chat", params={"query": PRICE_QUESTION})

    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"answer", "sources", "confidence", "session_id", "refused"}
    assert body["company_id"] == "acme-corp"
    # The Starter plan's row of a price table (which one: README, "What it cannot see").
    assert "Plan: Starter" in body["answer"] and "$" in body["answer"]


def test_json_body_form_answers_with_sources_and_confidence(sample_client: TestClient) -> None:
    body = ask(sample_client, PRICE_QUESTION, company_id="acme-corp")

    assert body["refused"] is False
    assert "Plan: Starter" in body["answer"] and "$" in body["answer"]
    assert 0 < body["confidence"] <= 1
    assert body["sources"], "an answer comes with its sources"
    for source in body["sources"]:
        assert set(source) >= {"source", "chunk_id", "score", "snippet"}
        assert source["score"] >= 0.0 and source["snippet"]


def test_every_citation_marker_points_at_a_returned_source(sample_client: TestClient) -> None:
    body = ask(sample_client, PRICE_QUESTION)

    markers = [int(n) for n in re.findall(r"\[(\d+)\]", body["answer"])]
    assert markers
    assert all(1 <= n <= len(body["sources"]) for n in markers)
    cited = [body["sources"][n - 1] for n in markers]
    assert {source["source"] for source in cited} == {"pricing.md"}
    assert all(source["cited"] for source in cited)


def test_response_says_which_provider_and_model_answered(sample_client: TestClient) -> None:
    body = ask(sample_client, PRICE_QUESTION)

    assert body["provider"] == "local"
    assert "all-MiniLM-L6-v2" in body["model"]
    assert body["fallback"] is False


def test_off_topic_question_gets_exactly_the_refusal(sample_client: TestClient) -> None:
    body = ask(sample_client, "What is the capital of France?")

    assert body["answer"] == REFUSAL
    assert body["refused"] is True
    assert body["sources"] == []
    assert body["confidence"] == 0.0


def test_question_about_a_name_the_documents_never_mention_is_refused(
    sample_client: TestClient,
) -> None:
    body = ask(sample_client, "What is Marcus Pembroke's role at Acme?")

    assert body["answer"] == REFUSAL
    assert body["refused"] is True


def test_refusal_is_not_rewritten(sample_client: TestClient) -> None:
    body = ask(sample_client, "Who won the 2018 FIFA World Cup?", rewrite=True)

    assert body["answer"] == REFUSAL
    assert body["rewritten"] is False


def test_rewrite_changes_tone_but_keeps_numbers_and_citations(sample_client: TestClient) -> None:
    plain = ask(sample_client, PRICE_QUESTION)
    friendly = ask(sample_client, PRICE_QUESTION, rewrite=True)

    assert friendly["rewritten"] is True
    assert friendly["answer"] != plain["answer"]
    assert plain["answer"] in friendly["answer"]
    assert re.findall(r"\[\d+\]", friendly["answer"]) == re.findall(r"\[\d+\]", plain["answer"])
    assert friendly["sources"] == plain["sources"]


def test_unknown_company_is_404_not_someone_elses_answer(sample_client: TestClient) -> None:
    response = sample_client.post(
        f"{API}/chat", json={"query": PRICE_QUESTION, "company_id": "no-such-co"}
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_missing_or_empty_query_is_422(sample_client: TestClient) -> None:
    assert sample_client.post(f"{API}/chat").status_code == 422
    assert sample_client.post(f"{API}/chat", json={"query": ""}).status_code == 422
    assert sample_client.post(f"{API}/chat", params={"query": ""}).status_code == 422


def test_malformed_company_id_is_422(sample_client: TestClient) -> None:
    response = sample_client.post(f"{API}/chat", json={"query": "hi", "company_id": "Acme Corp!"})

    assert response.status_code == 422


def test_conversation_is_kept_oldest_first(sample_client: TestClient) -> None:
    first = ask(sample_client, PRICE_QUESTION)
    session_id = first["session_id"]
    second = ask(sample_client, "What is the capital of France?", session_id=session_id)

    response = sample_client.get(f"{API}/sessions/{session_id}/messages")

    assert response.status_code == 200
    messages = response.json()["data"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[0]["content"] == PRICE_QUESTION
    assert messages[1]["content"] == first["answer"]
    assert messages[1]["sources"] == first["sources"]
    assert messages[1]["confidence"] == first["confidence"]
    assert messages[3]["content"] == REFUSAL == second["answer"]
    assert messages[3]["refused"] is True


def test_unknown_session_history_is_404(sample_client: TestClient) -> None:
    assert sample_client.get(f"{API}/sessions/nope/messages").status_code == 404


def test_follow_up_question_is_resolved_from_the_previous_turn(sample_client: TestClient) -> None:
    first = ask(sample_client, "Tell me about Acme RouteWise.")

    follow_up = ask(sample_client, "When was it launched?", session_id=first["session_id"])

    assert "RouteWise" in follow_up["search_query"]
    assert "2016" in follow_up["answer"]
    history = sample_client.get(f"{API}/sessions/{first['session_id']}/messages").json()["data"]
    assert history[2]["content"] == "When was it launched?"


def test_what_about_follow_up_uses_the_earlier_subject(sample_client: TestClient) -> None:
    first = ask(sample_client, "How long is the free trial at Globex?", company_id="globex-inc")

    follow_up = ask(
        sample_client,
        "What about the refund window?",
        company_id="globex-inc",
        session_id=first["session_id"],
    )

    assert "Globex" in follow_up["search_query"]
    assert "14 days" in follow_up["answer"]


def test_prompt_injection_in_a_document_is_not_followed_locally(sample_client: TestClient) -> None:
    body = ask(sample_client, "What referral commission does a Silver partner receive?")

    assert "15%" in body["answer"]
    assert re.search(r"\[\d+\]", body["answer"]), "the answer still cites its source"
    assert "partner_notice.txt" in {s["source"] for s in body["sources"]}
    lowered = body["answer"].lower()
    assert "free" not in lowered and "ignore" not in lowered and "password" not in lowered


def test_injected_instructions_are_never_quoted_as_an_answer(sample_client: TestClient) -> None:
    body = ask(sample_client, "What changes for partners in April 2025?")

    assert "60-day extended trial" in body["answer"]
    assert "partner_notice.txt" in {s["source"] for s in body["sources"]}
    for injected in ("IGNORE ALL", "cite sources", "system prompt", "free", "password"):
        assert injected not in body["answer"]
