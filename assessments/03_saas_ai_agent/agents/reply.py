"""ReplyAgent: a reply to an email thread, using what the tenant knows about the lead."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from core.ai_step import LOCAL_PROVIDER, StepOutcome
from core.prompts import load_prompt

from .base import LLMOrLocalAgent
from .rubric import qualify_locally
from .schemas import LeadProfile, ReplyInput

# Imported with importlib: the package name starts with a digit.
workflow = importlib.import_module("assessments.01_workflow_automation")

PROMPTS = Path(__file__).parent / "prompts"
TEMPLATE_MODEL = "reply-template-v1"
_QUOTED = re.compile(
    r"^\s*(?:>|On .+ wrote:|-{2,}\s*Original Message|From:\s.+@)", re.IGNORECASE | re.MULTILINE
)
_HEADER = re.compile(r"^\s*(?:from|to|cc|subject|sent|date):.*$", re.IGNORECASE | re.MULTILINE)
_QUESTION = re.compile(r"[^.!?\n]*\?")


class ReplyAgent(LLMOrLocalAgent[ReplyInput, str]):
    name = "reply"

    async def run_llm(self, input: ReplyInput) -> StepOutcome[str]:
        assert self.llm is not None
        system = load_prompt(PROMPTS, "reply.txt")
        lead = input.lead.model_dump_json(exclude_none=True) if input.lead else "{}"
        user = load_prompt(PROMPTS, "reply_user.txt").render(
            sender=input.sender, lead=lead, thread=input.thread
        )
        result = await self.llm.complete_text(system=system.text, user=user, model=self.model)
        return StepOutcome.from_llm(result, result.value.strip(), prompt_version=system.version)

    async def run_local(self, input: ReplyInput) -> StepOutcome[str]:
        template = load_prompt(PROMPTS, "reply_local.txt")
        latest = latest_message(input.thread)
        lead = input.lead or LeadProfile(message=latest)
        name = lead.name or workflow.extract_fields_local(latest)[0].name
        reply = template.render(
            first_name=name.split()[0] if name else "there",
            body="\n\n".join(_paragraphs(lead, latest)),
            sender=input.sender,
        )
        return StepOutcome(
            value=reply,
            provider=LOCAL_PROVIDER,
            model=TEMPLATE_MODEL,
            extra={"prompt_version": template.version},
        )


def latest_message(thread: str) -> str:
    """The newest message of a thread (newest first, as mail clients quote), headers removed."""
    quoted = _QUOTED.search(thread)
    latest = thread[: quoted.start()] if quoted and quoted.start() > 0 else thread
    return _HEADER.sub("", latest).strip()


def _paragraphs(lead: LeadProfile, latest: str) -> list[str]:
    thanks = "Thank you for your message"
    if lead.company:
        thanks += f" and for thinking of us for {lead.company}"
    paragraphs = [thanks + "."]
    questions = [q.strip() for q in _QUESTION.findall(latest)][:2]
    if questions:
        asked = " and ".join(f"“{q}”" for q in questions)
        paragraphs.append(
            f"You asked {asked}. I am checking the details with the team and will come "
            "back to you with a precise answer."
        )
    budget = lead.budget or (workflow.parse_budget(lead.message) if lead.message else None)
    if budget:
        paragraphs.append(
            f"I have noted your budget of about {budget:,.0f}, so we can shape a "
            "proposal that fits it."
        )
    paragraphs.append(_next_step(lead))
    return paragraphs


def _next_step(lead: LeadProfile) -> str:
    score = lead.ai_score if lead.ai_score is not None else qualify_locally(lead).score
    if score >= 0.6:
        return "Would you have 30 minutes this week for a call to go through your requirements?"
    if score >= 0.3:
        return (
            "Could you tell me a little more about your timeline and who else will be "
            "involved in the decision?"
        )
    return "I would be glad to send you an overview: which of your needs should it focus on?"
