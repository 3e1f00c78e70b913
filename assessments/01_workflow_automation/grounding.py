"""Is an extracted value in the input? What an LLM returns must be, normalised, in the lead.

A model asked for a lead's budget or phone number sometimes writes one the lead
never gave (a support request "with" a budget of 50000). `InputEvidence` reads
once what the input states — the message and the fields the lead sent — and
`holds(field, value)` says whether a validated value is among it:

- email: the same address, normalised (`contacts.normalise_email`);
- phone: the number's national digits, in one run of digits and separators
  ("(415) 555-0134" holds `+14155550134`);
- budget: one of the amounts stated (`budget.stated_amounts`: "50k" holds 50000,
  "10-20k" holds 10000, 15000 and 20000), phone numbers and emails masked;
- name: every word of it, ignoring case and accents.

The rules never need the check: they only return what they found in the text.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers

from .budget import stated_amounts
from .contacts import DEFAULT_REGION, valid_emails

_DIGIT_RUN = re.compile(r"\+?\d[\d\s().\-/]*\d")
_WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True)
class InputEvidence:
    emails: frozenset[str]
    digit_runs: tuple[str, ...]
    amounts: tuple[float, ...]
    words: frozenset[str]

    @classmethod
    def of(cls, parts: Iterable[object], *, default_region: str = DEFAULT_REGION) -> InputEvidence:
        """What the message and the explicit fields (`parts`, None for an absent one) state."""
        text = "\n".join(str(part) for part in parts if part is not None)
        return cls(
            emails=frozenset(valid_emails(text)),
            digit_runs=tuple(re.sub(r"\D", "", run) for run in _DIGIT_RUN.findall(text)),
            amounts=tuple(stated_amounts(text, default_region=default_region)),
            words=frozenset(_words(text)),
        )

    def holds(self, field: str, value: object) -> bool:
        """Whether the validated `value` of `field` is stated in the input."""
        if field == "email":
            return value in self.emails
        if field == "phone":
            national = _national_digits(str(value))
            return national is not None and any(national in run for run in self.digit_runs)
        if field == "budget":
            return any(_same_amount(float(value), stated) for stated in self.amounts)  # type: ignore[arg-type]
        if field == "name":
            words = _words(str(value))
            return bool(words) and set(words) <= self.words
        raise ValueError(f"no grounding rule for {field!r}")


def _national_digits(e164: str) -> str | None:
    try:
        return phonenumbers.national_significant_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None


def _same_amount(value: float, stated: float) -> bool:
    return math.isclose(value, stated, rel_tol=1e-6, abs_tol=0.01)


def _words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(char for char in folded if not unicodedata.combining(char))
    return _WORD.findall(plain)
