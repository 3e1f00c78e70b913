"""The Streamlit demo against a live backend: sign in, create a tenant, run an agent,
and send a signed webhook whose score lands on the contact."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from tests.a3_saas.helpers import saas_test_settings
from tests.processes import serve_in_thread
from tests.support import make_settings

APP = Path(__file__).resolve().parents[2] / "streamlit_apps" / "03_saas_app.py"


@pytest.fixture
def live_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from backend.main import create_app

    app = create_app(make_settings(tmp_path))
    app.state.saas_settings = saas_test_settings(WEBHOOK_WORKER_ENABLED=True)
    with serve_in_thread(app) as url:
        monkeypatch.setenv("BACKEND_URL", url)
        yield url


def test_demo_creates_a_tenant_runs_an_agent_and_scores_a_contact_by_webhook(
    live_backend: str,
) -> None:
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    assert not at.exception

    at.button(key="sign_in_submit").click().run()
    at.button(key="create_tenant_submit").click().run()
    assert at.session_state["webhook_secret"].startswith("whsec_")
    assert "Tenant Demo" in " ".join(c.value for c in at.caption)

    at.button(key="run_extract").click().run()
    assert any(json_el.value and "+14155552671" in json_el.value for json_el in at.json)

    at.button(key="create_contact_submit").click().run()
    at.button(key="send_webhook").click().run()
    assert not at.exception
    assert any("done" in text.value for text in at.text)
    scores = {m.label: m.value for m in at.metric}
    assert float(scores["Contact ai_score"]) > 0.5
    assert scores["Lead ai_score"] == scores["Contact ai_score"]
    assert httpx.get(f"{live_backend}/health").status_code == 200
