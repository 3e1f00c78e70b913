"""Every operation of the app's OpenAPI, fuzzed with schemathesis against a live server.

The backend runs as `make demo` runs it (uvicorn, sample companies loaded) on a
fresh PostgreSQL database, where strings the database refuses (a NUL byte) are
a real risk. Assessment 3's routes get a tenant admin's bearer token and rate
limits too high to be reached. The examples are bounded and derandomized (a
fixed seed), so a run is repeatable; a failure prints the request to replay.

Fails on any 5xx and on any response that does not match the schema its
operation documents for that status.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from backend.main import create_app
from tests.processes import ROOT, api_server, process_env
from tests.services import throwaway_database
from tests.support import make_settings

A3 = "/api/03-saas"
_auth = importlib.import_module("assessments.03_saas_ai_agent.config")
DEV_ADMIN_EMAIL, DEV_ADMIN_PASSWORD = _auth.DEV_ADMIN_EMAIL, _auth.DEV_ADMIN_PASSWORD
EXAMPLES_PER_OPERATION = 20
UNREACHABLE_LIMIT = "100000/minute"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("fuzz")
    with throwaway_database() as database_url:
        env = process_env(
            workdir / "data",
            DATABASE_URL=database_url,
            LOAD_SAMPLE_DATA="true",
            LOG_LEVEL="WARNING",
            SAAS_RATE_LIMITS=json.dumps(
                dict.fromkeys(("starter", "pro", "enterprise"), UNREACHABLE_LIMIT)
            ),
            SAAS_LOGIN_RATE_LIMIT=UNREACHABLE_LIMIT,
        )
        with api_server(env, workdir / "server.log") as running:
            yield running.url


@pytest.fixture(scope="module")
def token(server: str) -> str:
    """A tenant admin's bearer token (a tenant made by the platform admin for this run)."""
    with httpx.Client(base_url=f"{server}{A3}", timeout=30) as client:
        admin = _login(client, DEV_ADMIN_EMAIL, DEV_ADMIN_PASSWORD)
        tenant = {
            "name": "Fuzzed Tenant",
            "subscription_tier": "enterprise",
            "admin_email": "fuzz-admin@tenant.example",
            "admin_password": "fuzz-admin-password",
        }
        created = client.post("/tenants", json=tenant, headers=_bearer(admin))
        assert created.status_code == 201, created.text
        return _login(client, tenant["admin_email"], tenant["admin_password"])


# The schema as the app builds it (no server needed to collect one test per operation);
# the live server serves the same document at /openapi.json.
schema = schemathesis.openapi.from_dict(create_app(make_settings(ROOT / "data")).openapi())


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_5xx_or_off_schema(
    case: schemathesis.Case, server: str, token: str
) -> None:
    case.call_and_validate(
        base_url=server,
        headers=_bearer(token),
        checks=[not_a_server_error, response_schema_conformance],
        timeout=60,
    )


def _login(client: httpx.Client, email: str, password: str) -> str:
    response = client.post("/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
