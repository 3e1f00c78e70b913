"""Helpers shared by tests (importable, unlike conftest)."""

from __future__ import annotations

import base64
import importlib
import secrets
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from core.config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

# The settings classes of the assessments, by the `app.state` name their lifespan reads.
ASSESSMENT_SETTINGS = {
    "workflow_settings": ("assessments.01_workflow_automation.config", "WorkflowSettings"),
    "rag_settings": ("assessments.02_rag_chatbot.config", "RagSettings"),
    "auth_settings": ("assessments.03_saas_ai_agent.config", "AuthSettings"),
}
# What tests use unless they override it (a fixed signing key: no generated one).
ASSESSMENT_DEFAULTS: dict[str, dict[str, object]] = {
    "auth_settings": {"JWT_SECRET": "test-secret-" + "x" * 32},
}


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    """Core settings for a test; a name Settings does not hold raises (never ignored)."""
    _refuse_unknown(Settings, overrides, hint="an assessment's setting goes to make_app")
    values: dict[str, object] = {
        "ENVIRONMENT": "test",
        "DATA_DIR": data_dir,
        "DATABASE_URL": f"sqlite:///{data_dir / 'test.db'}",
        "LLM_PROVIDER": "local",
        "EMBEDDING_PROVIDER": "local",
        "OPENAI_API_KEY": None,
        # A developer's shell may export these; tests opt in to live services explicitly.
        "CELERY_BROKER_URL": None,
        "REDIS_URL": None,
        "LOAD_SAMPLE_DATA": False,
        "LOG_FORMAT": "json",
        "LLM_RETRY_WAIT_INITIAL_SECONDS": 0,
        "LLM_RETRY_WAIT_MAX_SECONDS": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def assessment_settings(**overrides: object) -> dict[str, BaseSettings]:
    """Each assessment's settings (no `.env`), keyed by their `app.state` name, with each
    override given to the class that holds it; a name none holds raises."""
    classes = {
        name: getattr(importlib.import_module(module), cls)
        for name, (module, cls) in ASSESSMENT_SETTINGS.items()
    }
    held = {name for cls in classes.values() for name in _names(cls)}
    unknown = sorted(set(overrides) - held)
    if unknown:
        raise TypeError(f"no assessment settings class holds {unknown}")
    return {
        name: cls(
            _env_file=None,
            **{
                **ASSESSMENT_DEFAULTS.get(name, {}),
                **{k: v for k, v in overrides.items() if k in _names(cls)},
            },
        )
        for name, cls in classes.items()
    }


def make_app(settings: Settings, **overrides: object) -> FastAPI:
    """`create_app(settings)` with the assessments' settings built from `overrides`
    (`assessment_settings`) and put where their lifespans read them."""
    from backend.main import create_app

    app = create_app(settings)
    for name, value in assessment_settings(**overrides).items():
        setattr(app.state, name, value)
    return app


def _names(cls: type[BaseSettings]) -> set[str]:
    """The names a settings class accepts: its fields and their aliases."""
    names = set(cls.model_fields)
    for field in cls.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(choice for choice in alias.choices if isinstance(choice, str))
        elif isinstance(alias, str):
            names.add(alias)
    return names


def _refuse_unknown(cls: type[BaseSettings], values: dict[str, object], *, hint: str) -> None:
    # The settings classes ignore unknown names (extra="ignore", for `.env` files shared
    # with other tools): a test's misplaced override would silently do nothing.
    unknown = sorted(set(values) - _names(cls))
    if unknown:
        raise TypeError(f"{cls.__name__} has no setting {unknown}; {hint}")


def chat_completion(
    content: str | None,
    *,
    model: str = "gpt-4o-mini-2024-07-18",
    prompt_tokens: int = 1000,
    completion_tokens: int = 200,
) -> httpx.Response:
    """An OpenAI chat completion as the API sends it, for `httpx.MockTransport` handlers."""
    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        },
    )


def fake_openai_key() -> str:
    """A key of OpenAI's shape, made up at run time: no key-shaped literal lives in the repo."""
    return "sk-proj-" + secrets.token_urlsafe(24)


def fake_webhook_secret() -> str:
    """A Standard Webhooks secret (`whsec_` + base64), made up at run time."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def free_port() -> int:
    """A TCP port nothing listens on right now, for a server a test starts."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
