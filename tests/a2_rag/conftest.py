"""Fixtures for the RAG chatbot tests.

Embedding the sample documents takes seconds on a laptop CPU, so it happens
once per test session: `sample_data` (tests/conftest.py) is a data folder
(database + FAISS indexes) built by the app's own start-up, and every test that wants the
sample companies gets a fresh copy of it — its own database, its own indexes.

Every test that takes `sample_settings` / `sample_client` / `store_settings`
runs twice, once per profile (`STORES`):
- `faiss`: the embedded default, SQLite + FAISS files;
- `pgvector`: PostgreSQL for everything (`DATABASE_URL`) and pgvector as the
  vector store, each test on its own copy of a template database that the
  app's start-up filled with the sample companies (`tests/services.py`: skipped
  when PostgreSQL does not answer, failed under CI=true).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from core.config import Settings
from tests.services import throwaway_database
from tests.support import make_app, make_settings

from .helpers import copy_sample_data

STORES = ("faiss", "pgvector")


@pytest.fixture
def llm_client(sample_settings: Settings) -> Iterator[TestClient]:
    """Like `sample_client`; the LLM tests swap in an OpenAI client over a mock transport."""
    with TestClient(make_app(sample_settings)) as client:
        yield client


@pytest.fixture(scope="session")
def pg_sample_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A data folder and a PostgreSQL template database with both companies in pgvector."""
    data_dir = tmp_path_factory.mktemp("rag-sample-pg")
    with throwaway_database() as url:
        settings = make_settings(data_dir, LOAD_SAMPLE_DATA=True, **_on_postgres(url))
        with TestClient(make_app(settings)):
            pass
        yield data_dir, str(make_url(url).database)


@pytest.fixture(params=STORES)
def sample_settings(
    request: pytest.FixtureRequest, sample_data: Path, tmp_path: Path
) -> Iterator[Settings]:
    """Settings of an app with both sample companies loaded, on its own copy of the data."""
    if request.param == "faiss":
        yield copy_sample_data(sample_data, tmp_path / "data")
        return
    pg_data, template = request.getfixturevalue("pg_sample_data")
    with throwaway_database(template=template) as url:
        yield copy_sample_data(pg_data, tmp_path / "data", **_on_postgres(url))


@pytest.fixture(params=STORES)
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings of an app with no companies yet, on each profile."""
    if request.param == "faiss":
        yield make_settings(tmp_path)
        return
    with throwaway_database() as url:
        yield make_settings(tmp_path, **_on_postgres(url))


def _on_postgres(url: str) -> dict[str, object]:
    return {"DATABASE_URL": url, "VECTOR_STORE": "pgvector"}


@pytest.fixture
def sample_client(sample_settings: Settings) -> Iterator[TestClient]:
    """The app with both sample companies loaded, on its own copy of the data."""
    with TestClient(make_app(sample_settings)) as client:
        yield client
