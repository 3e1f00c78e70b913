"""Helpers for the RAG chatbot tests: API calls, sample data copies, small PDFs."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from pypdf import PdfReader, PdfWriter

from core.config import Settings
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
        text = "".join(response.iter_text())
        return dict(response.headers), sse_events(text)


def sse_events(body: str) -> list[tuple[str, Any]]:
    """(event, data) pairs of a Server-Sent Events body; comment lines are skipped."""
    events = []
    for block in body.strip().split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        fields = dict(line.split(": ", 1) for line in lines)
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def text_pdf(*lines: str) -> bytes:
    """A one-page PDF whose text layer holds `lines` (Helvetica, one line each)."""
    content = (
        "BT /F1 12 Tf 72 720 Td 14 TL "
        + " ".join(f"({line.replace('(', '[').replace(')', ']')}) '" for line in lines)
        + " ET"
    )
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        "/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def encrypted_pdf(*lines: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf(*lines))))
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
