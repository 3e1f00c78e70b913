"""Uploading, listing, replacing and deleting a company's documents (SPEC §4.2)."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from core.embedding_client import LocalEmbeddingClient
from core.exceptions import LLMException
from tests.contract.helpers import make_pdf

from .helpers import (
    API,
    REFUSAL,
    ask,
    documents,
    encrypted_pdf,
    image_only_pdf,
    upload,
)

HANDBOOK = (
    "# Initech Employee Handbook: vacation\n\n"
    "Every Initech employee gets 27 days of paid vacation per year. "
    "Vacation days must be booked in the HR portal at least two weeks in advance.\n"
)
VACATION_QUESTION = "How much paid vacation do Initech employees get?"


def test_upload_returns_id_source_and_chunks_per_document(client: TestClient) -> None:
    body = upload(
        client, "initech", {"handbook.md": HANDBOOK, "notes.txt": "Parking is free on level 2."}
    )

    assert body["count"] == 2
    for item in body["data"]:
        assert set(item) >= {"id", "source", "chunks"}
        assert item["chunks"] >= 1
        assert item["status"] == "created"
    assert [item["source"] for item in body["data"]] == ["handbook.md", "notes.txt"]


def test_uploaded_document_answers_questions_for_its_company(client: TestClient) -> None:
    upload(client, "initech", {"handbook.md": HANDBOOK})

    answer = ask(client, VACATION_QUESTION, company_id="initech")

    assert not answer["refused"]
    assert "27 days" in answer["answer"]
    assert answer["sources"][0]["source"] == "handbook.md"


def test_upload_to_a_new_company_creates_it(client: TestClient) -> None:
    upload(client, "initech", {"handbook.md": HANDBOOK})

    companies = client.get(f"{API}/companies").json()["data"]

    assert {"id": "initech", "name": "Initech", "documents": 1} in companies


def test_invalid_company_slug_is_422_and_creates_nothing(client: TestClient) -> None:
    response = client.post(
        f"{API}/documents",
        data={"company_id": "../Evil Corp"},
        files=[("files", ("a.txt", b"Some text here."))],
    )

    assert response.status_code == 422
    assert client.get(f"{API}/companies").json()["count"] == 0


def test_list_documents_shows_chunks_bytes_and_hash(client: TestClient) -> None:
    upload(client, "initech", {"handbook.md": HANDBOOK})

    [document] = documents(client, "initech")

    assert document["source"] == "handbook.md"
    assert document["bytes"] == len(HANDBOOK.encode())
    assert len(document["content_hash"]) == 64
    assert document["company_id"] == "initech"


def test_reupload_with_new_content_replaces_chunks_without_duplicates(client: TestClient) -> None:
    first = upload(client, "initech", {"handbook.md": HANDBOOK})["data"][0]
    changed = HANDBOOK.replace("27 days", "31 days")

    second = upload(client, "initech", {"handbook.md": changed})["data"][0]

    assert second["id"] == first["id"]
    assert second["status"] == "replaced"
    assert len(documents(client, "initech")) == 1
    assert client.app.state.vector_store.count("initech") == second["chunks"]
    answer = ask(client, VACATION_QUESTION, company_id="initech")
    assert "31 days" in answer["answer"]
    assert "27 days" not in answer["answer"]


def test_reupload_of_unchanged_content_is_not_embedded_again(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload(client, "initech", {"handbook.md": HANDBOOK})
    calls = []
    original = LocalEmbeddingClient.embed_documents

    async def counting(self, texts, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(len(texts))
        return await original(self, texts, **kwargs)

    monkeypatch.setattr(LocalEmbeddingClient, "embed_documents", counting)

    body = upload(client, "initech", {"handbook.md": HANDBOOK})

    assert body["data"][0]["status"] == "unchanged"
    assert calls == []


def test_delete_removes_the_document_and_its_vectors(client: TestClient) -> None:
    doc = upload(
        client, "initech", {"handbook.md": HANDBOOK, "notes.txt": "Parking is free on level 2."}
    )
    handbook = doc["data"][0]

    response = client.delete(f"{API}/documents/{handbook['id']}")

    assert response.status_code == 200
    assert response.json()["chunks_removed"] == handbook["chunks"]
    assert [d["source"] for d in documents(client, "initech")] == ["notes.txt"]
    assert client.app.state.vector_store.count("initech") == doc["data"][1]["chunks"]
    answer = ask(client, VACATION_QUESTION, company_id="initech")
    assert "27" not in answer["answer"]


def test_delete_unknown_document_is_404(client: TestClient) -> None:
    response = client.delete(f"{API}/documents/does-not-exist")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_uploads_are_kept_under_the_company_folder_with_safe_names(client: TestClient) -> None:
    body = upload(client, "initech", {"../../etc/My Handbook (v2).md": HANDBOOK})

    source = body["data"][0]["source"]
    stored = client.app.state.settings.upload_dir / "initech" / source
    assert source == "My_Handbook_v2.md"
    assert stored.read_text() == HANDBOOK


def test_pdf_text_is_ingested(client: TestClient) -> None:
    pdf = make_pdf("Initech badge policy. Visitors must wear a red badge at all times.")

    upload(client, "initech", {"badges.pdf": pdf})

    answer = ask(client, "What colour badge do visitors wear?", company_id="initech")
    assert "red badge" in answer["answer"]


@pytest.mark.parametrize(
    ("name", "content", "status", "code"),
    [
        ("empty.txt", b"", 422, "empty_document"),
        ("blank.md", b"   \n\n  ", 422, "empty_document"),
        ("encrypted.pdf", encrypted_pdf("Secret text here."), 422, "encrypted_pdf"),
        ("corrupt.pdf", b"%PDF-1.4\nthis is not really a pdf", 422, "corrupt_pdf"),
        ("scan.pdf", image_only_pdf(), 422, "no_text"),
        ("binary.txt", b"\x00\x01\x02 binary", 422, "unreadable_text"),
        ("latin1.txt", "café crème".encode("latin-1"), 422, "unreadable_text"),
        ("slides.pptx", b"PK\x03\x04 not supported", 415, "unsupported_media_type"),
        ("noextension", b"plain words", 415, "unsupported_media_type"),
    ],
)
def test_bad_files_get_a_clear_4xx(
    client: TestClient, name: str, content: bytes, status: int, code: str
) -> None:
    response = client.post(
        f"{API}/documents", data={"company_id": "initech"}, files=[("files", (name, content))]
    )

    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert name.split(".")[0] in error["message"]


def test_file_over_the_size_limit_is_413(tmp_path) -> None:
    from backend.main import create_app
    from tests.support import make_settings

    with TestClient(create_app(make_settings(tmp_path, MAX_UPLOAD_BYTES=1000))) as small:
        response = small.post(
            f"{API}/documents",
            data={"company_id": "initech"},
            files=[("files", ("big.txt", b"word " * 400))],
        )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_one_bad_file_fails_the_whole_upload_and_stores_nothing(client: TestClient) -> None:
    response = client.post(
        f"{API}/documents",
        data={"company_id": "initech"},
        files=[("files", ("good.md", HANDBOOK.encode())), ("files", ("bad.pdf", b"garbage"))],
    )

    assert response.status_code == 422
    assert client.get(f"{API}/companies").json()["count"] == 0
    assert client.app.state.vector_store.count("initech") == 0


def upload_with_embedding_down(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, source: str, text: str
) -> httpx.Response:
    """One file uploaded to initech while the embedding model fails."""

    async def failing(self, texts, **kwargs):  # type: ignore[no-untyped-def]
        raise LLMException("embedding service down")

    with monkeypatch.context() as patched:
        patched.setattr(LocalEmbeddingClient, "embed_documents", failing)
        return client.post(
            f"{API}/documents",
            data={"company_id": "initech"},
            files=[("files", (source, text.encode()))],
        )


def test_failed_embedding_leaves_the_index_as_it_was(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload(client, "initech", {"handbook.md": HANDBOOK})

    response = upload_with_embedding_down(
        client, monkeypatch, "handbook.md", HANDBOOK.replace("27 days", "35 days")
    )

    assert response.status_code == 502
    [document] = documents(client, "initech")
    assert client.app.state.vector_store.count("initech") == document["chunks"]
    answer = ask(client, VACATION_QUESTION, company_id="initech")
    assert "27 days" in answer["answer"]


def test_a_new_document_whose_chunks_fail_to_store_leaves_no_row(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload(client, "initech", {"handbook.md": HANDBOOK})

    response = upload_with_embedding_down(
        client, monkeypatch, "pricing.md", "# Pricing\n\nThe Pro plan costs 49 USD a month."
    )

    assert response.status_code == 502
    # The row written before its chunks (so no chunk is ever without one) went again.
    assert [d["source"] for d in documents(client, "initech")] == ["handbook.md"]
    retried = upload(client, "initech", {"pricing.md": "# Pricing\n\nThe Pro plan costs 49 USD."})
    assert [d["status"] for d in retried["data"]] == ["created"]


def test_list_documents_of_unknown_company_is_404(client: TestClient) -> None:
    response = client.get(f"{API}/documents", params={"company_id": "nobody"})

    assert response.status_code == 404


def test_sample_documents_are_listed_for_acme(sample_client: TestClient) -> None:
    sources = {d["source"]: d for d in documents(sample_client, "acme-corp")}

    assert "about_company.txt" in sources
    assert sources["security_whitepaper.pdf"]["chunks"] >= 1
    assert len(sources) == 9


def test_refusal_after_all_documents_are_deleted(client: TestClient) -> None:
    body = upload(client, "initech", {"handbook.md": HANDBOOK})
    client.delete(f"{API}/documents/{body['data'][0]['id']}")

    answer = ask(client, VACATION_QUESTION, company_id="initech")

    assert answer["answer"] == REFUSAL
    assert answer["refused"] is True
