"""Helpers shared by tests (importable, unlike conftest)."""

from __future__ import annotations

import base64
import secrets
import socket
from pathlib import Path

import httpx

from core.config import Settings


def make_settings(data_dir: Path, **overrides: object) -> Settings:
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
        "JWT_SECRET": "test-secret-" + "x" * 32,
        "LOAD_SAMPLE_DATA": False,
        "LOG_FORMAT": "json",
        "LLM_RETRY_WAIT_INITIAL_SECONDS": 0,
        "LLM_RETRY_WAIT_MAX_SECONDS": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


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
