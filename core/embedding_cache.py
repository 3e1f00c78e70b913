"""A Redis cache of query embeddings, shared by every API process (`REDIS_URL`).

`CachedEmbeddingClient(inner, redis)` is an `EmbeddingClient`: `embed_query`
looks in Redis first and stores what it computes; `embed_documents` (ingest)
always goes to the model, since chunks are embedded once and stored anyway.

Keys are `{prefix}:{provider}:{model}:{dimension}:{sha256 of the text}`: a
query may be personal data, so its text never appears in a key. Values are the
vector as little-endian float32 bytes, kept for `EMBEDDING_CACHE_TTL_SECONDS`.

Redis is an optimisation, never a dependency of a request: when it fails, the
query is embedded as if there were no cache, a warning is logged, and the cache
is left alone for `RETRY_AFTER_SECONDS` so a dead server does not add its
timeout to every query. At start, `connect_embedding_cache` refuses a REDIS_URL
that does not answer, naming the setting.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence

import anyio
import numpy as np
import redis
import structlog
from prometheus_client import Counter

from core.config import Settings
from core.embedding_client import EmbeddingClient, ProgressCallback

log = structlog.get_logger(__name__)

KEY_PREFIX = "embedding-cache:v1"
SOCKET_TIMEOUT_SECONDS = 0.5
RETRY_AFTER_SECONDS = 30.0

CACHE_LOOKUPS = Counter(
    "embedding_cache_lookups_total", "Query-embedding cache lookups", ["outcome"]
)


class CachedEmbeddingClient:
    def __init__(
        self,
        inner: EmbeddingClient,
        redis_client: redis.Redis,
        *,
        ttl_seconds: int = 24 * 3600,
        key_prefix: str = KEY_PREFIX,
    ) -> None:
        self.inner = inner
        self.provider = inner.provider
        self.model = inner.model
        self.dimension = inner.dimension
        self.max_input_tokens = inner.max_input_tokens
        self._redis = redis_client
        self._ttl_seconds = ttl_seconds
        self._key_prefix = key_prefix
        self._skip_until = 0.0

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    async def embed_documents(
        self, texts: Sequence[str], *, on_progress: ProgressCallback | None = None
    ) -> np.ndarray:
        return await self.inner.embed_documents(texts, on_progress=on_progress)

    async def embed_query(self, text: str) -> np.ndarray:
        key = self.key(text)
        cached = await anyio.to_thread.run_sync(self._get, key)
        if cached is not None:
            CACHE_LOOKUPS.labels("hit").inc()
            return cached
        CACHE_LOOKUPS.labels("miss").inc()
        vector = await self.inner.embed_query(text)
        await anyio.to_thread.run_sync(self._set, key, vector)
        return vector

    def key(self, text: str) -> str:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return f"{self._key_prefix}:{self.provider}:{self.model}:{self.dimension}:{digest}"

    async def aclose(self) -> None:
        if hasattr(self.inner, "aclose"):
            await self.inner.aclose()
        self._redis.close()

    def _get(self, key: str) -> np.ndarray | None:
        if time.monotonic() < self._skip_until:
            return None
        try:
            value = self._redis.get(key)
        except redis.RedisError as exc:
            self._unavailable("get", exc)
            return None
        if not isinstance(value, bytes) or len(value) != self.dimension * 4:
            return None
        return np.frombuffer(value, dtype="<f4").astype(np.float32)

    def _set(self, key: str, vector: np.ndarray) -> None:
        if time.monotonic() < self._skip_until:
            return
        value = np.asarray(vector, dtype="<f4").tobytes()
        try:
            self._redis.set(key, value, ex=self._ttl_seconds)
        except redis.RedisError as exc:
            self._unavailable("set", exc)

    def _unavailable(self, operation: str, exc: redis.RedisError) -> None:
        self._skip_until = time.monotonic() + RETRY_AFTER_SECONDS
        CACHE_LOOKUPS.labels("error").inc()
        log.warning(
            "embedding_cache_unavailable",
            operation=operation,
            error=f"{exc.__class__.__name__}: {exc}",
            retry_in_seconds=RETRY_AFTER_SECONDS,
        )


def connect_embedding_cache(inner: EmbeddingClient, settings: Settings) -> CachedEmbeddingClient:
    """`inner` behind the cache at REDIS_URL; a RuntimeError naming it if Redis is silent."""
    if not settings.REDIS_URL:
        raise ValueError("REDIS_URL is not set")
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        shown = _without_password(settings.REDIS_URL)
        raise RuntimeError(f"Redis at REDIS_URL={shown} does not answer: {exc}") from exc
    return CachedEmbeddingClient(inner, client, ttl_seconds=settings.EMBEDDING_CACHE_TTL_SECONDS)


def _without_password(url: str) -> str:
    scheme, separator, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}{separator}{user}:***@{host}"
