"""Helpers for the RAG chatbot tests: API calls, sample data copies, PDFs that pypdf cannot
read. Plain PDFs and the SSE parser are the contract suite's (`tests.contract.helpers`)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from pypdf import PdfReader, PdfWriter

from core.config import Settings
from tests.contract.helpers import make_pdf
from tests.contract.helpers import sse_events as contract_sse_events
from tests.support import make_settings

API = "/api/02-rag"
REFUSAL = "I don't have enough information in the provided documents to answer that question."


def copy_sample_data(sample_data: Path, target: Path, **overrides: object) -> Settings:
    shutil.copytree(sample_data, target)
    return make_settings(target, LOAD_SAMPLE_DATA=True, **overrides)


def ask(client: TestClient, query: str, **fields: Any) -> dict:
    response = client.post(f"{API}/chat", json={"query": query, **fields})
    assert response.status_code == 200, response.text
    return response.json()


def upload(
    client: TestClient, company_id: str, files: dict[str, bytes | str], *, expect: int = 201
) -> dict:
    parts = [
        ("files", (name, content.encode() if isinstance(content, str) else content))
        for name, content in files.items()
    ]
    response = client.post(f"{API}/documents", data={"company_id": company_id}, files=parts)
    assert response.status_code == expect, response.text
    return response.json()


def documents(client: TestClient, company_id: str) -> list[dict]:
    response = client.get(f"{API}/documents", params={"company_id": company_id})
    assert response.status_code == 200, response.text
    return response.json()["data"]


def stream_chat(client: TestClient, **body: object) -> tuple[dict[str, str], list[tuple[str, Any]]]:
    """`POST /chat/stream` with a JSON body: the response headers and its (event, data) pairs."""
    with client.stream("POST", f"{API}/chat/stream", json=body) as response:
        assert response.status_code == 200, response.read()
        response.read()
        return dict(response.headers), sse_events(response)


def sse_events(response: httpx.Response) -> list[tuple[str, Any]]:
    """(event, JSON data) pairs of a read Server-Sent Events response."""
    return [(event, json.loads(data)) for event, data in contract_sse_events(response)]


def encrypted_pdf(text: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(text))))
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def image_only_pdf() -> bytes:
    """A page with nothing to extract, as a scan without OCR would be."""
    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
