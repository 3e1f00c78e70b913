"""Settings resolution and the log masking processor."""

from __future__ import annotations

import io
import json

import pytest
import structlog

from core.config import Settings
from core.logger import configure_logging, mask_text
from tests.support import (
    assessment_settings,
    fake_openai_key,
    fake_webhook_secret,
    make_settings,
)


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_auto_provider_is_local_without_openai_configuration() -> None:
    settings = _settings(OPENAI_API_KEY=None)

    assert settings.llm_provider == "local"
    assert settings.embedding_provider == "local"


def test_auto_provider_is_openai_with_a_key_or_a_base_url() -> None:
    assert _settings(OPENAI_API_KEY=OPENAI_KEY).llm_provider == "openai"
    assert _settings(OPENAI_BASE_URL="http://127.0.0.1:11434/v1").llm_provider == "openai"


def test_explicit_local_provider_wins_over_a_key() -> None:
    assert _settings(OPENAI_API_KEY=OPENAI_KEY, LLM_PROVIDER="local").llm_provider == "local"


def test_default_database_is_sqlite_under_data_dir(tmp_path) -> None:
    settings = _settings(DATA_DIR=tmp_path)

    assert settings.database_url == f"sqlite:///{tmp_path / 'app.db'}"


def test_thresholds_default_to_the_spec() -> None:
    settings = assessment_settings()

    assert settings["workflow_settings"].INTENT_CONFIDENCE_THRESHOLD == 0.7  # type: ignore[attr-defined]
    assert settings["rag_settings"].SIMILARITY_THRESHOLD == 0.45  # type: ignore[attr-defined]


def test_an_unknown_setting_in_a_test_is_refused(tmp_path) -> None:
    # The settings classes ignore unknown names; the test helpers must not.
    with pytest.raises(TypeError, match="SIMILARITY_THRESHOLD"):
        make_settings(tmp_path, SIMILARITY_THRESHOLD=0.3)
    with pytest.raises(TypeError, match="NO_SUCH_SETTING"):
        assessment_settings(NO_SUCH_SETTING=1)


OPENAI_KEY = fake_openai_key()
WEBHOOK_SECRET = fake_webhook_secret()


@pytest.mark.parametrize(
    ("raw", "leak"),
    [
        ("contact jane.doe@example.com", "jane.doe@example.com"),
        ("call +1 (415) 555-0134", "555-0134"),
        (f"key {OPENAI_KEY}", OPENAI_KEY),
        ("Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
        (f"secret {WEBHOOK_SECRET}", WEBHOOK_SECRET.removeprefix("whsec_")),
    ],
)
def test_mask_text_removes_personal_data_and_secrets(raw: str, leak: str) -> None:
    assert leak not in mask_text(raw)


def test_mask_text_keeps_dates_and_small_numbers() -> None:
    assert mask_text("on 2026-11-23, 12345 leads") == "on 2026-11-23, 12345 leads"


def test_mask_text_keeps_ids_whose_last_group_is_all_digits() -> None:
    uuid = "123e4567-e89b-12d3-a456-426614174000"

    assert mask_text(f"lead {uuid} stored") == f"lead {uuid} stored"
    assert mask_text("call 415-555-0134 today") == "call [PHONE] today"


def test_every_log_record_is_masked_and_carries_request_id() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", "test", stream=stream)
    structlog.contextvars.bind_contextvars(request_id="req-1")
    try:
        structlog.get_logger("t").info(
            "lead from jane@example.com",
            password="hunter2",
            lead={"phone": "+14155550134", "note": "ok"},
        )
    finally:
        structlog.contextvars.clear_contextvars()

    record = json.loads(stream.getvalue().splitlines()[-1])
    assert record["request_id"] == "req-1"
    assert record["event"] == "lead from [EMAIL]"
    assert record["password"] == "[REDACTED]"
    assert record["lead"] == {"phone": "[PHONE]", "note": "ok"}
