"""EntityExtractor: name, email, phone (E.164) and budget, by Assessment 1's extraction."""

from __future__ import annotations

from core.ai_step import StepOutcome
from core.config import Settings
from core.llm_client import LLMClient

from .base import AIAgent
from .extraction import extract_fields
from .schemas import ExtractedFields


class EntityExtractor(AIAgent[str, ExtractedFields]):
    name = "extract"

    def __init__(self, *, llm: LLMClient | None, model: str, settings: Settings) -> None:
        super().__init__(llm=llm, model=model)
        # Assessment 1 reads its model from settings; this agent's model is set per agent.
        self.settings = settings.model_copy(update={"OPENAI_CHAT_MODEL": model})

    async def run_llm(self, input: str) -> StepOutcome[ExtractedFields]:
        # Assessment 1 falls back to its rules by itself; the outcome says so.
        return await self._extract(input, llm=self.llm)

    async def run_local(self, input: str) -> StepOutcome[ExtractedFields]:
        return await self._extract(input, llm=None)

    async def _extract(self, text: str, *, llm: LLMClient | None) -> StepOutcome[ExtractedFields]:
        outcome = await extract_fields(text=text, explicit=None, llm=llm, settings=self.settings)
        return StepOutcome(
            value=ExtractedFields.model_validate(outcome.value.model_dump()),
            provider=outcome.provider,
            model=outcome.model,
            raw_output=outcome.raw_output,
            usage=outcome.usage,
            fallback=outcome.fallback,
            fallback_reason=outcome.fallback_reason,
            extra=outcome.extra,
        )
