"""What both OpenAI clients (chat, embeddings) share: the SDK client, the retry rule, and
the `LLMException` a provider failure becomes.

The SDK's own retries are off: one rule (`RetryPolicy`) retries transport failures
(connection errors, timeouts, 429, 5xx) with tenacity, waiting as long as Retry-After asks.
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
from openai import AsyncOpenAI
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from core.config import Settings
from core.exceptions import LLMException
from core.structured_output import is_response_format_refusal

# Errors raised mid-stream come straight from httpx, not wrapped by the SDK.
PROVIDER_ERRORS = (openai.OpenAIError, httpx.TransportError)


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
