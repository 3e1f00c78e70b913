"""Fixtures for the RAG chatbot tests.

Embedding the sample documents takes seconds on a laptop CPU, so it happens
once per test session: `sample_data` is a data folder (database + FAISS
indexes) built by the app's own start-up, and every test that wants the
sample companies gets a fresh copy of it — its own database, its own indexes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from core.config import Settings
from tests.support import make_settings

from .helpers import copy_sample_data


@pytest.fixture(scope="session")
def sample_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with acme-corp and globex-inc ingested (read-only: copy it)."""
    data_dir = tmp_path_factory.mktemp("rag-sample-data")
    with TestClient(create_app(make_settings(data_dir, LOAD_SAMPLE_DATA=True))):
        pass
    return data_dir


@pytest.fixture
def sample_settings(sample_data: Path, tmp_path: Path) -> Settings:
    return copy_sample_data(sample_data, tmp_path / "data")


@pytest.fixture
def sample_client(sample_settings: Settings) -> Iterator[TestClient]:
    """The app with both sample companies loaded, on its own copy of the data."""
    with TestClient(create_app(sample_settings)) as client:
        yield client
