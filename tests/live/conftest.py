"""The live suite's server: the whole backend on the openai provider, pointed at a real
OpenAI-compatible server named by `LIVE_OPENAI_BASE_URL` and `LIVE_OPENAI_MODEL`.

Unset (as in CI), every test skips with the reason. Optional: `LIVE_OPENAI_API_KEY`,
`LIVE_LLM_READ_TIMEOUT_SECONDS` (default 600: a small model on a CPU is slow),
`LIVE_LLM_STRUCTURED_OUTPUT` (default `json_schema`, so the suite also shows how the
server answers it). Embeddings stay local: most local servers serve no embedding model.
The run ends with the latency of each AI step.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.a3_saas.helpers import Api, build_client, saas_test_settings
from tests.live.support import TIMINGS
from tests.support import make_settings

SKIP_REASON = (
    "LIVE_OPENAI_BASE_URL and LIVE_OPENAI_MODEL are unset: the live suite needs a real "
    "OpenAI-compatible server (README: 'The live suite')"
)


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    model: str
    api_key: str | None
    read_timeout: float
    structured_output: str


@pytest.fixture(scope="session")
def live_server() -> LiveServer:
    base_url = os.environ.get("LIVE_OPENAI_BASE_URL", "").strip()
    model = os.environ.get("LIVE_OPENAI_MODEL", "").strip()
    if not (base_url and model):
        pytest.skip(SKIP_REASON)
    return LiveServer(
        base_url=base_url,
        model=model,
        api_key=os.environ.get("LIVE_OPENAI_API_KEY") or None,
        read_timeout=float(os.environ.get("LIVE_LLM_READ_TIMEOUT_SECONDS", "600")),
        structured_output=os.environ.get("LIVE_LLM_STRUCTURED_OUTPUT", "json_schema"),
    )


@pytest.fixture(scope="session")
def live_api(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The backend over HTTP (in process) with its LLM on the live server."""
    settings = make_settings(
        tmp_path_factory.mktemp("live"),
        LLM_PROVIDER="openai",
        EMBEDDING_PROVIDER="local",
        OPENAI_BASE_URL=live_server.base_url,
        OPENAI_API_KEY=live_server.api_key,
        OPENAI_CHAT_MODEL=live_server.model,
        LLM_STRUCTURED_OUTPUT=live_server.structured_output,
        LLM_READ_TIMEOUT_SECONDS=live_server.read_timeout,
        LLM_MAX_ATTEMPTS=2,
        # One slow answer must not pause the rest of the suite behind an open circuit.
        LLM_CIRCUIT_FAILURE_THRESHOLD=1000,
    )
    with build_client(settings, saas_test_settings()) as client:
        yield Api(client)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    if not TIMINGS:
        return
    terminalreporter.section("live suite: latency per AI step")
    for timing in TIMINGS:
        terminalreporter.write_line(
            f"{timing.step:<44} {timing.seconds:9.2f} s  provider={timing.provider}"
        )
