"""One AI step, two implementations: the real LLM and the embedded local one.

Every AI step of every assessment (classify intent, extract fields, answer,
rewrite, qualify, reply) runs through `run_step`. Which implementation runs is
decided here from one question — is there an LLM client? — and when the LLM
fails after its retries (or its circuit is open) the local implementation
answers instead, and the outcome says so. Nothing is lost and nothing 500s.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import structlog

from core.exceptions import LLMException
from core.llm_result import LLMResult, LLMUsage
from core.metrics import AI_STEP_RUNS, LLM_COST, LLM_TOKENS
from core.telemetry import traced_step

T = TypeVar("T")
log = structlog.get_logger(__name__)

LOCAL_PROVIDER = "local"


@dataclass
class StepOutcome(Generic[T]):
    """What one implementation produced, with enough provenance to audit it."""

    value: T
    provider: str
    model: str
    raw_output: str | None = None
    usage: LLMUsage | None = None
    fallback: bool = False
    fallback_reason: str | None = None
    latency_ms: float = 0.0
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_llm(
        cls, result: LLMResult[Any], value: T, *, prompt_version: str | None = None, **extra: Any
    ) -> StepOutcome[T]:
        """`value`, read from an LLM call's `result`, with the call's provenance."""
        if prompt_version is not None:
            extra["prompt_version"] = prompt_version
        extra["llm_attempts"] = list(result.attempt_log)
        return cls(
            value=value,
            provider=result.provider,
            model=result.model,
            raw_output=result.raw,
            usage=result.usage,
            extra=extra,
        )


@traced_step
async def run_step(
    name: str,
    *,
    llm: Callable[[], Awaitable[StepOutcome[T]]] | None,
    local: Callable[[], Awaitable[StepOutcome[T]]],
) -> StepOutcome[T]:
    """Run the LLM implementation when there is one, else (or on failure) the local one."""
    started = time.perf_counter()
    if llm is not None:
        try:
            outcome = await llm()
        except LLMException as exc:
            log.warning("ai_step_fallback", step=name, reason=exc.code)
            AI_STEP_RUNS.labels(step=name, provider="openai", outcome="failed").inc()
            outcome = await local()
            outcome.fallback = True
            outcome.fallback_reason = f"{exc.code}: {exc.message}"
            if exc.attempt_log:
                outcome.extra["llm_attempts"] = list(exc.attempt_log)
        else:
            AI_STEP_RUNS.labels(step=name, provider=outcome.provider, outcome="ok").inc()
            _meter(outcome)
    else:
        outcome = await local()
        AI_STEP_RUNS.labels(step=name, provider=outcome.provider, outcome="ok").inc()
    outcome.latency_ms = round((time.perf_counter() - started) * 1000, 2)
    return outcome


def _meter(outcome: StepOutcome) -> None:
    if outcome.usage is None:
        return
    LLM_TOKENS.labels(model=outcome.model, kind="prompt").inc(outcome.usage.prompt_tokens)
    LLM_TOKENS.labels(model=outcome.model, kind="completion").inc(outcome.usage.completion_tokens)
    if outcome.usage.cost_usd:
        LLM_COST.labels(model=outcome.model).inc(outcome.usage.cost_usd)
