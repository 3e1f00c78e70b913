"""What the demo pages share: the backend's address, one HTTP call that never raises, and
Markdown that shows user content literally.

The pages import it as `api_client` (Streamlit puts this folder on `sys.path`).
"""

from __future__ import annotations

import os
import re
from typing import Any

import httpx
import streamlit as st

# Every Markdown, HTML and math character: escaped, a document or a lead cannot add markup.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$&:=])")


def backend_url() -> str:
    return os.environ.get("BACKEND_URL", "http://127.0.0.1:8000").rstrip("/")


def plain(text: object) -> str:
    """Markdown that displays `text` literally (no links, HTML, math or emphasis)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))


def call(
    prefix: str, method: str, path: str, *, token: str | None = None, **kwargs: Any
) -> tuple[int, Any]:
    """One API call: the status and the JSON body (status 0 and an error body when the
    backend does not answer)."""
    headers = dict(kwargs.pop("headers", None) or {})  # a copy: the caller may show what it sent
    if token:
        headers.setdefault("Authorization", f"Bearer {token}")
    try:
        with httpx.Client(base_url=backend_url() + prefix, timeout=120) as client:
            response = client.request(method, path, headers=headers, **kwargs)
    except httpx.HTTPError as exc:
        return 0, {"error": {"code": "unreachable", "message": f"Backend unreachable: {exc}"}}
    if response.status_code == 204:
        return 204, {}
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, {"error": {"code": "bad_response", "message": response.text}}


def show_error(status: int, body: Any) -> None:
    error = body.get("error", {}) if isinstance(body, dict) else {}
    st.error(f"{status or 'no response'} · {plain(error.get('message', 'Request failed'))}")
