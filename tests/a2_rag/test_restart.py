"""The index and the chat history survive an app restart; sample data loads once."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from core.config import Settings

from .helpers import API, ask, documents, upload

ingest = importlib.import_module("assessments.02_rag_chatbot.ingest")


def test_uploaded_documents_and_history_survive_a_restart(store_settings: Settings) -> None:
    settings = store_settings
    with TestClient(create_app(settings)) as client:
        uploaded = upload(
            client,
            "initech",
            {"vacation.md": "# Vacation\n\nEvery Initech employee gets 27 days of paid vacation."},
        )
        session_id = ask(
            client, "How much paid vacation do Initech employees get?", company_id="initech"
        )["session_id"]

    with TestClient(create_app(settings)) as client:
        assert [d["id"] for d in documents(client, "initech")] == [uploaded["data"][0]["id"]]
        answer = ask(
            client, "How much paid vacation do Initech employees get?", company_id="initech"
        )
        history = client.get(f"{API}/sessions/{session_id}/messages").json()

    assert "27 days" in answer["answer"]
    assert history["count"] == 2


def test_sample_data_is_not_ingested_again_on_restart(
    sample_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Re-ingesting unchanged files would leave the rows as they were (same content hash),
    # so the folders that start-up reads are recorded too: none, once the index exists.
    ingested: list[str] = []
    real = ingest.ingest_paths

    async def recording(paths: Any, **kwargs: Any) -> Any:
        ingested.append(kwargs["company_id"])
        return await real(paths, **kwargs)

    monkeypatch.setattr(ingest, "ingest_paths", recording)
    with TestClient(create_app(sample_settings)) as client:
        before = {d["id"]: d["updated_at"] for d in documents(client, "acme-corp")}
        chunks = client.app.state.vector_store.count("acme-corp")

    with TestClient(create_app(sample_settings)) as client:
        after = {d["id"]: d["updated_at"] for d in documents(client, "acme-corp")}
        assert client.app.state.vector_store.count("acme-corp") == chunks

    assert after == before
    assert ingested == []


def test_start_up_loads_every_sample_company(sample_client: TestClient) -> None:
    companies = {c["id"]: c for c in sample_client.get(f"{API}/companies").json()["data"]}

    assert companies["acme-corp"]["name"] == "Acme Corp"
    assert companies["acme-corp"]["documents"] >= 7
    assert companies["globex-inc"]["documents"] >= 3
    assert "about_company.txt" in {d["source"] for d in documents(sample_client, "acme-corp")}
