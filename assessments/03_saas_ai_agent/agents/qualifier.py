"""LeadQualifier: a 0..1 score with reasons (budget, authority, need, timing).

The LLM's judgements are grounded like Assessment 1's extracted fields: a reason
that cites an amount of money the lead never stated ("budget of $50k" for a lead
with no budget) was invented, so that criterion is judged by the local rubric
instead, and the output says which criteria each judge scored.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from pydantic import BaseModel, Field

from core.ai_step import LOCAL_PROVIDER, StepOutcome
from core.prompts import load_prompt

from .base import LLMOrLocalAgent
from .rubric import RUBRIC_MODEL, combine, judge_locally, qualify_locally
from .schemas import CRITERIA, LeadProfile, Qualification

# Imported with importlib: the package name starts with a digit.
workflow = importlib.import_module("assessments.01_workflow_automation")

PROMPTS = Path(__file__).parent / "prompts"


class Judgement(BaseModel):
    score: float = Field(ge=0, le=1)
    reason: str = Field(max_length=400)


class LLMQualification(BaseModel):
    budget: Judgement
    authority: Judgement
    need: Judgement
    timing: Judgement


class LeadQualifier(LLMOrLocalAgent[LeadProfile, Qualification]):
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
        judged = {
            name: (judgement.score, judgement.reason.strip().rstrip("."))
            for name, judgement in dict(result.value).items()
        }
        judged, sources, dropped = ground_judgements(judged, input)
        qualification = combine(
            {name: score for name, (score, _) in judged.items()},
            {name: reason for name, (_, reason) in judged.items()},
        )
        return StepOutcome.from_llm(
            result,
            qualification,
            prompt_version=system.version,
            sources=sources,
            dropped=dropped,
        )

    async def run_local(self, input: LeadProfile) -> StepOutcome[Qualification]:
        return StepOutcome(
            value=qualify_locally(input),
            provider=LOCAL_PROVIDER,
            model=RUBRIC_MODEL,
            extra={"sources": dict.fromkeys(CRITERIA, "rules"), "dropped": []},
        )


def ground_judgements(
    judged: dict[str, tuple[float, str]], lead: LeadProfile
) -> tuple[dict[str, tuple[float, str]], dict[str, str], list[dict[str, str]]]:
    """Each LLM judgement whose reason cites money the lead never stated, judged by the rubric.

    The judgements, who judged each criterion (`llm` or `rules`), and what was dropped.
    """
    judged = dict(judged)
    evidence = workflow.InputEvidence.of([lead.message, lead.company, lead.budget])
    local: dict[str, tuple[float, str]] | None = None
    sources: dict[str, str] = {}
    dropped: list[dict[str, str]] = []
    for name, (_, reason) in judged.items():
        sources[name] = "llm"
        if all(evidence.holds("budget", amount) for amount in workflow.money_amounts(reason)):
            continue
        local = local or judge_locally(lead)
        judged[name], sources[name] = local[name], "rules"
        detail = "its reason cites an amount the lead did not state"
        dropped.append({"field": name, "source": "llm", "reason": "not_in_input", "detail": detail})
    return judged, sources, dropped
