"""Lead field extraction: name, email, phone and budget, by an LLM or by local rules.

The public API (also used by Assessment 3's EntityExtractor, so there is one
implementation of the idea):

- `LeadFields` — the four fields, validated and normalised.
- `extract_fields_local(text, explicit=..., default_region=...)` — rules and
  maintained libraries only; returns the fields and notes on what was dropped.
- `extract_fields(text, llm=..., model=..., default_region=..., explicit=...)` —
  the LLM (`prompts/extract.txt`, JSON mode) when there is one, else (or when it
  fails) the local rules; either way the result goes through the same validation.
- `extract_candidates` (the extraction step: LLM or rules, unvalidated) and
  `resolve_fields` (the validation step: `ResolvedFields` with each field's
  source and the values dropped), which `extract_fields` chains; the pipeline
  calls them separately to audit each step.
- The parsers on their own: `parse_budget` / `find_budget` (`budget.py`),
  `find_email`, `find_phone`, `normalise_email`, `normalise_phone`
  (`contacts.py`), `find_name`, `normalise_name` (`names.py`).

Validation rules (`resolve_fields`): a field the lead sent explicitly wins over
one found in the message, unless it is invalid; an invalid value is dropped with
the reason and never stored as if valid. A value the LLM returns must also be
stated in the input (`grounding.py`): one that is not was invented, and is
dropped with the reason `not_in_input`. A field the LLM left empty (or whose
value was dropped) is filled by the rules when they find a valid value. Each
field says where its value came from: `explicit`, `llm` or `rules`."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

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
from .grounding import InputEvidence
from .names import find_name, normalise_name

__all__ = [
    "DEFAULT_REGION",
    "Budget",
    "DroppedValue",
    "FieldSource",
    "ResolvedFields",
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


FieldSource = Literal["explicit", "llm", "rules"]
DropReason = Literal["invalid", "not_in_input"]


@dataclass(frozen=True)
class DroppedValue:
    """A value that was not kept, who gave it, and why."""

    field: str
    source: FieldSource
    reason: DropReason
    detail: str

    def note(self) -> str:
        why = "invalid" if self.reason == "invalid" else "not in the input"
        return f"{self.field} dropped ({self.source} value {why}): {self.detail}"


@dataclass(frozen=True)
class ResolvedFields:
    fields: LeadFields
    sources: dict[str, FieldSource | None]
    dropped: list[DroppedValue]

    @property
    def notes(self) -> list[str]:
        return [drop.note() for drop in self.dropped]

    def audit(self) -> dict[str, Any]:
        return {
            "fields": self.fields.model_dump(),
            "sources": self.sources,
            "dropped": [asdict(drop) for drop in self.dropped],
        }


def resolve_fields(
    found: LeadFields,
    explicit: Mapping[str, object] | None = None,
    *,
    found_by: FieldSource = "rules",
    text: str = "",
    default_region: str = DEFAULT_REGION,
) -> ResolvedFields:
    """Each field from the first valid source: explicit, then `found`, then (after an LLM) the
    rules on `text`. LLM values must be stated in `text` or `explicit`; drops are recorded."""
    explicit = explicit or {}
    validators: dict[str, Callable[[Any], Any]] = {
        "name": normalise_name,
        "email": normalise_email,
        "phone": lambda value: normalise_phone(value, default_region=default_region),
        "budget": _valid_budget,
    }
    order: tuple[FieldSource, ...] = ("explicit", found_by)
    if found_by == "llm":
        order += ("rules",)

    @cache
    def evidence() -> InputEvidence:
        return InputEvidence.of([text, *explicit.values()], default_region=default_region)

    @cache
    def by_rules() -> LeadFields:
        return find_fields(text, default_region=default_region)

    def offered(source: FieldSource, field: str) -> object:
        if source == "explicit":
            return explicit.get(field)
        return getattr(found if source == found_by else by_rules(), field)

    resolved: dict[str, Any] = dict.fromkeys(validators)
    sources: dict[str, FieldSource | None] = dict.fromkeys(validators)
    dropped: list[DroppedValue] = []
    for field, validate in validators.items():
        for source in order:
            value = offered(source, field)
            if value is None or not str(value).strip():
                continue
            try:
                value = validate(value if field == "budget" else str(value))
            except ValueError as exc:
                dropped.append(DroppedValue(field, source, "invalid", str(exc)))
                continue
            if source == "llm" and not evidence().holds(field, value):
                detail = "not found in the lead's message or fields"
                dropped.append(DroppedValue(field, source, "not_in_input", detail))
                continue
            resolved[field], sources[field] = value, source
            break
    return ResolvedFields(LeadFields.model_validate(resolved), sources, dropped)


def _valid_budget(budget: object) -> float:
    amount = float(budget)  # type: ignore[arg-type]
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"not a budget: {amount}")
    return round(amount, 2)


def extract_fields_local(
    text: str,
    *,
    explicit: dict[str, str | None] | None = None,
    default_region: str = DEFAULT_REGION,
) -> tuple[LeadFields, list[str]]:
    """Rules only: the fields (explicit ones first, all validated) and notes on drops."""
    found = find_fields(text, default_region=default_region)
    resolved = resolve_fields(found, explicit, text=text, default_region=default_region)
    return resolved.fields, resolved.notes


async def extract_candidates(
    *,
    text: str,
    llm: LLMClient | None,
    settings: Settings,
    default_region: str,
) -> StepOutcome[LeadFields]:
    """Fields found in the message, by the LLM when there is one, else (or on failure) the rules.

    The values are not yet validated: `resolve_fields` does that for both. Phone
    numbers without a country code are read in `default_region`.
    """
    return await _find_candidates(
        text,
        llm=llm,
        model=settings.OPENAI_CHAT_MODEL,
        default_region=default_region,
    )


async def _find_candidates(
    text: str, *, llm: LLMClient | None, model: str, default_region: str
) -> StepOutcome[LeadFields]:
    async def local() -> StepOutcome[LeadFields]:
        found = find_fields(text, default_region=default_region)
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
            system=prompt.text, user=text, schema=LLMExtractedFields, model=model
        )
        return StepOutcome.from_llm(
            result,
            LeadFields.model_validate(result.value.model_dump()),
            prompt_version=prompt.version,
            attempts=result.attempts,
        )

    return await run_step("extract_fields", llm=with_llm if llm else None, local=local)


async def extract_fields(
    text: str,
    *,
    llm: LLMClient | None,
    model: str,
    default_region: str = DEFAULT_REGION,
    explicit: Mapping[str, object] | None = None,
) -> StepOutcome[LeadFields]:
    """Extract and validate: what other packages call (Assessment 3's EntityExtractor).

    The outcome's `extra` says where each field came from (`sources`), what was
    dropped and why (`dropped`; `notes` in words)."""
    outcome = await _find_candidates(text, llm=llm, model=model, default_region=default_region)
    resolved = resolve_fields(
        outcome.value,
        explicit,
        found_by=found_by(outcome),
        text=text,
        default_region=default_region,
    )
    outcome.value = resolved.fields
    outcome.extra.update(
        sources=resolved.sources,
        dropped=resolved.audit()["dropped"],
        notes=resolved.notes,
    )
    return outcome


def found_by(outcome: StepOutcome[LeadFields]) -> FieldSource:
    """Who found the candidates of an extraction step: the LLM, or the rules it fell back to."""
    return "rules" if outcome.provider == LOCAL_PROVIDER else "llm"
