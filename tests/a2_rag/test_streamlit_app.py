"""The Streamlit page against a live backend (uvicorn on a free local port)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from core.config import PROJECT_ROOT, Settings
from tests.contract.helpers import wait_for
from tests.processes import serve_in_thread
from tests.support import make_app

APP = PROJECT_ROOT / "streamlit_apps" / "02_rag_app.py"


@pytest.fixture
def backend_url(sample_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    # Files from 2 kB up are ingested in the background here, to show the jobs quickly.
    with serve_in_thread(make_app(sample_settings, INGEST_ASYNC_MIN_BYTES=2_000)) as url:
        monkeypatch.setenv("BACKEND_URL", url)
        yield url


def markdown_texts(app: AppTest) -> list[str]:
    return [element.value for element in app.markdown] + [c.value for c in app.caption]


def test_page_lists_companies_and_answers_with_sources_and_confidence(backend_url: str) -> None:
    app = AppTest.from_file(str(APP), default_timeout=60).run()

    assert not app.exception
    assert {"acme-corp", "globex-inc"} <= set(app.selectbox[0].options)

    app.chat_input[0].set_value("What does the Starter plan cost per month?").run()

    texts = markdown_texts(app)
    assert not app.exception
    assert any("\\$49" in text for text in texts), "the price, escaped so it is not LaTeX"
    assert any("confidence" in text for text in texts)
    assert any("pricing\\.md" in text for text in texts), "sources are listed"


def test_page_keeps_the_session_history(backend_url: str) -> None:
    app = AppTest.from_file(str(APP), default_timeout=60).run()
    app.chat_input[0].set_value("Who is the CEO of Acme?").run()
    app.chat_input[0].set_value("What is the capital of France?").run()

    assert len(app.chat_message) == 4
    assert app.session_state["session_id"]


def test_document_html_is_shown_escaped_never_rendered(backend_url: str) -> None:
    note = "# Launch notes\n\nThe secret launch word is swordfish <script>alert('x')</script>."
    httpx.post(
        f"{backend_url}/api/02-rag/documents",
        data={"company_id": "xss-test"},
        files=[("files", ("notes.md", note.encode()))],
        timeout=60,
    ).raise_for_status()
    app = AppTest.from_file(str(APP), default_timeout=60).run()
    app.selectbox[0].set_value("xss-test").run()

    app.chat_input[0].set_value("What is the secret launch word?").run()

    texts = markdown_texts(app)
    assert any("swordfish" in text for text in texts)
    assert all("<script>" not in text for text in texts)
    assert any("\\<script\\>" in text for text in texts)


def test_background_ingests_are_followed_in_the_sidebar(backend_url: str) -> None:
    handbook = "# Initech handbook\n\n" + "Every Initech employee gets 27 days of leave.\n\n" * 60
    response = httpx.post(
        f"{backend_url}/api/02-rag/documents",
        data={"company_id": "initech"},
        files=[("files", ("handbook.md", handbook.encode()))],
        timeout=60,
    )
    assert response.status_code == 202, response.text
    [job] = response.json()["jobs"]
    wait_for(
        lambda: (
            httpx.get(f"{backend_url}/api/02-rag/ingest-jobs/{job['id']}").json()["status"]
            in ("done", "failed")
        ),
        timeout=120,
        what="the ingest job to finish",
    )

    app = AppTest.from_file(str(APP), default_timeout=60)
    app.session_state["ingest_jobs"] = [job["id"]]
    app.run()

    assert not app.exception
    texts = markdown_texts(app)
    assert any(text.startswith("handbook\\.md\\: done, ") for text in texts), texts
