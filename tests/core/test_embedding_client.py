"""Embeddings: the real local model, and the OpenAI client over a mock transport."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import httpx
import numpy as np
import pytest

from core.embedding_client import (
    LocalEmbeddingClient,
    OpenAIEmbeddingClient,
    create_embedding_client,
)
from core.exceptions import LLMException
from tests.support import fake_openai_key, make_settings

API_KEY = fake_openai_key()

pytestmark = pytest.mark.core


@pytest.fixture(scope="session")
def local_embedder() -> LocalEmbeddingClient:
    client = LocalEmbeddingClient(threads=2, batch_size=4)
    client.load()
    return client


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


# --- local provider: the real all-MiniLM-L6-v2 -------------------------------------------


@pytest.mark.anyio
async def test_paraphrase_scores_clearly_above_unrelated_text(local_embedder):
    question, paraphrase, unrelated = await local_embedder.embed_documents(
        [
            "How do I reset my password?",
            "I forgot my password and need to change it.",
            "The quarterly revenue grew by ten percent.",
        ]
    )

    assert _cosine(question, paraphrase) > 0.7
    assert _cosine(question, unrelated) < 0.2


@pytest.mark.anyio
async def test_similarities_match_published_sentence_transformers_values(local_embedder):
    # The similarity matrix printed in the sentence-transformers README for this model.
    weather, sunny, stadium = await local_embedder.embed_documents(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    )

    assert _cosine(weather, sunny) == pytest.approx(0.6660, abs=0.02)
    assert _cosine(weather, stadium) == pytest.approx(0.1046, abs=0.02)
    assert _cosine(sunny, stadium) == pytest.approx(0.1411, abs=0.02)


@pytest.mark.anyio
async def test_local_vectors_are_unit_float32_rows_of_384(local_embedder):
    vectors = await local_embedder.embed_documents(["first text", "second, longer text here", ""])

    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert local_embedder.dimension == 384
    assert local_embedder.model == "all-MiniLM-L6-v2"
    assert local_embedder.max_input_tokens == 256


@pytest.mark.anyio
async def test_a_text_embeds_the_same_alone_in_any_batch_and_order(local_embedder):
    texts = ["short", "a much longer sentence about refunds, invoices and billing " * 5, "mid"]

    forward = await local_embedder.embed_documents(texts)
    backward = await local_embedder.embed_documents(texts[::-1])
    alone = [await local_embedder.embed_query(text) for text in texts]
    again = await local_embedder.embed_documents(texts)

    np.testing.assert_array_equal(forward, again)
    np.testing.assert_allclose(forward, backward[::-1], atol=1e-5)
    np.testing.assert_allclose(forward, np.stack(alone), atol=1e-5)


@pytest.mark.anyio
async def test_text_beyond_256_tokens_is_truncated(local_embedder):
    long_text = " ".join(f"word{i}" for i in range(600))

    assert local_embedder.count_tokens(long_text) > 256
    truncated = await local_embedder.embed_query(long_text)
    longer = await local_embedder.embed_query(long_text + " and a different ending entirely")

    assert truncated.shape == (384,)
    np.testing.assert_allclose(truncated, longer, atol=1e-6)


def test_count_tokens_includes_the_special_tokens(local_embedder):
    assert local_embedder.count_tokens("") == 2
    assert local_embedder.count_tokens("hello world") == 4
    assert local_embedder.count_tokens("hello " * 300) == 302


@pytest.mark.anyio
async def test_empty_input_gives_an_empty_matrix(local_embedder):
    vectors = await local_embedder.embed_documents([])

    assert vectors.shape == (0, 384)


@pytest.mark.anyio
async def test_progress_is_reported_after_every_batch(local_embedder):
    done: list[int] = []

    await local_embedder.embed_documents([f"text {i}" for i in range(10)], on_progress=done.append)

    assert done == [4, 4, 2]


@pytest.mark.anyio
async def test_long_texts_go_in_smaller_batches_to_bound_memory():
    embedder = LocalEmbeddingClient(threads=2, batch_size=32)
    done: list[int] = []

    vectors = await embedder.embed_documents(["hello " * 300] * 10, on_progress=done.append)

    assert done == [8, 2]
    assert vectors.shape == (10, 384)


def test_settings_pick_the_provider(tmp_path):
    local = create_embedding_client(make_settings(tmp_path))
    remote = create_embedding_client(
        make_settings(tmp_path, EMBEDDING_PROVIDER="auto", OPENAI_API_KEY=API_KEY)
    )

    assert (local.provider, local.dimension) == ("local", 384)
    assert (remote.provider, remote.model, remote.dimension) == (
        "openai",
        "text-embedding-3-small",
        1536,
    )


# --- openai provider: the real SDK over httpx.MockTransport ------------------------------

DIM = 8


def _raw_vector(text: str) -> list[float]:
    """A deterministic, deliberately unnormalised vector per text."""
    digest = hashlib.sha256(text.encode()).digest()
    return [float(byte) + 1.0 for byte in digest[:DIM]]


def _expected(text: str) -> np.ndarray:
    vector = np.array(_raw_vector(text), dtype=np.float32)
    return vector / np.linalg.norm(vector)


def _embeddings_response(request: httpx.Request, *, dim: int = DIM) -> httpx.Response:
    body = json.loads(request.content)
    data = [
        {"object": "embedding", "index": i, "embedding": _raw_vector(text)[:dim]}
        for i, text in enumerate(body["input"])
    ]
    return httpx.Response(
        200,
        json={
            "object": "list",
            # Reversed: the client must order by `index`, not by position.
            "data": data[::-1],
            "model": body["model"],
            "usage": {"prompt_tokens": 3, "total_tokens": 3},
        },
    )


class FakeOpenAI:
    """Answers with the queued responses first, then with embeddings."""

    def __init__(self, *queued: Callable[[httpx.Request], httpx.Response]) -> None:
        self.queued = list(queued)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.queued:
            return self.queued.pop(0)(request)
        return _embeddings_response(request)

    @property
    def inputs(self) -> list[list[str]]:
        return [json.loads(request.content)["input"] for request in self.requests]


def _openai_client(tmp_path, server: FakeOpenAI, **overrides) -> OpenAIEmbeddingClient:
    settings = make_settings(
        tmp_path,
        EMBEDDING_PROVIDER="openai",
        OPENAI_API_KEY=API_KEY,
        OPENAI_EMBEDDING_DIMENSIONS=DIM,
        OPENAI_EMBEDDING_BATCH_SIZE=2,
        LLM_MAX_ATTEMPTS=3,
        **overrides,
    )
    http_client = httpx.AsyncClient(transport=httpx.MockTransport(server))
    return OpenAIEmbeddingClient(settings, http_client=http_client)


@pytest.mark.anyio
async def test_openai_embeddings_are_batched_in_order_and_normalised(tmp_path):
    server = FakeOpenAI()
    client = _openai_client(tmp_path, server)
    texts = ["alpha", "beta", "gamma", "delta", "epsilon"]
    done: list[int] = []

    vectors = await client.embed_documents(texts, on_progress=done.append)

    assert server.inputs == [["alpha", "beta"], ["gamma", "delta"], ["epsilon"]]
    assert done == [2, 2, 1]
    assert vectors.shape == (5, DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, np.stack([_expected(t) for t in texts]), atol=1e-6)
    request = server.requests[0]
    assert request.url.path.endswith("/embeddings")
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    body = json.loads(request.content)
    assert body["model"] == "text-embedding-3-small"
    assert body["dimensions"] == DIM
    assert body["encoding_format"] == "float"


@pytest.mark.anyio
async def test_openai_query_is_one_unit_vector(tmp_path):
    client = _openai_client(tmp_path, FakeOpenAI())

    vector = await client.embed_query("where is my invoice?")

    np.testing.assert_allclose(vector, _expected("where is my invoice?"), atol=1e-6)


@pytest.mark.anyio
async def test_openai_rate_limit_is_retried_then_succeeds(tmp_path):
    rate_limited = httpx.Response(
        429,
        headers={"retry-after": "0"},
        json={"error": {"message": "Rate limit reached", "type": "requests"}},
    )
    server = FakeOpenAI(lambda request: rate_limited)
    client = _openai_client(tmp_path, server)

    vectors = await client.embed_documents(["alpha"])

    assert len(server.requests) == 2
    np.testing.assert_allclose(vectors[0], _expected("alpha"), atol=1e-6)


@pytest.mark.anyio
async def test_openai_timeout_is_retried_then_succeeds(tmp_path):
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    server = FakeOpenAI(timeout)
    client = _openai_client(tmp_path, server)

    vectors = await client.embed_documents(["alpha"])

    assert len(server.requests) == 2
    assert vectors.shape == (1, DIM)


@pytest.mark.anyio
async def test_openai_server_errors_end_in_llm_exception_after_max_attempts(tmp_path):
    def unavailable(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"error": {"message": "overloaded"}})

    server = FakeOpenAI(unavailable, unavailable, unavailable, unavailable)
    client = _openai_client(tmp_path, server)

    with pytest.raises(LLMException) as caught:
        await client.embed_documents(["alpha"])

    assert len(server.requests) == 3
    assert caught.value.status_code == 502
    assert caught.value.details["attempts"] == 3


@pytest.mark.anyio
async def test_openai_bad_request_is_not_retried(tmp_path):
    def bad_request(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": {"message": "input too long"}})

    server = FakeOpenAI(bad_request)
    client = _openai_client(tmp_path, server)

    with pytest.raises(LLMException) as caught:
        await client.embed_documents(["alpha"])

    assert len(server.requests) == 1
    assert caught.value.code == "llm_bad_request"


@pytest.mark.anyio
async def test_openai_vectors_of_the_wrong_dimension_are_refused(tmp_path):
    server = FakeOpenAI(lambda request: _embeddings_response(request, dim=DIM - 2))
    client = _openai_client(tmp_path, server)

    with pytest.raises(LLMException, match="OPENAI_EMBEDDING_DIMENSIONS"):
        await client.embed_documents(["alpha"])


def test_openai_token_count_is_a_conservative_estimate(tmp_path):
    client = _openai_client(tmp_path, FakeOpenAI())

    assert client.count_tokens("") == 0
    assert client.count_tokens("a" * 10) == 4
    assert client.max_input_tokens == 8191
