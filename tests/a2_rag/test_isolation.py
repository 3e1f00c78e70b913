"""Tenant isolation: each company is answered from its own documents only."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from .helpers import API, ask, documents, upload


@pytest.mark.parametrize(
    ("question", "acme_fact", "globex_fact"),
    [
        ("How much does an extra seat cost?", "$12", "$15"),
        ("What discount do I get for paying annually?", "20%", "10%"),
    ],
)
def test_same_question_gets_each_companys_own_facts(
    sample_client: TestClient, question: str, acme_fact: str, globex_fact: str
) -> None:
    acme = ask(sample_client, question, company_id="acme-corp")
    globex = ask(sample_client, question, company_id="globex-inc")

    assert acme_fact in acme["answer"] and globex_fact not in acme["answer"]
    assert globex_fact in globex["answer"] and acme_fact not in globex["answer"]


def test_retrieved_chunks_always_belong_to_the_asking_company(sample_client: TestClient) -> None:
    globex_ids = {d["id"] for d in documents(sample_client, "globex-inc")}
    acme_ids = {d["id"] for d in documents(sample_client, "acme-corp")}

    for question in ["What is the annual billing discount?", "Where is the headquarters?"]:
        acme = ask(sample_client, question, company_id="acme-corp")
        globex = ask(sample_client, question, company_id="globex-inc")
        assert {s["document_id"] for s in acme["sources"]} <= acme_ids
        assert {s["document_id"] for s in globex["sources"]} <= globex_ids


def test_a_companys_upload_is_invisible_to_other_companies(sample_client: TestClient) -> None:
    upload(
        sample_client,
        "globex-inc",
        {"moon.md": "# Globex Moon Base\n\nGlobex runs a research base on the Moon called Selene."},
    )

    acme = ask(sample_client, "What is the name of the research base on the Moon?")

    assert "Selene" not in acme["answer"]
    assert "moon.md" not in {s["source"] for s in acme["sources"]}


def test_session_cannot_be_continued_for_another_company(sample_client: TestClient) -> None:
    session_id = ask(sample_client, "Who is the CEO of Acme?", company_id="acme-corp")["session_id"]

    response = sample_client.post(
        f"{API}/chat",
        json={"query": "And the CEO here?", "company_id": "globex-inc", "session_id": session_id},
    )

    assert response.status_code == 404
    history = sample_client.get(f"{API}/sessions/{session_id}/messages").json()
    assert history["company_id"] == "acme-corp" and history["count"] == 2


def test_session_history_is_not_readable_as_another_company(sample_client: TestClient) -> None:
    session_id = ask(sample_client, "Who is the CEO of Acme?")["session_id"]

    response = sample_client.get(
        f"{API}/sessions/{session_id}/messages", params={"company_id": "globex-inc"}
    )

    assert response.status_code == 404


def test_document_cannot_be_deleted_through_another_company(sample_client: TestClient) -> None:
    [pricing] = [d for d in documents(sample_client, "acme-corp") if d["source"] == "pricing.md"]

    response = sample_client.delete(
        f"{API}/documents/{pricing['id']}", params={"company_id": "globex-inc"}
    )

    assert response.status_code == 404
    assert pricing["id"] in {d["id"] for d in documents(sample_client, "acme-corp")}


def test_unknown_company_is_404_everywhere(sample_client: TestClient) -> None:
    assert (
        sample_client.post(
            f"{API}/chat", params={"query": "hi", "company_id": "umbrella"}
        ).status_code
        == 404
    )
    assert (
        sample_client.get(f"{API}/documents", params={"company_id": "umbrella"}).status_code == 404
    )
    stream = sample_client.post(
        f"{API}/chat/stream", json={"query": "hi", "company_id": "umbrella"}
    )
    assert stream.status_code == 404
