"""What one LLM call gave: its result, its token usage and estimated price in USD, and the
record of its HTTP requests (for the caller's audit; never logged whole: it carries
personal data)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import openai
from openai.types.chat import ChatCompletionChunk
from openai.types.completion_usage import CompletionUsage
from pydantic import ValidationError

from core.structured_output import MAX_RAW_IN_ATTEMPT, validation_brief

T = TypeVar("T")
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


def estimate_cost(*, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """USD cost for a known OpenAI model (dated snapshots included), else None."""
    prices = PRICES_PER_MILLION.get(_DATE_SUFFIX.sub("", model))
    if prices is None:
        return None
    input_price, output_price = prices
    return round((prompt_tokens * input_price + completion_tokens * output_price) / 1_000_000, 8)


def usage_of(model: str, usage: CompletionUsage | None) -> LLMUsage:
    """The usage an OpenAI answer reports, priced for `model` (zero when it reports none)."""
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


@dataclass
class CallRecord:
    """What the HTTP requests of one call made: attempts, usage, the model that served it."""

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

    def note_stream_chunk(self, chunk: ChatCompletionChunk, model: str) -> None:
        if chunk.usage is not None:
            served_by = chunk.model or model
            self.add(model=served_by, usage=usage_of(served_by, chunk.usage))

    def result(self, value: T, *, raw: str, provider: str, repaired: bool = False) -> LLMResult[T]:
        usage = self.usage or LLMUsage(
            prompt_tokens=0, completion_tokens=0, total_tokens=0, cost_usd=None
        )
        return LLMResult(
            value=value,
            raw=raw,
            model=self.model,
            usage=usage,
            attempts=self.attempts,
            repaired=repaired,
            provider=provider,
            attempt_log=tuple(self.attempt_log),
        )

    def log_fields(self) -> dict[str, Any]:
        """The call's line in the log: modes and outcomes only, never an attempt's raw answer."""
        usage = self.usage
        return {
            "model": self.model,
            "attempts": self.attempts,
            "requests": [f"{entry['mode']}:{entry['outcome']}" for entry in self.attempt_log],
            # Nested so the log masker's "token" rule does not redact counts.
            "usage": {
                "prompt": usage.prompt_tokens if usage else 0,
                "completion": usage.completion_tokens if usage else 0,
                "total": usage.total_tokens if usage else 0,
            },
            "cost_usd": usage.cost_usd if usage else None,
        }
