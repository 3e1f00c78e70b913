"""LeadQualifier: a 0..1 score with reasons (budget, authority, need, timing)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from core.ai_step import LOCAL_PROVIDER, StepOutcome
from core.prompts import load_prompt

from .base import AIAgent
from .rubric import RUBRIC_MODEL, combine, qualify_locally
from .schemas import LeadProfile, Qualification

PROMPTS = Path(__file__).parent / "prompts"


class Judgement(BaseModel):
    score: float = Field(ge=0, le=1)
    reason: str = Field(max_length=400)


class LLMQualification(BaseModel):
    budget: Judgement
    authority: Judgement
    need: Judgement
    timing: Judgement


class LeadQualifier(AIAgent[LeadProfile, Qualification]):
    name = "qualify"

    async def run_llm(self, input: LeadProfile) -> StepOutcome[Qualification]:
        assert self.llm is not None
        system = load_prompt(PROMPTS, "qualify.txt")
        user = load_prompt(PROMPTS, "qualify_user.txt").render(
            lead=input.model_dump_json(exclude_none=True, exclude={"ai_score", "ai_reasons"})
        )
        result = await self.llm.complete_json(
            system=system.text, user=user, schema=LLMQualification, model=self.model
        )
        judged = result.value.model_dump()
        qualification = combine(
            {name: j["score"] for name, j in judged.items()},
            {name: j["reason"].strip().rstrip(".") for name, j in judged.items()},
        )
        return StepOutcome.from_llm(result, qualification, prompt_version=system.version)

    async def run_local(self, input: LeadProfile) -> StepOutcome[Qualification]:
        return StepOutcome(
            value=qualify_locally(input), provider=LOCAL_PROVIDER, model=RUBRIC_MODEL
        )
