"""The Redis cache of query embeddings, against the live Redis on 127.0.0.1:6379.

Each test writes under its own key prefix and deletes it afterwards. The tests
skip when Redis does not answer, and fail under CI=true (`tests/services.py`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence

import numpy as np
import pytest
import redis
from structlog.testing import capture_logs

from core.embedding_cache import CachedEmbeddingClient, connect_embedding_cache
from core.embedding_client import LocalEmbeddingClient
from tests.services import redis_url
from tests.support import make_settings

pytestmark = pytest.mark.core

QUESTION = "How much does the Pro plan cost? My email is jane.doe@example.com"


@pytest.fixture(scope="session")
def local_embedder() -> LocalEmbeddingClient:
    client = LocalEmbeddingClient(threads=2, batch_size=8)
    client.load()
    return client


class CountingEmbedder:
    """The real local model, counting the calls that reach it."""

    def __init__(self, inner: LocalEmbeddingClient, *, model: str | None = None) -> None:
        self.inner = inner
        self.provider = inner.provider
        self.model = model or inner.model
        self.dimension = inner.dimension
        self.max_input_tokens = inner.max_input_tokens
        self.queries = 0
        self.documents = 0

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    async def embed_documents(self, texts: Sequence[str], *, on_progress=None) -> np.ndarray:
        self.documents += 1
        return await self.inner.embed_documents(texts, on_progress=on_progress)

    async def embed_query(self, text: str) -> np.ndarray:
        self.queries += 1
        return await self.inner.embed_query(text)


@pytest.fixture
def live_redis() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url())
    yield client
    client.close()


@pytest.fixture
def prefix(live_redis: redis.Redis) -> Iterator[str]:
    prefix = f"test-embedding-cache:{uuid.uuid4().hex}"
    yield prefix
    for key in live_redis.scan_iter(match=f"{prefix}:*"):
        live_redis.delete(key)


@pytest.fixture
def counting(local_embedder: LocalEmbeddingClient) -> CountingEmbedder:
    return CountingEmbedder(local_embedder)


def _keys(client: redis.Redis, prefix: str) -> list[str]:
    return sorted(key.decode() for key in client.scan_iter(match=f"{prefix}:*"))


@pytest.mark.anyio
async def test_a_repeated_query_is_answered_from_redis(live_redis, prefix, counting):
    cached = CachedEmbeddingClient(counting, live_redis, ttl_seconds=60, key_prefix=prefix)

    first = await cached.embed_query(QUESTION)
    second = await cached.embed_query(QUESTION)

    assert counting.queries == 1
    assert second.dtype == np.float32 and second.shape == (384,)
    assert np.array_equal(first, second)
    assert np.array_equal(second, await counting.inner.embed_query(QUESTION))


@pytest.mark.anyio
async def test_keys_name_the_model_but_never_the_text(live_redis, prefix, counting):
    cached = CachedEmbeddingClient(counting, live_redis, ttl_seconds=60, key_prefix=prefix)

    vector = await cached.embed_query(QUESTION)

    [key] = _keys(live_redis, prefix)
    assert key.startswith(f"{prefix}:local:all-MiniLM-L6-v2:384:")
    assert len(key.rsplit(":", 1)[1]) == 64
    assert "jane" not in key and "example.com" not in key and "Pro plan" not in key
    assert live_redis.get(key) == vector.astype("<f4").tobytes()
    assert 0 < live_redis.ttl(key) <= 60


@pytest.mark.anyio
async def test_another_model_does_not_reuse_the_entry(live_redis, prefix, local_embedder):
    mini = CountingEmbedder(local_embedder)
    other = CountingEmbedder(local_embedder, model="another-model")

    await CachedEmbeddingClient(mini, live_redis, key_prefix=prefix).embed_query(QUESTION)
    await CachedEmbeddingClient(other, live_redis, key_prefix=prefix).embed_query(QUESTION)

    assert (mini.queries, other.queries) == (1, 1)
    assert len(_keys(live_redis, prefix)) == 2


@pytest.mark.anyio
async def test_document_embeddings_pass_through_uncached(live_redis, prefix, counting):
    cached = CachedEmbeddingClient(counting, live_redis, key_prefix=prefix)

    vectors = await cached.embed_documents([QUESTION, "Refunds take 14 days."])
    await cached.embed_documents([QUESTION, "Refunds take 14 days."])

    assert vectors.shape == (2, 384)
    assert counting.documents == 2
    assert _keys(live_redis, prefix) == []


@pytest.mark.anyio
async def test_a_corrupt_entry_is_recomputed(live_redis, prefix, counting):
    cached = CachedEmbeddingClient(counting, live_redis, key_prefix=prefix)
    live_redis.set(cached.key(QUESTION), b"not a vector")

    vector = await cached.embed_query(QUESTION)

    assert counting.queries == 1
    assert vector.shape == (384,)
    assert live_redis.get(cached.key(QUESTION)) == vector.astype("<f4").tobytes()


@pytest.mark.anyio
async def test_a_redis_outage_degrades_to_uncached_with_a_warning(counting):
    down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    cached = CachedEmbeddingClient(counting, down)

    with capture_logs() as logs:
        first = await cached.embed_query(QUESTION)
        second = await cached.embed_query(QUESTION)

    assert counting.queries == 2
    assert np.array_equal(first, second)
    warnings = [entry for entry in logs if entry["event"] == "embedding_cache_unavailable"]
    assert len(warnings) == 1  # then the cache is left alone for a while
    assert warnings[0]["log_level"] == "warning"


@pytest.mark.anyio
async def test_connect_uses_the_ttl_from_settings(tmp_path, live_redis, counting):
    settings = make_settings(tmp_path, REDIS_URL=redis_url(), EMBEDDING_CACHE_TTL_SECONDS=120)
    cached = connect_embedding_cache(counting, settings)
    query = f"{QUESTION} {uuid.uuid4().hex}"
    try:
        await cached.embed_query(query)
        ttl = live_redis.ttl(cached.key(query))
    finally:
        live_redis.delete(cached.key(query))
        await cached.aclose()

    assert 0 < ttl <= 120


def test_an_unreachable_redis_is_a_startup_error_naming_the_setting(tmp_path, counting):
    settings = make_settings(tmp_path, REDIS_URL="redis://:hunter2@127.0.0.1:1/0")

    with pytest.raises(RuntimeError, match="REDIS_URL") as caught:
        connect_embedding_cache(counting, settings)

    assert "hunter2" not in str(caught.value)


def test_the_app_caches_query_embeddings_when_redis_url_is_set(tmp_path):
    from fastapi.testclient import TestClient

    from backend.main import create_app

    settings = make_settings(tmp_path, REDIS_URL=redis_url())

    with TestClient(create_app(settings)) as client:
        embedder = client.app.state.embedder
        health = client.get("/health").json()

    assert isinstance(embedder, CachedEmbeddingClient)
    assert health["providers"]["embedding"]["model"] == "all-MiniLM-L6-v2"
