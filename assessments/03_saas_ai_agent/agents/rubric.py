"""The local lead-qualification rubric: BANT (budget, authority, need, timing), in the open.

Each criterion scores 0..1 from plain rules with the reason written down;
the lead's score is their weighted sum. The LLM qualifier judges the same
four criteria and its score is combined with the same weights, so the two
providers agree on what a score means.
"""

from __future__ import annotations

import importlib
import re

from .schemas import LeadProfile, Qualification

# Imported with importlib: the package name starts with a digit.
workflow = importlib.import_module("assessments.01_workflow_automation")

WEIGHTS = {"budget": 0.30, "authority": 0.25, "need": 0.25, "timing": 0.20}
RUBRIC_MODEL = "bant-rubric-v1"


def _words(*phrases: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(phrases) + r")\b", re.IGNORECASE)


_DECISION_MAKER = _words(
    "ceo",
    "cto",
    "cfo",
    "coo",
    "cio",
    "founder",
    "co-founder",
    "owner",
    "president",
    "vp",
    "vice president",
    "director",
    "head of",
    "partner",
    "chief [a-z]+ officer",
)
_INFLUENCER = _words("manager", "team lead", "procurement", "purchasing", "buyer")
_NEED = _words(
    "need",
    "needs",
    "looking for",
    "require",
    "requirement",
    "want to",
    "interested in",
    "problem",
    "struggl\\w*",
    "pain",
    "replace",
    "migrate",
    "evaluat\\w*",
    "demo",
    "pricing",
    "quote",
    "proposal",
    "solution for",
)
_URGENT = _words("asap", "urgent\\w*", "immediately", "right away", "this week", "today")
_SOON = _words(
    "this month",
    "next month",
    "this quarter",
    "next quarter",
    "q[1-4]",
    "within \\d+ (?:days|weeks)",
    "in \\d+ (?:days|weeks)",
    "by (?:the end of )?(?:"
    "january|february|march|april|may|june|july|august|september|october|november|december)",
)
_VAGUE = _words("soon", "this year", "next year", "eventually", "at some point", "later")
_BUDGET_TALK = _words("budget\\w*", "pricing", "price", "cost", "quote")


def qualify_locally(lead: LeadProfile) -> Qualification:
    judged = judge_locally(lead)
    return combine(
        {name: score for name, (score, _) in judged.items()},
        {name: reason for name, (_, reason) in judged.items()},
    )


def judge_locally(lead: LeadProfile) -> dict[str, tuple[float, str]]:
    """Each criterion's score and reason by the rules."""
    text = " ".join(part for part in (lead.message, lead.company) if part)
    return {
        "budget": _budget(lead, text),
        "authority": _authority(lead, text),
        "need": _need(text),
        "timing": _timing(text),
    }


def combine(scores: dict[str, float], reasons: dict[str, str]) -> Qualification:
    """The weighted score, with one reason per criterion, strongest first."""
    total = sum(WEIGHTS[name] * min(1.0, max(0.0, scores[name])) for name in WEIGHTS)
    ordered = sorted(WEIGHTS, key=lambda name: -scores[name] * WEIGHTS[name])
    return Qualification(
        score=round(total, 2),
        reasons=[f"{name.capitalize()}: {reasons[name]}" for name in ordered],
        criteria={name: round(scores[name], 2) for name in WEIGHTS},
    )


def _budget(lead: LeadProfile, text: str) -> tuple[float, str]:
    amount = (
        lead.budget if lead.budget is not None else (workflow.parse_budget(text) if text else None)
    )
    if amount is None:
        if _BUDGET_TALK.search(text):
            return 0.2, "asks about pricing but states no budget"
        return 0.0, "no budget mentioned"
    if amount >= 50_000:
        return 1.0, f"budget of {amount:,.0f} stated (50,000 or more)"
    if amount >= 10_000:
        return 0.7, f"budget of {amount:,.0f} stated (10,000 to 50,000)"
    return 0.4, f"small budget of {amount:,.0f} stated"


def _authority(lead: LeadProfile, text: str) -> tuple[float, str]:
    if match := _DECISION_MAKER.search(text):
        return 1.0, f"writes as a decision maker ({match.group().lower()})"
    if match := _INFLUENCER.search(text):
        return 0.6, f"writes as an influencer ({match.group().lower()})"
    if lead.company:
        return 0.3, f"works at {lead.company}; role unknown"
    return 0.0, "role and company unknown"


def _need(text: str) -> tuple[float, str]:
    found = sorted({m.group().lower() for m in _NEED.finditer(text)})
    if len(found) >= 2:
        return 1.0, f"clear need ({', '.join(found[:3])})"
    if found:
        return 0.6, f"some need ({found[0]})"
    return 0.0, "no need expressed"


def _timing(text: str) -> tuple[float, str]:
    for pattern, score, label in (
        (_URGENT, 1.0, "urgent"),
        (_SOON, 0.7, "near-term"),
        (_VAGUE, 0.3, "vague"),
    ):
        if match := pattern.search(text):
            return score, f"{label} timeline ({match.group().lower()})"
    return 0.0, "no timeline given"
