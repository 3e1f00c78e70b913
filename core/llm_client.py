"""The async client for real LLMs: the official `openai` SDK behind one retry layer.

Works with OpenAI and any OpenAI-compatible server (`OPENAI_BASE_URL`: vLLM,
Ollama, llama.cpp). Every call goes through a circuit breaker, retries
transport failures (connection errors, timeouts, 429, 5xx) with tenacity (the
SDK's own retries are off), records token usage and an estimated cost, and
fails with an `LLMException` whose code says why. JSON answers adapt to the
server (`core/structured_output.py`): a refused `json_schema` is asked again at
once in JSON mode, and an answer that does not validate gets one re-ask with
its validation errors. Each HTTP request is noted in the result's
`attempt_log` for the caller's audit. Prompts and completions are never
logged: they carry personal data.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import httpx
import openai
import structlog
from openai import AsyncOpenAI, AsyncStream
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.completion_usage import CompletionUsage
from pydantic import BaseModel, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from core.config import Settings
from core.exceptions import LLMException
from core.structured_output import (
    MAX_RAW_IN_ATTEMPT,
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
CircuitState = Literal["closed", "open", "half_open"]
# How a request asked for its answer: the two structured-output modes, plain text, a stream.
RequestMode = Literal["json_schema", "json_object", "text", "stream"]

# USD per 1M (input, output) tokens.
PRICES_PER_MILLION: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-nano": (0.10, 0.40),
}
_DATE_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")
# A breaker protects against an unusable provider, not against one bad prompt.
_NOT_PROVIDER_FAILURES = {"llm_invalid_output", "llm_bad_request"}
# Errors raised mid-stream come straight from httpx, not wrapped by the SDK.
_PROVIDER_ERRORS = (openai.OpenAIError, httpx.TransportError)


@dataclass(frozen=True)
class LLMUsage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float | None

    def __add__(self, other: LLMUsage) -> LLMUsage:
        cost = None
        if self.cost_usd is not None and other.cost_usd is not None:
            cost = round(self.cost_usd + other.cost_usd, 8)
        return LLMUsage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            cost_usd=cost,
        )


@dataclass(frozen=True)
class LLMResult(Generic[T]):
    """One answer. `attempts` counts every HTTP request made for it (retries, re-ask);
    `attempt_log` says what each one was sent and what came of it (for audits, never logs)."""

    value: T
    raw: str
    model: str
    usage: LLMUsage
    attempts: int
    repaired: bool = False
    provider: str = "openai"
    attempt_log: tuple[dict[str, Any], ...] = ()


def estimate_cost(*, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """USD cost for a known OpenAI model (dated snapshots included), else None."""
    prices = PRICES_PER_MILLION.get(_DATE_SUFFIX.sub("", model))
    if prices is None:
        return None
    input_price, output_price = prices
    return round((prompt_tokens * input_price + completion_tokens * output_price) / 1_000_000, 8)


def _usage(model: str, usage: CompletionUsage | None) -> LLMUsage:
    if usage is None:
        return LLMUsage(prompt_tokens=0, completion_tokens=0, total_tokens=0, cost_usd=None)
    return LLMUsage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        cost_usd=estimate_cost(
            model=model,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
        ),
    )


class CircuitBreaker:
    """Closed → open after N consecutive failed calls → half-open after a cool-down.

    Half-open lets one trial call through: success closes, failure re-opens.
    """

    def __init__(
        self, *, failure_threshold: int, reset_seconds: float, clock: Callable[[], float]
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> CircuitState:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.reset_seconds:
            return "half_open"
        return "open"

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def before_call(self) -> None:
        state = self.state
        if state == "open" or (state == "half_open" and self._trial_running):
            retry_in = max(0.0, self.reset_seconds - (self._clock() - (self._opened_at or 0.0)))
            raise LLMException(
                "The LLM provider is failing; calls are paused for a cool-down",
                code="llm_circuit_open",
                status_code=503,
                details={"retry_in_seconds": round(retry_in, 3)},
            )
        if state == "half_open":
            self._trial_running = True

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_running = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._trial_running or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
        self._trial_running = False

    def release(self) -> None:
        """End a call that neither succeeded nor failed (e.g. cancelled)."""
        self._trial_running = False


@dataclass
class _CallRecord:
    attempts: int = 0
    usage: LLMUsage | None = None
    model: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    attempt_log: list[dict[str, Any]] = field(default_factory=list)

    def add(self, *, model: str, usage: LLMUsage) -> None:
        self.model = model
        self.usage = usage if self.usage is None else self.usage + usage

    def note(self, mode: RequestMode, outcome: str, exc: BaseException | None = None) -> None:
        entry: dict[str, Any] = {"mode": mode, "outcome": outcome}
        if isinstance(exc, openai.APIStatusError):
            entry["status_code"] = exc.status_code
        if exc is not None:
            entry["error"] = type(exc).__name__
        self.attempt_log.append(entry)

    def note_invalid(self, raw: str, error: ValidationError) -> None:
        """The last answer arrived but did not validate: keep why, and what it said."""
        self.attempt_log[-1].update(
            outcome="invalid", error=validation_brief(error), raw=raw[:MAX_RAW_IN_ATTEMPT]
        )


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
            return self._result(value=value, raw=raw, record=record, repaired=repaired)

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
            return self._result(value=text, raw=text, record=record)

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
                        _note_stream_chunk(record, chunk, model)
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
                    _note_stream_chunk(record, chunk, model)
                    if delta := _delta(chunk):
                        yield delta
            except _PROVIDER_ERRORS as exc:
                record.attempt_log[-1].update(outcome="interrupted", error=type(exc).__name__)
                raise as_llm_exception(exc, model=model, attempts=record.attempts) from None
            finally:
                await stream.close()

    async def aclose(self) -> None:
        if self._owns_http_client:
            await self._openai.close()

    async def _json_request(
        self,
        record: _CallRecord,
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
        record: _CallRecord,
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
        record.add(model=served_by, usage=_usage(served_by, completion.usage))
        return completion

    async def _retrying(
        self,
        send: Callable[[], Awaitable[R]],
        *,
        record: _CallRecord,
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
                    except _PROVIDER_ERRORS as exc:
                        refused = structured and is_response_format_refusal(exc)
                        record.note(mode, "refused" if refused else "failed", exc)
                        raise
                    record.note(mode, "ok")
        except _PROVIDER_ERRORS as exc:
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
    async def _guarded(self, operation: str, model: str) -> AsyncIterator[_CallRecord]:
        """Circuit check, breaker bookkeeping and the one log line of a call."""
        started = time.perf_counter()
        record = _CallRecord(model=model)
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

    def _log(self, operation: str, record: _CallRecord, started: float, *, outcome: str) -> None:
        usage = record.usage
        method = log.info if outcome == "ok" else log.warning
        method(
            "llm_call",
            operation=operation,
            provider=self.provider,
            model=record.model,
            attempts=record.attempts,
            # Modes and outcomes only: an attempt's raw answer carries personal data.
            requests=[f"{entry['mode']}:{entry['outcome']}" for entry in record.attempt_log],
            # Nested so the log masker's "token" rule does not redact counts.
            usage={
                "prompt": usage.prompt_tokens if usage else 0,
                "completion": usage.completion_tokens if usage else 0,
                "total": usage.total_tokens if usage else 0,
            },
            cost_usd=usage.cost_usd if usage else None,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            outcome=outcome,
            circuit=self._circuit.state,
            **record.extra,
        )

    def _result(
        self, *, value: T, raw: str, record: _CallRecord, repaired: bool = False
    ) -> LLMResult[T]:
        usage = record.usage or LLMUsage(
            prompt_tokens=0, completion_tokens=0, total_tokens=0, cost_usd=None
        )
        return LLMResult(
            value=value,
            raw=raw,
            model=record.model,
            usage=usage,
            attempts=record.attempts,
            repaired=repaired,
            provider=self.provider,
            attempt_log=tuple(record.attempt_log),
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


def _note_stream_chunk(record: _CallRecord, chunk: ChatCompletionChunk, model: str) -> None:
    if chunk.usage is not None:
        served_by = chunk.model or model
        record.add(model=served_by, usage=_usage(served_by, chunk.usage))


def openai_sdk(settings: Settings, *, http_client: httpx.AsyncClient | None) -> AsyncOpenAI:
    """The SDK client of both OpenAI clients (chat, embeddings): no retries of its own."""
    api_key = settings.OPENAI_API_KEY.get_secret_value() if settings.OPENAI_API_KEY else ""
    return AsyncOpenAI(
        # Local OpenAI-compatible servers take any key, but the SDK insists on one.
        api_key=api_key or "not-needed",
        base_url=settings.OPENAI_BASE_URL,
        # A short connect timeout finds a server that is down fast; the read timeout is the
        # longest wait for the next bytes, i.e. for a whole answer when it is not streamed.
        timeout=httpx.Timeout(
            settings.LLM_READ_TIMEOUT_SECONDS, connect=settings.LLM_CONNECT_TIMEOUT_SECONDS
        ),
        max_retries=0,
        http_client=http_client,
    )


class RetryPolicy:
    """The provider retry rule of both OpenAI clients: transient errors only (see
    `is_transient_error`), `LLM_MAX_ATTEMPTS` in all, waiting as long as Retry-After
    asks (capped at `LLM_RETRY_WAIT_MAX_SECONDS`), else a jittered exponential backoff."""

    def __init__(self, settings: Settings) -> None:
        self.max_attempts = max(1, settings.LLM_MAX_ATTEMPTS)
        self.wait_max = settings.LLM_RETRY_WAIT_MAX_SECONDS
        self._backoff = wait_random_exponential(
            multiplier=settings.LLM_RETRY_WAIT_INITIAL_SECONDS, max=self.wait_max
        )

    def retrying(self, *, structured: bool = False) -> AsyncRetrying:
        """`structured`: the request asks for a `response_format`, which a server may refuse."""

        def transient(exc: BaseException) -> bool:
            if structured and is_response_format_refusal(exc):
                return False
            return is_transient_error(exc)

        return AsyncRetrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self.wait,
            retry=retry_if_exception(transient),
            reraise=True,
        )

    def wait(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = retry_after_seconds(exc)
        if retry_after is not None:
            return min(retry_after, self.wait_max)
        return self._backoff(retry_state)


def is_transient_error(exc: BaseException) -> bool:
    if isinstance(exc, openai.RateLimitError):
        return not _is_quota_error(exc)
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 408 or exc.status_code >= 500
    return isinstance(exc, openai.APIConnectionError | httpx.TransportError)


def _is_quota_error(exc: openai.APIStatusError) -> bool:
    return "insufficient_quota" in (exc.code, exc.type)


def retry_after_seconds(exc: BaseException | None) -> float | None:
    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            return max(0.0, float(ms) / 1000)
        if (seconds := headers.get("retry-after")) is not None:
            return max(0.0, float(seconds))
    except ValueError:
        return None  # an HTTP date: fall back to exponential backoff
    return None


def as_llm_exception(
    exc: Exception, *, model: str, attempts: int, structured: bool = False
) -> LLMException:
    # The provider's message can echo part of the API key, so it is never passed on.
    details: dict[str, Any] = {
        "provider": "openai",
        "model": model,
        "error_type": type(exc).__name__,
        "attempts": attempts,
    }
    if isinstance(exc, openai.APIStatusError):
        details["status_code"] = exc.status_code
        if exc.code:
            details["provider_code"] = exc.code
    if structured and is_response_format_refusal(exc):
        code, message = "llm_bad_request", "The LLM server refused the response_format"
    else:
        code, message = _classify(exc, attempts)
    return LLMException(message, code=code, details=details)


def _classify(exc: Exception, attempts: int) -> tuple[str, str]:
    tries = f"after {attempts} attempt{'s' if attempts != 1 else ''}"
    if isinstance(exc, openai.RateLimitError) and _is_quota_error(exc):
        return "llm_quota_exceeded", "The LLM provider account has run out of quota"
    if isinstance(exc, openai.RateLimitError):
        return "llm_rate_limited", f"The LLM provider is rate limiting requests ({tries})"
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException) or (
        isinstance(exc, openai.APIStatusError) and exc.status_code == 408
    ):
        return "llm_timeout", f"The LLM provider did not answer in time ({tries})"
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return "llm_auth_failed", "The LLM provider rejected the API key"
    if isinstance(exc, openai.APIStatusError) and exc.status_code < 500:
        return "llm_bad_request", f"The LLM provider refused the request ({exc.status_code})"
    return "llm_unavailable", f"The LLM provider is unavailable ({tries})"
