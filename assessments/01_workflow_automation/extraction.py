"""Lead field extraction: name, email, phone and budget, by an LLM or by local rules.

The public API (also used by Assessment 3's EntityExtractor, so there is one
implementation of the idea):

- `LeadFields` — the four fields, validated and normalised.
- `extract_fields_local(text, explicit=..., default_region=...)` — rules and
  maintained libraries only; returns the fields and notes on what was dropped.
- `extract_fields(text=..., explicit=..., llm=..., settings=...)` — the LLM
  (`prompts/extract.txt`, JSON mode) when there is one, else the local rules;
  either way the result goes through the same validation.
- `extract_candidates` (the extraction step: LLM or rules, unvalidated) and
  `resolve_fields` (the validation step), which `extract_fields` chains; the
  pipeline calls them separately to audit each step.
- The parsers on their own: `parse_budget` / `find_budget` (`budget.py`),
  `find_email`, `find_phone`, `normalise_email`, `normalise_phone`
  (`contacts.py`), `find_name`, `normalise_name` (`names.py`).

Validation rules: a field the lead sent explicitly wins over one found in the
message, unless it is invalid; an invalid email or phone is dropped with the
reason in the notes and never stored as if valid."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, Field, field_validator

from core.ai_step import LOCAL_PROVIDER, StepOutcome, run_step
from core.config import Settings
from core.llm_client import LLMClient
from core.prompts import load_prompt

from .budget import Budget, find_budget, parse_budget
from .contacts import (
    DEFAULT_REGION,
    find_email,
    find_phone,
    first_phone,
    normalise_email,
    normalise_phone,
    phone_matches,
)
from .names import find_name, normalise_name

__all__ = [
    "DEFAULT_REGION",
    "Budget",
    "LLMExtractedFields",
    "LeadFields",
    "extract_candidates",
    "extract_fields",
    "extract_fields_local",
    "find_budget",
    "find_email",
    "find_fields",
    "find_name",
    "find_phone",
    "normalise_email",
    "normalise_name",
    "normalise_phone",
    "parse_budget",
    "resolve_fields",
]

LOCAL_EXTRACTOR_MODEL = "rules+phonenumbers+email-validator"
PROMPTS_DIR = Path(__file__).parent / "prompts"


class LeadFields(BaseModel):
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    budget: float | None = None


FIELD_NAMES = tuple(LeadFields.model_fields)


class LLMExtractedFields(BaseModel):
    """What the LLM must return; a budget given as text ("50k") is parsed like the rules do."""

    name: str | None = Field(None, description="The sender's full name, or null")
    email: str | None = Field(None, description="The sender's email address, or null")
    phone: str | None = Field(None, description="The sender's phone number as written, or null")
    budget: float | None = Field(None, description="The budget as one number, or null")

    @field_validator("budget", mode="before")
    @classmethod
    def _budget_from_text(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_budget(value) if value.strip() else None
        return value


def find_fields(text: str, *, default_region: str = DEFAULT_REGION) -> LeadFields:
    """What the rules find in the message alone (no explicit fields, no validation notes)."""
    # Found once: the first is the lead's phone, and all are masked before reading the budget.
    phones = phone_matches(text, default_region)
    return LeadFields(
        name=find_name(text),
        email=find_email(text),
        phone=first_phone(phones),
        budget=parse_budget(text, default_region=default_region, phones=phones),
    )


def resolve_fields(
    found: LeadFields,
    explicit: Mapping[str, str | None] | None = None,
    *,
    default_region: str = DEFAULT_REGION,
) -> tuple[LeadFields, list[str]]:
    """Explicit fields win unless invalid; every value is validated; drops are noted."""
    explicit = explicit or {}
    notes: list[str] = []
    validators = {
        "name": normalise_name,
        "email": normalise_email,
        "phone": lambda value: normalise_phone(value, default_region=default_region),
    }
    resolved: dict[str, object] = {}
    for field, validate in validators.items():
        resolved[field] = None
        sources = (("explicit", explicit.get(field)), ("extracted", getattr(found, field)))
        for source, value in sources:
            if value is None or not str(value).strip():
                continue
            try:
                resolved[field] = validate(str(value))
                break
            except ValueError as exc:
                notes.append(f"{field} dropped ({source} value invalid): {exc}")
    resolved["budget"] = _valid_budget(found.budget, notes)
    return LeadFields.model_validate(resolved), notes


def _valid_budget(budget: float | None, notes: list[str]) -> float | None:
    if budget is None:
        return None
    if not math.isfinite(budget) or budget < 0:
        notes.append(f"budget dropped (extracted value invalid): {budget}")
        return None
    return round(float(budget), 2)


def extract_fields_local(
    text: str,
    *,
    explicit: dict[str, str | None] | None = None,
    default_region: str = DEFAULT_REGION,
) -> tuple[LeadFields, list[str]]:
    """Rules only: the fields (explicit ones first, all validated) and notes on drops."""
    return resolve_fields(
        find_fields(text, default_region=default_region), explicit, default_region=default_region
    )


async def extract_candidates(
    *,
    text: str,
    llm: LLMClient | None,
    settings: Settings,
    default_region: str | None = None,
) -> StepOutcome[LeadFields]:
    """Fields found in the message, by the LLM when there is one, else (or on failure) the rules.

    The values are not yet validated: `resolve_fields` does that for both. Phone
    numbers without a country code are read in `default_region`, else the setting's.
    """
    region = default_region or settings.PHONE_DEFAULT_REGION

    async def local() -> StepOutcome[LeadFields]:
        found = find_fields(text, default_region=region)
        return StepOutcome(
            value=found,
            provider=LOCAL_PROVIDER,
            model=LOCAL_EXTRACTOR_MODEL,
            raw_output=found.model_dump_json(),
        )

    async def with_llm() -> StepOutcome[LeadFields]:
        assert llm is not None
        prompt = load_prompt(PROMPTS_DIR, "extract.txt")
        result = await llm.complete_json(
            system=prompt.text,
            user=text,
            schema=LLMExtractedFields,
            model=settings.OPENAI_CHAT_MODEL,
        )
        return StepOutcome.from_llm(
            result,
            LeadFields.model_validate(result.value.model_dump()),
            prompt_version=prompt.version,
            attempts=result.attempts,
        )

    return await run_step("extract_fields", llm=with_llm if llm else None, local=local)


async def extract_fields(
    *,
    text: str,
    explicit: dict[str, str | None] | None,
    llm: LLMClient | None,
    settings: Settings,
    default_region: str | None = None,
) -> StepOutcome[LeadFields]:
    """Extract and validate; the outcome's `extra["notes"]` says what was dropped and why."""
    region = default_region or settings.PHONE_DEFAULT_REGION
    outcome = await extract_candidates(text=text, llm=llm, settings=settings, default_region=region)
    fields, notes = resolve_fields(outcome.value, explicit, default_region=region)
    outcome.value = fields
    outcome.extra["notes"] = notes
    return outcome
