"""Fixtures of the core tests."""

from __future__ import annotations

import pytest

from core.embedding_client import LocalEmbeddingClient


@pytest.fixture(scope="session")
def embedder() -> LocalEmbeddingClient:
    """The real local model, loaded once (two threads, small batches)."""
    client = LocalEmbeddingClient(threads=2, batch_size=8)
    client.load()
    return client
