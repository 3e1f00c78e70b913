"""EntityExtractor: name, email, phone (E.164) and budget, by Assessment 1's extraction."""

from __future__ import annotations

import importlib
from typing import Any

from core.ai_step import StepOutcome
from core.llm_client import LLMClient

from .base import AIAgent

# Imported with importlib: the package name starts with a digit.
workflow = importlib.import_module("assessments.01_workflow_automation")


class EntityExtractor(AIAgent[str, Any]):
    """Assessment 1's `extract_fields` as an agent; its output is Assessment 1's `LeadFields`."""

    name = "extract"

    def __init__(self, *, llm: LLMClient | None, model: str, default_region: str) -> None:
        super().__init__(llm=llm, model=model)
        self.default_region = default_region

    async def run(self, input: str) -> StepOutcome[Any]:
        # Assessment 1 falls back from the LLM to its rules by itself, and the outcome says so.
        return await workflow.extract_fields(  # type: ignore[no-any-return]
            input, llm=self.llm, model=self.model, default_region=self.default_region
        )
