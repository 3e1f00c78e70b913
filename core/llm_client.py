"""The async client for real LLMs: the official `openai` SDK behind one retry layer.

Works with OpenAI and any OpenAI-compatible server (`OPENAI_BASE_URL`: vLLM,
Ollama, llama.cpp). Every call goes through a circuit breaker
(`core/circuit_breaker.py`), retries transport failures (connection errors, timeouts,
429, 5xx) with tenacity (`core/openai_provider.py`; the SDK's own retries are off),
records token usage and an estimated cost (`core/llm_result.py`), and fails with an
`LLMException` whose code says why. JSON answers adapt to the
server (`core/structured_output.py`): a refused `json_schema` is asked again at
once in JSON mode, and an answer that does not validate gets one re-ask with
its validation errors. Each HTTP request is noted in the result's
`attempt_log` for the caller's audit. Prompts and completions are never
logged: they carry personal data.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
import structlog
from openai import AsyncStream
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import BaseModel, ValidationError

from core.circuit_breaker import CircuitBreaker
from core.config import Settings
from core.exceptions import LLMException
from core.llm_result import CallRecord, LLMResult, RequestMode, usage_of
from core.openai_provider import PROVIDER_ERRORS, RetryPolicy, as_llm_exception, openai_sdk
from core.structured_output import (
    REASK_PROMPT,
    STRUCTURED_OUTPUT_MEMORY,
    StructuredOutput,
    StructuredOutputMemory,
    is_response_format_refusal,
    json_schema_format,
    parse,
    validation_brief,
    with_schema_instructions,
)

log = structlog.get_logger(__name__)

T = TypeVar("T")
R = TypeVar("R")
BaseModelT = TypeVar("BaseModelT", bound=BaseModel)

# A breaker protects against an unusable provider, not against one bad prompt.
_NOT_PROVIDER_FAILURES = {"llm_invalid_output", "llm_bad_request"}


class LLMClient:
    """Chat completions (JSON, text, streamed text) against a real OpenAI-compatible LLM."""

    provider = "openai"

    def __init__(
        self,
        settings: Settings,
        *,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        memory: StructuredOutputMemory = STRUCTURED_OUTPUT_MEMORY,
    ) -> None:
        self.model = settings.OPENAI_CHAT_MODEL
        self._openai = openai_sdk(settings, http_client=http_client)
        self._owns_http_client = http_client is None
        self._retry = RetryPolicy(settings)
        self._configured_output: StructuredOutput = settings.LLM_STRUCTURED_OUTPUT
        self._memory = memory
        self._server = str(self._openai.base_url)
        self._circuit = CircuitBreaker(
            failure_threshold=settings.LLM_CIRCUIT_FAILURE_THRESHOLD,
            reset_seconds=settings.LLM_CIRCUIT_RESET_SECONDS,
            clock=clock,
        )

    @property
    def circuit(self) -> CircuitBreaker:
        return self._circuit

    @property
    def server(self) -> str:
        """The server's base URL: what the structured-output memory is keyed by."""
        return self._server

    @property
    def structured_output(self) -> StructuredOutput:
        """The mode JSON requests use: `json_object` once this server has refused `json_schema`."""
        return self._memory.mode_for(self._server, self._configured_output)

    async def complete_json(
        self,
        *,
        system: str,
        user: str,
        schema: type[BaseModelT],
        model: str | None = None,
        temperature: float = 0.0,
        max_tokens: int | None = None,
    ) -> LLMResult[BaseModelT]:
        """A JSON answer validated into `schema`.

        An answer that does not validate gets one re-ask showing the model its
        Pydantic errors (as `instructor` does); a second invalid answer raises
        `llm_invalid_output`, so the step falls back to its local implementation.
        """
        model = model or self.model
        async with self._guarded("complete_json", model) as record:
            messages = [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ]
            params = {"model": model, "temperature": temperature, "max_tokens": max_tokens}
            raw = await self._json_request(record, messages=messages, schema=schema, **params)
            try:
                value = parse(raw, schema)
                repaired = False
            except ValidationError as first_error:
                record.note_invalid(raw, first_error)
                reask = REASK_PROMPT.format(error=validation_brief(first_error))
                messages += [
                    {"role": "assistant", "content": raw},
                    {"role": "user", "content": reask},
                ]
                raw = await self._json_request(record, messages=messages, schema=schema, **params)
                try:
                    value = parse(raw, schema)
                except ValidationError as second_error:
                    record.note_invalid(raw, second_error)
                    raise LLMException(
                        f"The LLM returned invalid {schema.__name__} JSON twice",
                        code="llm_invalid_output",
                        details={"schema": schema.__name__, "errors": second_error.error_count()},
                    ) from None
                repaired = True
            record.extra["repaired"] = repaired
            return record.result(value, raw=raw, provider=self.provider, repaired=repaired)

    async def complete_text(
        self,
        *,
        system: str,
        user: str,
        model: str | None = None,
        temperature: float = 0.2,
        max_tokens: int | None = None,
    ) -> LLMResult[str]:
        model = model or self.model
        async with self._guarded("complete_text", model) as record:
            completion = await self._request(
                record,
                mode="text",
                model=model,
                messages=[
                    {"role": "system", "content": system},
                    {"role": "user", "content": user},
                ],
                temperature=temperature,
                max_tokens=max_tokens,
            )
            text = _content(completion)
            if not text.strip():
                raise LLMException("The LLM returned an empty answer", code="llm_invalid_output")
            return record.result(text, raw=text, provider=self.provider)

    async def stream_text(
        self,
        *,
        system: str,
        user: str,
        model: str | None = None,
        temperature: float = 0.2,
    ) -> AsyncIterator[str]:
        """Content deltas as they arrive.

        Retries happen only before the first token: once the server has started
        writing the answer, a failure (a read timeout between two tokens included)
        ends the stream, because a retry would start the generation over.
        """
        model = model or self.model
        async with self._guarded("stream_text", model) as record:
            messages = [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ]

            async def open_stream() -> tuple[AsyncStream[ChatCompletionChunk], str | None]:
                stream = await self._openai.chat.completions.create(
                    model=model,
                    messages=messages,  # type: ignore[arg-type]
                    temperature=temperature,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                try:
                    async for chunk in stream:
                        record.note_stream_chunk(chunk, model)
                        if delta := _delta(chunk):
                            return stream, delta
                except BaseException:
                    await stream.close()
                    raise
                return stream, None

            stream, first = await self._retrying(
                open_stream, record=record, model=model, mode="stream"
            )
            try:
                if first is None:
                    raise LLMException(
                        "The LLM returned an empty answer", code="llm_invalid_output"
                    )
                yield first
                async for chunk in stream:
                    record.note_stream_chunk(chunk, model)
                    if delta := _delta(chunk):
                        yield delta
            except PROVIDER_ERRORS as exc:
                record.attempt_log[-1].update(outcome="interrupted", error=type(exc).__name__)
                raise as_llm_exception(exc, model=model, attempts=record.attempts) from None
            finally:
                await stream.close()

    async def aclose(self) -> None:
        if self._owns_http_client:
            await self._openai.close()

    async def _json_request(
        self,
        record: CallRecord,
        *,
        messages: list[dict[str, str]],
        schema: type[BaseModel],
        **params: Any,
    ) -> str:
        if self.structured_output == "json_schema":
            try:
                completion = await self._request(
                    record,
                    mode="json_schema",
                    messages=messages,
                    response_format=json_schema_format(schema),
                    **params,
                )
                return _content(completion)
            except _JsonSchemaUnsupported:
                # Asked again at once in JSON mode: the refusal is no failure of the server's.
                log.warning("llm_json_schema_unsupported", model=params["model"])
                self._memory.remember_json_object_only(self._server)
        completion = await self._request(
            record,
            mode="json_object",
            messages=[with_schema_instructions(messages[0], schema), *messages[1:]],
            response_format={"type": "json_object"},
            **params,
        )
        return _content(completion)

    async def _request(
        self,
        record: CallRecord,
        *,
        mode: RequestMode,
        model: str,
        max_tokens: int | None = None,
        **params: Any,
    ) -> ChatCompletion:
        if max_tokens is not None:
            params["max_tokens"] = max_tokens

        async def send() -> ChatCompletion:
            return await self._openai.chat.completions.create(model=model, **params)

        completion = await self._retrying(send, record=record, model=model, mode=mode)
        served_by = completion.model or model
        record.add(model=served_by, usage=usage_of(served_by, completion.usage))
        return completion

    async def _retrying(
        self,
        send: Callable[[], Awaitable[R]],
        *,
        record: CallRecord,
        model: str,
        mode: RequestMode,
    ) -> R:
        """`send()` with retries on transport errors; every attempt is counted on `record`.

        A refused `response_format` is never retried: the same request would be
        refused again, and a JSON-mode request is what the server needs instead.
        """
        structured = mode in ("json_schema", "json_object")
        attempts = 0
        try:
            async for attempt in self._retry.retrying(structured=structured):
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    try:
                        result = await send()
                    except PROVIDER_ERRORS as exc:
                        refused = structured and is_response_format_refusal(exc)
                        record.note(mode, "refused" if refused else "failed", exc)
                        raise
                    record.note(mode, "ok")
        except PROVIDER_ERRORS as exc:
            if mode == "json_schema" and is_response_format_refusal(exc):
                raise _JsonSchemaUnsupported from exc
            total = record.attempts + attempts
            raise as_llm_exception(
                exc, model=model, attempts=total, structured=structured
            ) from None
        finally:
            record.attempts += attempts
        return result

    @asynccontextmanager
    async def _guarded(self, operation: str, model: str) -> AsyncIterator[CallRecord]:
        """Circuit check, breaker bookkeeping and the one log line of a call."""
        started = time.perf_counter()
        record = CallRecord(model=model)
        try:
            self._circuit.before_call()
            yield record
        except LLMException as exc:
            exc.attempt_log = list(record.attempt_log)
            if exc.code != "llm_circuit_open":
                if exc.code in _NOT_PROVIDER_FAILURES:
                    self._circuit.record_success()
                else:
                    self._circuit.record_failure()
            self._log(operation, record, started, outcome=exc.code)
            raise
        except BaseException:
            self._circuit.release()
            self._log(operation, record, started, outcome="aborted")
            raise
        else:
            self._circuit.record_success()
            self._log(operation, record, started, outcome="ok")

    def _log(self, operation: str, record: CallRecord, started: float, *, outcome: str) -> None:
        method = log.info if outcome == "ok" else log.warning
        method(
            "llm_call",
            operation=operation,
            provider=self.provider,
            **record.log_fields(),
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            outcome=outcome,
            circuit=self._circuit.state,
            **record.extra,
        )


def create_llm_client(settings: Settings) -> LLMClient | None:
    """The real-LLM client, or None when settings pick the local provider."""
    if settings.llm_provider == "local":
        return None
    return LLMClient(settings)


class _JsonSchemaUnsupported(Exception):
    """The server refused `response_format: json_schema` (llama-cpp-python, older vLLM, ...)."""


def _content(completion: ChatCompletion) -> str:
    if not completion.choices:
        return ""
    return completion.choices[0].message.content or ""


def _delta(chunk: ChatCompletionChunk) -> str | None:
    if not chunk.choices:
        return None
    return chunk.choices[0].delta.content or None
