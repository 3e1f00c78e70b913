"""One interface for every agent: `await agent.process(context, input)` → `AgentOutput`.

An agent's `run` uses the LLM when there is a client and falls back to local
rules when the LLM fails; the output says which provider and model produced it.
Most agents are written as the two implementations (`LLMOrLocalAgent`), and
`core.ai_step.run_step` picks one; the extractor reuses a step that already does.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from typing import ClassVar, Generic, Literal, TypeVar

import structlog

from core.ai_step import StepOutcome, run_step
from core.llm_client import LLMClient

from ..auth.context import RequestContext

AgentName = Literal["reply", "qualify", "extract"]
InputT = TypeVar("InputT")
OutputT = TypeVar("OutputT")
log = structlog.get_logger(__name__)


@dataclass
class AgentOutput(StepOutcome[OutputT]):
    """A step's outcome, with the agent that produced it."""

    agent: AgentName = field(kw_only=True)

    @classmethod
    def of(cls, agent: AgentName, outcome: StepOutcome[OutputT]) -> AgentOutput[OutputT]:
        provenance = {f.name: getattr(outcome, f.name) for f in fields(StepOutcome)}
        return cls(agent=agent, **provenance)

    @property
    def prompt_version(self) -> str | None:
        return self.extra.get("prompt_version")


class AIAgent(ABC, Generic[InputT, OutputT]):
    name: ClassVar[AgentName]

    def __init__(self, *, llm: LLMClient | None, model: str) -> None:
        self.llm = llm
        self.model = model

    async def process(self, context: RequestContext, input: InputT) -> AgentOutput[OutputT]:
        output = AgentOutput.of(self.name, await self.run(input))
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
    async def run(self, input: InputT) -> StepOutcome[OutputT]:
        """The LLM's answer when there is a client, else (or when it fails) the local one."""


class LLMOrLocalAgent(AIAgent[InputT, OutputT]):
    """An agent written as two implementations; `core.ai_step.run_step` picks one."""

    async def run(self, input: InputT) -> StepOutcome[OutputT]:
        async def with_llm() -> StepOutcome[OutputT]:
            return await self.run_llm(input)

        async def local() -> StepOutcome[OutputT]:
            return await self.run_local(input)

        return await run_step(
            f"agent_{self.name}", llm=with_llm if self.llm is not None else None, local=local
        )

    @abstractmethod
    async def run_llm(self, input: InputT) -> StepOutcome[OutputT]: ...

    @abstractmethod
    async def run_local(self, input: InputT) -> StepOutcome[OutputT]: ...
