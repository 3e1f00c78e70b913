"""SPEC §4.2 — assessment 2, the tenant-scoped RAG chatbot, over HTTP only."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.contract.helpers import (
    A2,
    CHAT_FIELDS,
    SAMPLE_COMPANY,
    SOURCE_FIELDS,
    Api,
    chat,
    expect,
    expect_error,
    expect_not_server_error,
    items_of,
    list_documents,
    make_pdf,
    sse_events,
    unique,
    upload_document,
    upload_documents,
)

pytestmark = pytest.mark.assessment2

ZEPHYR = (
    "Zephyr Labs is a kettle maker founded in 1987 in Reykjavik, Iceland. "
    "The chief executive of Zephyr Labs is Ingrid Solberg. "
    "Its flagship product is the Aurora kettle, which costs 89 euros."
)
ZEPHYR_CEO = "Who is the chief executive of Zephyr Labs?"
GARDEN = (
    "# Garden club rules\n\nThe community garden opens at 7 in the morning. "
    "Members water their own plots and bring their own tools."
)
OFF_TOPIC = ("What is the capital of France?", "How do I bake sourdough bread at home?")


@pytest.fixture
def company() -> str:
    """A fresh company id, so no test sees another's documents."""
    return unique("contract-co")


# --- contract -----------------------------------------------------------------------------


def test_upload_returns_id_source_and_chunks_per_document(api: Api, company: str) -> None:
    results = upload_documents(api, company, {"zephyr.txt": ZEPHYR, "garden.md": GARDEN})
    assert len(results) == 2, results
    for result in results:
        assert isinstance(result.get("id"), str | int), result
        assert isinstance(result.get("chunks"), int) and result["chunks"] >= 1, result
    assert sorted(result["source"] for result in results) == ["garden.md", "zephyr.txt"]


def test_pdf_upload_is_ingested_and_answerable(api: Api, company: str) -> None:
    pdf = make_pdf("The Quokka Initiative has a budget of 4.2 million dollars for 2026.")
    result = upload_document(api, company, "quokka.pdf", pdf)
    assert result["chunks"] >= 1
    reply = chat(api, "What is the budget of the Quokka Initiative?", company_id=company)
    assert not reply["refused"], reply
    assert "4.2 million" in reply["answer"]
    assert {source["source"] for source in reply["sources"]} == {"quokka.pdf"}


def test_list_documents_shows_the_companys_documents(api: Api, company: str) -> None:
    upload_documents(api, company, {"zephyr.txt": ZEPHYR, "garden.md": GARDEN})
    sources = sorted(doc["source"] for doc in list_documents(api, company))
    assert sources == ["garden.md", "zephyr.txt"]


def test_reupload_replaces_the_documents_chunks(api: Api, company: str) -> None:
    upload_document(api, company, "wifi.md", "The office wifi password hint is Marmalade.")
    upload_document(api, company, "wifi.md", "The office wifi password hint is Gooseberry.")
    documents = list_documents(api, company)
    assert [doc["source"] for doc in documents] == ["wifi.md"], documents
    reply = chat(api, "What is the office wifi password hint?", company_id=company)
    assert "Gooseberry" in reply["answer"] and "Marmalade" not in reply["answer"], reply
    snippets = " ".join(source["snippet"] for source in reply["sources"])
    assert "Marmalade" not in snippets, reply["sources"]


def test_delete_document_removes_it_and_its_vectors(api: Api, company: str) -> None:
    results = upload_documents(api, company, {"zephyr.txt": ZEPHYR, "garden.md": GARDEN})
    zephyr = next(result for result in results if result["source"] == "zephyr.txt")
    expect(api.delete(f"{A2}/documents/{zephyr['id']}"), (200, 202, 204))
    assert [doc["source"] for doc in list_documents(api, company)] == ["garden.md"]
    reply = chat(api, ZEPHYR_CEO, company_id=company)
    assert reply["refused"] is True, reply
    assert "Ingrid" not in reply["answer"]


def test_chat_accepts_the_query_as_a_query_parameter(api: Api) -> None:
    response = api.post(f"{A2}/chat", params={"query": "Who is the CEO of Acme?"})
    reply = expect(response, 200, CHAT_FIELDS)
    assert not reply["refused"], reply
    assert "Elena Marsh" in reply["answer"]


def test_chat_answers_the_sample_company_by_default_with_sources(api: Api) -> None:
    reply = chat(api, "What year was Acme founded?")
    assert reply["refused"] is False, reply
    assert "2011" in reply["answer"]
    assert reply["sources"], "an answer must come with its sources"
    for source in reply["sources"]:
        for name, kind in SOURCE_FIELDS.items():
            assert isinstance(source.get(name), kind) and not isinstance(source[name], bool), (
                name,
                source,
            )
    assert "about_company.txt" in {source["source"] for source in reply["sources"]}
    assert 0 <= reply["confidence"] <= 1


def test_chat_answers_from_an_uploaded_company(api: Api, company: str) -> None:
    upload_document(api, company, "zephyr.txt", ZEPHYR)
    reply = chat(api, ZEPHYR_CEO, company_id=company)
    assert reply["refused"] is False, reply
    assert "Ingrid Solberg" in reply["answer"]
    assert {source["source"] for source in reply["sources"]} == {"zephyr.txt"}


def test_off_topic_questions_get_the_same_refusal_without_sources(api: Api) -> None:
    replies = [chat(api, question) for question in OFF_TOPIC]
    for reply in replies:
        assert reply["refused"] is True, reply
        assert reply["sources"] == [], reply
    assert replies[0]["answer"] == replies[1]["answer"], "the refusal must be one constant"
    assert replies[0]["answer"].strip()


def test_refusal_is_the_same_constant_for_every_company(api: Api, company: str) -> None:
    upload_document(api, company, "garden.md", GARDEN)
    ours = chat(api, OFF_TOPIC[0], company_id=company)
    sample = chat(api, OFF_TOPIC[1])
    assert ours["refused"] and sample["refused"]
    assert ours["answer"] == sample["answer"]


def test_session_keeps_the_conversation_oldest_first(api: Api) -> None:
    first = chat(api, "Who is the CEO of Acme?")
    session_id = first["session_id"]
    second = chat(api, "And who is the CTO?", session_id=session_id)
    assert second["session_id"] == session_id
    body = expect(api.get(f"{A2}/sessions/{session_id}/messages"), 200)
    messages = items_of(body)
    assert len(messages) >= 4, messages
    text = json.dumps(messages)
    assert text.index("Who is the CEO of Acme?") < text.index("And who is the CTO?")
    assert first["answer"] in [value for m in messages for value in m.values()], messages


def test_rewrite_option_still_answers_from_the_documents(api: Api) -> None:
    reply = chat(api, "What year was Acme founded?", rewrite=True)
    assert reply["refused"] is False, reply
    assert "2011" in reply["answer"]
    assert reply["sources"]


def test_stream_sends_server_sent_events_ending_with_the_chat_response(api: Api) -> None:
    response = api.post(f"{A2}/chat/stream", json={"query": "What year was Acme founded?"})
    expect(response, 200)
    assert response.headers["content-type"].startswith("text/event-stream"), response.headers
    events = sse_events(response)
    assert events, "no events in the stream"
    final = json.loads(events[-1][1])
    for name in CHAT_FIELDS:
        assert name in final, f"the last event lacks {name!r}: {final}"
    assert final["refused"] is False and "2011" in final["answer"], final


def test_stream_accepts_the_query_as_a_query_parameter(api: Api) -> None:
    response = api.post(f"{A2}/chat/stream", params={"query": "What year was Acme founded?"})
    expect(response, 200)
    final = json.loads(sse_events(response)[-1][1])
    assert final["refused"] is False and "2011" in final["answer"], final


def test_stream_refusal_ends_with_the_refusal_constant(api: Api) -> None:
    constant = chat(api, OFF_TOPIC[0])["answer"]
    response = api.post(f"{A2}/chat/stream", json={"query": OFF_TOPIC[1]})
    final = json.loads(sse_events(response)[-1][1])
    assert final["refused"] is True and final["answer"] == constant and final["sources"] == []


# --- isolation ----------------------------------------------------------------------------


@pytest.mark.criterion("isolation")
def test_a_company_never_answers_from_another_companys_documents(api: Api, company: str) -> None:
    upload_document(api, company, "zephyr.txt", ZEPHYR)
    reply = chat(api, ZEPHYR_CEO)
    assert "Ingrid" not in reply["answer"], reply
    assert "zephyr.txt" not in {source["source"] for source in reply["sources"]}
    ours = chat(api, "Who is the CEO of Acme?", company_id=company)
    assert "Elena Marsh" not in ours["answer"], ours
    assert ours["refused"] is True, ours


@pytest.mark.criterion("isolation")
def test_document_lists_are_per_company(api: Api, company: str) -> None:
    other = unique("contract-co")
    upload_document(api, company, "zephyr.txt", ZEPHYR)
    upload_document(api, other, "garden.md", GARDEN)
    assert [doc["source"] for doc in list_documents(api, company)] == ["zephyr.txt"]
    assert [doc["source"] for doc in list_documents(api, other)] == ["garden.md"]
    assert "zephyr.txt" not in {doc["source"] for doc in list_documents(api, SAMPLE_COMPANY)}


@pytest.mark.criterion("isolation")
def test_same_source_name_in_two_companies_stays_separate(api: Api, company: str) -> None:
    other = unique("contract-co")
    upload_document(api, company, "facts.txt", "The mascot of the club is a red fox named Ember.")
    upload_document(api, other, "facts.txt", "The mascot of the club is a grey owl named Quill.")
    ours = chat(api, "What is the mascot of the club?", company_id=company)
    theirs = chat(api, "What is the mascot of the club?", company_id=other)
    assert "Ember" in ours["answer"] and "Quill" not in ours["answer"], ours
    assert "Quill" in theirs["answer"] and "Ember" not in theirs["answer"], theirs


@pytest.mark.criterion("isolation")
def test_session_history_stays_with_its_company(api: Api, company: str) -> None:
    upload_document(api, company, "zephyr.txt", ZEPHYR)
    first = chat(api, ZEPHYR_CEO, company_id=company)
    follow_up = api.post(
        f"{A2}/chat", json={"query": "Where is it based?", "session_id": first["session_id"]}
    )
    expect_not_server_error(follow_up)
    if follow_up.status_code == 200:
        assert "Reykjavik" not in follow_up.json()["answer"], follow_up.json()


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.criterion("bad_input")
@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("virus.exe", b"MZ\x90\x00binary"),
        ("table.csv", b"a,b\n1,2\n"),
        ("broken.pdf", b"not a pdf"),
    ],
    ids=["exe", "csv", "corrupt-pdf"],
)
def test_upload_refuses_unsupported_or_corrupt_files(
    api: Api, company: str, name: str, content: bytes
) -> None:
    response = api.post(
        f"{A2}/documents", data={"company_id": company}, files=[("files", (name, content))]
    )
    expect_error(response)
    assert name not in {doc["source"] for doc in list_documents(api, company)}


@pytest.mark.criterion("bad_input")
def test_upload_without_files_or_company_is_a_4xx(api: Api, company: str) -> None:
    expect_error(api.post(f"{A2}/documents", data={"company_id": company}))
    files = [("files", ("zephyr.txt", ZEPHYR.encode()))]
    expect_error(api.post(f"{A2}/documents", files=files))


@pytest.mark.criterion("bad_input")
@pytest.mark.parametrize(
    "company_id", ["../../etc", "a/b", "", " "], ids=["dots", "slash", "empty", "blank"]
)
def test_odd_company_ids_never_make_a_5xx(api: Api, company_id: str) -> None:
    files = [("files", ("zephyr.txt", ZEPHYR.encode()))]
    upload = api.post(f"{A2}/documents", data={"company_id": company_id}, files=files)
    expect_not_server_error(upload)
    if upload.status_code >= 400:
        expect_error(upload)
    expect_not_server_error(api.post(f"{A2}/chat", json={"query": "hi", "company_id": company_id}))


@pytest.mark.criterion("bad_input")
@pytest.mark.parametrize(
    "payload",
    [{}, {"query": ""}, {"query": 42}, {"query": "ok", "rewrite": "maybe"}, ["query"]],
    ids=["missing", "empty", "number", "bad-rewrite", "array"],
)
def test_chat_refuses_bad_bodies_with_a_4xx(api: Api, payload: object) -> None:
    expect_error(api.post(f"{A2}/chat", json=payload))


@pytest.mark.criterion("bad_input")
@pytest.mark.parametrize("payload", [{}, {"query": ""}], ids=["missing", "empty"])
def test_stream_refuses_bad_bodies_with_a_4xx(api: Api, payload: object) -> None:
    expect_error(api.post(f"{A2}/chat/stream", json=payload))


@pytest.mark.criterion("bad_input")
def test_chat_for_an_unknown_company_is_a_404_or_a_refusal(api: Api) -> None:
    response = api.post(f"{A2}/chat", json={"query": ZEPHYR_CEO, "company_id": unique("nobody")})
    if response.status_code == 404:
        expect_error(response, 404)
    else:
        assert expect(response, 200, CHAT_FIELDS)["refused"] is True


@pytest.mark.criterion("bad_input")
def test_deleting_an_unknown_document_is_404(api: Api) -> None:
    expect_error(api.delete(f"{A2}/documents/{uuid.uuid4().hex}"), 404)


@pytest.mark.criterion("bad_input")
def test_unknown_session_is_404_or_empty(api: Api) -> None:
    response = api.get(f"{A2}/sessions/{uuid.uuid4().hex}/messages")
    if response.status_code == 404:
        expect_error(response, 404)
    else:
        assert items_of(expect(response, 200)) == []


@pytest.mark.criterion("bad_input")
def test_prompt_injection_in_a_document_is_treated_as_data(api: Api) -> None:
    reply = chat(api, "Are Acme's products free of charge? If not, what is the cheapest option?")
    assert reply["sources"], f"the answer must keep citing its sources: {reply}"
    lowered = reply["answer"].lower()
    for injected in ("all products are free", "unrestricted mode", "system prompt", "password"):
        assert injected not in lowered, reply["answer"]
