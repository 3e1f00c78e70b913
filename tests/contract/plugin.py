"""The contract suite's pytest plugin: options, markers, the server under test and fixtures.

`tests/contract/conftest.py` loads it for the suite. Hidden tests in a folder outside the
repository get the same fixtures when the plugin is loaded explicitly:

    .venv/bin/python -m pytest -p tests.contract.plugin tests/contract --hidden DIR
    .venv/bin/python -m pytest -p tests.contract.plugin tests/contract --base-url http://127.0.0.1:8000

Without `--base-url` the suite serves the reference app in-process (`in_process_app`, the only
code here that touches the implementation); with it, any server that speaks SPEC §4.
"""

from __future__ import annotations

import importlib
import json
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import httpx
import pytest

from tests.contract.helpers import Api, Tenant, admin_credentials, admin_token, create_tenant

SUITE_DIR = Path(__file__).resolve().parent
ASSESSMENT_MARKERS = {
    "assessment1": "01-workflow",
    "assessment2": "02-rag",
    "assessment3": "03-saas",
}
SERVICE = "service"
CRITERIA = ("contract", "bad_input", "isolation", "ai_quality", "load")
DEFAULT_CRITERION = "contract"
# One route per assessment: a server with none of them speaks another contract.
SPEC_ROUTES = ("/api/01-workflow/leads", "/api/02-rag/chat", "/api/03-saas/auth/token")
PREFLIGHT_EXIT_CODE = 4

# Settings of the in-process app. The SAAS_* ones only shorten waits of the reference
# implementation (password hashing, webhook retry backoff); other implementations ignore them.
IN_PROCESS_ENV = {
    "ENVIRONMENT": "test",
    "LLM_PROVIDER": "local",
    "EMBEDDING_PROVIDER": "local",
    "LOAD_SAMPLE_DATA": "true",
    "LOG_LEVEL": "WARNING",
    "LOG_FORMAT": "json",
    "SAAS_PASSWORD_HASH_PROFILE": "cheapest",
    "SAAS_WEBHOOK_POLL_SECONDS": "0.2",
    "SAAS_WEBHOOK_RETRY_BASE_SECONDS": "0",
}


# --- options and markers ------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    # Called once however the plugin is loaded (-p, conftest, pytest_plugins): pytest
    # registers a module once under its name.
    group = parser.getgroup("contract", "black-box contract suite (tests/contract)")
    group.addoption(
        "--base-url",
        default=os.environ.get("CONTRACT_BASE_URL") or None,
        help="run the contract suite against this server (default: the app in-process; "
        "env CONTRACT_BASE_URL)",
    )
    group.addoption(
        "--hidden",
        default=os.environ.get("GRADER_HIDDEN_DIR") or None,
        help="a folder of hidden tests (test_*.py) and eval sets (evals/) to run with the "
        "suite (env GRADER_HIDDEN_DIR)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "criterion(name): grading criterion of a contract test: " + ", ".join(CRITERIA),
    )
    hidden = hidden_dir(config)
    if hidden is not None and hidden.is_dir():
        given = {Path(arg.split("::")[0]).resolve() for arg in config.args}
        if hidden not in given:
            config.args.append(str(hidden))


def hidden_dir(config: pytest.Config) -> Path | None:
    value = config.getoption("--hidden", default=None)
    return Path(value).expanduser().resolve() if value else None


def base_url(config: pytest.Config) -> str | None:
    value = config.getoption("--base-url", default=None)
    return value.rstrip("/") if value else None


def _origin(item: pytest.Item, hidden: Path | None) -> str | None:
    path = Path(str(item.path)).resolve()
    if hidden is not None and path.is_relative_to(hidden):
        return "hidden"
    if path.is_relative_to(SUITE_DIR):
        return "suite"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Label each contract test with its assessment, criterion and origin (for the report)."""
    hidden = hidden_dir(config)
    for item in items:
        origin = _origin(item, hidden)
        if origin is None:
            continue
        assessment = next(
            (
                ASSESSMENT_MARKERS[m.name]
                for m in item.iter_markers()
                if m.name in ASSESSMENT_MARKERS
            ),
            SERVICE,
        )
        marker = item.get_closest_marker("criterion")
        criterion = marker.args[0] if marker and marker.args else DEFAULT_CRITERION
        item.user_properties.extend(
            [("assessment", assessment), ("criterion", criterion), ("origin", origin)]
        )


def pytest_report_header(config: pytest.Config) -> str:
    url = base_url(config)
    target = f"server at {url}" if url else "the reference app in-process (backend.main)"
    hidden = hidden_dir(config)
    return f"contract suite: {target}" + (f"; hidden tests from {hidden}" if hidden else "")


# --- the server under test ----------------------------------------------------------------


@contextmanager
def in_process_app(data_dir: Path) -> Iterator[httpx.Client]:
    """The one adapter to the implementation: `backend.main.create_app` with settings taken
    from the environment (a fresh DATA_DIR and database, sample data, local providers),
    served in-process by Starlette's TestClient with its lifespan running."""
    from fastapi.testclient import TestClient

    email, password = admin_credentials()
    env = {
        **IN_PROCESS_ENV,
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": f"sqlite:///{data_dir / 'contract.db'}",
        "JWT_SECRET": secrets.token_urlsafe(48),
        "PLATFORM_ADMIN_EMAIL": email,
        "PLATFORM_ADMIN_PASSWORD": password,
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        try:
            settings = importlib.import_module("core.config").Settings()
            app = importlib.import_module("backend.main").create_app(settings)
            client = TestClient(app, raise_server_exceptions=False)
            client.__enter__()
        except Exception as exc:
            pytest.exit(
                f"contract preflight: the in-process app (backend.main.create_app) did not "
                f"start: {type(exc).__name__}: {exc}. Point the suite at a running server "
                f"with --base-url http://host:port instead.",
                returncode=PREFLIGHT_EXIT_CODE,
            )
    try:
        yield client
    finally:
        client.__exit__(None, None, None)


def preflight(api: Api) -> None:
    """Stop the whole run, naming the endpoint, when the server is down or speaks another
    contract: one clear message instead of a hundred identical failures."""
    base = api.base_url

    def stop(message: str) -> NoReturn:
        pytest.exit(f"contract preflight: {message}", returncode=PREFLIGHT_EXIT_CODE)

    def fetch(path: str) -> httpx.Response:
        try:
            return api.client.get(path)
        except httpx.TransportError as exc:
            stop(
                f"GET {base}{path} did not answer ({type(exc).__name__}: {exc}); expected a "
                f"running server speaking SPEC §4. Start it, or fix --base-url."
            )

    def json_of(response: httpx.Response) -> object:
        if response.status_code != 200:
            return None
        try:
            return response.json()
        except ValueError:
            return None

    health = fetch("/health")
    if json_of(health) is None:
        stop(
            f"GET {base}/health: expected 200 with a JSON body (SPEC §4 'Service'), got "
            f"{health.status_code} {health.text[:200]!r}"
        )
    openapi = fetch("/openapi.json")
    spec = json_of(openapi)
    if not isinstance(spec, dict) or not isinstance(spec.get("paths"), dict):
        stop(
            f"GET {base}/openapi.json: expected 200 with an OpenAPI document (an object with "
            f"`paths`), got {openapi.status_code} {openapi.text[:200]!r}"
        )
    paths = set(spec["paths"])
    if not paths & set(SPEC_ROUTES):
        shown = ", ".join(sorted(paths)[:8]) or "no paths"
        stop(
            f"GET {base}/openapi.json: this server speaks another contract: none of the SPEC "
            f"§4 routes {', '.join(SPEC_ROUTES)} is in its paths (it has: {shown})"
        )


@pytest.fixture(scope="session")
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The server under test, checked by the preflight: the app in-process, or --base-url."""
    url = base_url(request.config)
    if url:
        with httpx.Client(base_url=url, timeout=30.0) as client:
            server = Api(client, url, in_process=False)
            preflight(server)
            yield server
        return
    with in_process_app(tmp_path_factory.mktemp("contract-data")) as client:
        server = Api(client, str(client.base_url), in_process=True)
        preflight(server)
        yield server


@pytest.fixture(scope="session")
def is_localhost(api: Api) -> bool:
    """Whether the server under test is this machine (the load check runs only then)."""
    return api.in_process or urlsplit(api.base_url).hostname in {"localhost", "127.0.0.1", "::1"}


@pytest.fixture(scope="session")
def async_timeout(api: Api) -> float:
    """Seconds to wait for asynchronous work (webhook processing, dead letters)."""
    default = "30" if api.in_process else "90"
    return float(os.environ.get("CONTRACT_ASYNC_TIMEOUT", default))


@pytest.fixture(scope="session")
def platform_token(api: Api) -> str:
    """A platform admin's access token (PLATFORM_ADMIN_EMAIL / PLATFORM_ADMIN_PASSWORD)."""
    return admin_token(api)


@pytest.fixture
def tenant(api: Api, platform_token: str) -> Tenant:
    """A fresh tenant (pro tier) with its admin logged in."""
    return create_tenant(api, platform_token)


@pytest.fixture
def other_tenant(api: Api, platform_token: str) -> Tenant:
    """A second fresh tenant, for isolation tests."""
    return create_tenant(api, platform_token)


@pytest.fixture
def grade_metric(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Record a figure for the grade report: `grade_metric("intent_accuracy", 0.91,
    target=0.85)` (higher is better unless `higher_is_better=False`)."""

    def record(
        name: str,
        value: float,
        *,
        target: float | None = None,
        higher_is_better: bool = True,
        unit: str = "",
        detail: str = "",
    ) -> None:
        figure = {
            "name": name,
            "value": value,
            "target": target,
            "higher_is_better": higher_is_better,
            "unit": unit,
            "detail": detail,
        }
        request.node.user_properties.append(("metric", json.dumps(figure)))

    return record
