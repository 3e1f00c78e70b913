"""One interface for every agent: `await agent.process(context, input)` → `AgentOutput`.

Each agent has an LLM implementation and a local one; `core.ai_step.run_step`
picks the LLM when there is a client and falls back to the local one when the
LLM fails, and the output says which provider and model produced it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, TypeVar

import structlog

from core.ai_step import StepOutcome, run_step
from core.llm_client import LLMClient
from core.llm_result import LLMUsage

from ..auth.context import RequestContext

AgentName = Literal["reply", "qualify", "extract"]
InputT = TypeVar("InputT")
OutputT = TypeVar("OutputT")
log = structlog.get_logger(__name__)


@dataclass
class AgentOutput(Generic[OutputT]):
    agent: AgentName
    value: OutputT
    provider: str
    model: str
    usage: LLMUsage | None
    fallback: bool = False
    fallback_reason: str | None = None
    prompt_version: str | None = None
    latency_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_outcome(cls, agent: AgentName, outcome: StepOutcome[OutputT]) -> AgentOutput[OutputT]:
        return cls(
            agent=agent,
            value=outcome.value,
            provider=outcome.provider,
            model=outcome.model,
            usage=outcome.usage,
            fallback=outcome.fallback,
            fallback_reason=outcome.fallback_reason,
            prompt_version=outcome.extra.get("prompt_version"),
            latency_ms=outcome.latency_ms,
            extra=outcome.extra,
        )


class AIAgent(ABC, Generic[InputT, OutputT]):
    name: ClassVar[AgentName]

    def __init__(self, *, llm: LLMClient | None, model: str) -> None:
        self.llm = llm
        self.model = model

    async def process(self, context: RequestContext, input: InputT) -> AgentOutput[OutputT]:
        async def with_llm() -> StepOutcome[OutputT]:
            return await self.run_llm(input)

        async def local() -> StepOutcome[OutputT]:
            return await self.run_local(input)

        outcome = await run_step(
            f"agent_{self.name}", llm=with_llm if self.llm is not None else None, local=local
        )
        output = AgentOutput.from_outcome(self.name, outcome)
        log.info(
            "agent_run",
            agent=self.name,
            tenant_id=str(context.tenant_id),
            provider=output.provider,
            model=output.model,
            fallback=output.fallback,
        )
        return output

    @abstractmethod
    async def run_llm(self, input: InputT) -> StepOutcome[OutputT]: ...

    @abstractmethod
    async def run_local(self, input: InputT) -> StepOutcome[OutputT]: ...
