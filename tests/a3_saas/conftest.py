"""Fixtures for Assessment 3: an app per test on SQLite, and on PostgreSQL when it answers.

`api` is parametrised over both backends. SQLite gets a new database file per
test; PostgreSQL a new database per test module (created as the `postgres`
superuser, dropped afterwards), where the app applies row-level security at
start exactly as in production. Under `CI=true` a PostgreSQL that does not
answer fails the run instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.a3_saas.helpers import Api, build_client, saas_test_settings
from tests.support import make_settings

PG_ADMIN_DSN = os.environ.get("SAAS_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@cache
def _postgres_unavailable() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=2):
            return None
    except psycopg.OperationalError as exc:
        return f"PostgreSQL does not answer at {PG_ADMIN_DSN} ({exc.__class__.__name__})"


def _postgres_or_skip() -> None:
    reason = _postgres_unavailable()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI=true requires it")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test module, dropped afterwards.

    Tests in a module share it and stay apart the way the product keeps
    customers apart: each test creates its own tenants.
    """
    _postgres_or_skip()
    name = f"saas_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    host = PG_ADMIN_DSN.rsplit("/", 1)[0]
    try:
        yield f"{host}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'saas.db'}"
    return request.getfixturevalue("postgres_url")


ApiFactory = Callable[..., Api]


@contextmanager
def _api_factory(tmp_path: Path, database_url: str) -> Iterator[ApiFactory]:
    with ExitStack() as stack:

        def build(*, settings: dict[str, Any] | None = None, **saas_overrides: Any) -> Api:
            core = make_settings(tmp_path, DATABASE_URL=database_url, **(settings or {}))
            client = stack.enter_context(build_client(core, saas_test_settings(**saas_overrides)))
            return Api(client)

        yield build


@pytest.fixture
def make_api(tmp_path: Path, database_url: str) -> Iterator[ApiFactory]:
    """Build the backend with setting overrides: `make_api(RATE_LIMITS=..., settings={...})`."""
    with _api_factory(tmp_path, database_url) as build:
        yield build


@pytest.fixture
def make_sqlite_api(tmp_path: Path) -> Iterator[ApiFactory]:
    """The same on SQLite only, for behaviour that does not depend on the database."""
    with _api_factory(tmp_path, f"sqlite:///{tmp_path / 'saas.db'}") as build:
        yield build


@pytest.fixture
def api(make_api: ApiFactory) -> Api:
    """The whole backend over HTTP, with the webhook worker stopped (tests drain the inbox)."""
    return make_api()


@pytest.fixture
def sqlite_api(tmp_path: Path) -> Iterator[Api]:
    """The same, on SQLite only: for behaviour that does not depend on the database."""
    with build_client(make_settings(tmp_path), saas_test_settings()) as client:
        yield Api(client)


@pytest.fixture
def pg_api(tmp_path: Path, postgres_url: str) -> Iterator[Api]:
    """The same, on PostgreSQL only (row-level security)."""
    settings = make_settings(tmp_path, DATABASE_URL=postgres_url)
    with build_client(settings, saas_test_settings()) as client:
        yield Api(client)
