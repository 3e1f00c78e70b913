"""What the vector-store tests share: sample chunks, stand-in embedders, small helpers."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import anyio
import numpy as np

from core.embedding_client import LocalEmbeddingClient
from core.vector_store import VectorStoreBackend

DOCS = [
    "Our support team is available Monday to Friday from 9am to 5pm Eastern time.",
    "Refunds are issued within 14 days of purchase if the product is unused.",
    "The Pro plan costs 49 dollars per month and includes priority support.",
    "Our headquarters are located in Austin, Texas.",
]
PRICE_QUESTION = "How much does the Pro plan cost?"
UNRELATED_QUESTION = "How do penguins survive the Antarctic winter?"
MODEL = "all-MiniLM-L6-v2"


async def add_docs(store: VectorStoreBackend, company_id: str = "acme") -> list[int]:
    return await store.add_documents(
        documents=DOCS,
        company_id=company_id,
        metadata=[
            {"document_id": "handbook", "source": "handbook.md", "chunk_index": i, "page": i + 1}
            for i in range(len(DOCS))
        ],
    )


async def search(store: VectorStoreBackend, query: str, company_id: str = "acme", **kwargs):
    embedding = await store.embedder.embed_query(query)
    return store.similarity_search(embedding, company_id=company_id, **kwargs)


class FakeEmbedder:
    """Another model of the same dimension, or one whose calls fail."""

    provider = "local"
    dimension = 384
    max_input_tokens = 256

    def __init__(self, model: str = "another-model", *, fail: bool = False) -> None:
        self.model = model
        self.fail = fail

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    async def embed_documents(self, texts: Sequence[str], *, on_progress=None) -> np.ndarray:
        if self.fail:
            raise RuntimeError("embedding failed")
        rng = np.random.default_rng(len(texts))
        vectors = rng.normal(size=(len(texts), self.dimension)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    async def embed_query(self, text: str) -> np.ndarray:
        return (await self.embed_documents([text]))[0]


class BarrierEmbedder:
    """The real embedder, but every call waits until all workers have their vectors."""

    def __init__(self, inner: LocalEmbeddingClient, barrier: threading.Barrier) -> None:
        self.inner = inner
        self.barrier = barrier
        self.provider, self.model = inner.provider, inner.model
        self.dimension, self.max_input_tokens = inner.dimension, inner.max_input_tokens

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    async def embed_documents(self, texts: Sequence[str], *, on_progress=None) -> np.ndarray:
        vectors = await self.inner.embed_documents(texts)
        await anyio.to_thread.run_sync(self.barrier.wait)
        return vectors

    async def embed_query(self, text: str) -> np.ndarray:
        return await self.inner.embed_query(text)
