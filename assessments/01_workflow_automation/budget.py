"""Budgets: the most money-like amount in a message, as one number.

See `find_budget` for the rules (ranges, bounds, currencies, periods).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from phonenumbers import PhoneNumberMatch

from .contacts import DEFAULT_REGION, mask_contacts

# A bound on the work per message, so a pathological 10,000-character message stays fast.
MAX_AMOUNTS = 50

BudgetKind = Literal["exact", "range", "up_to", "at_least"]


@dataclass(frozen=True)
class Budget:
    amount: float
    currency: str | None
    period: str | None
    kind: BudgetKind
    start: int
    end: int


_SYMBOLS = {"$": "USD", "us$": "USD", "€": "EUR", "£": "GBP", "a$": "AUD", "c$": "CAD"}
_ISO_CODES = "usd|eur|gbp|aud|cad|chf|nzd|sgd|inr|jpy|sek|nok|dkk|zar"
_CODES = {
    **{code: code.upper() for code in _ISO_CODES.split("|")},
    **dict.fromkeys(("dollar", "dollars", "bucks"), "USD"),
    **dict.fromkeys(("euro", "euros"), "EUR"),
    **dict.fromkeys(("pound", "pounds"), "GBP"),
}
_MULTIPLIERS = {
    "k": 1e3,
    "thousand": 1e3,
    "grand": 1e3,
    "m": 1e6,
    "mm": 1e6,
    "mil": 1e6,
    "million": 1e6,
    "bn": 1e9,
    "billion": 1e9,
}
_AMOUNT = re.compile(
    rf"""
    (?P<pre>us\$|a\$|c\$|\$|€|£|\b(?:{_ISO_CODES})\b)?\s?
    (?<![\w.,])(?P<num>
        \d{{1,3}}(?:(?P<sep>[,.\u00a0\u202f ])\d{{3}}(?!\d))(?:(?P=sep)\d{{3}}(?!\d))*
        (?:(?!(?P=sep))[.,]\d{{1,2}})?
        |\d+(?:\.\d+)?
    )
    (?:\s?(?P<mult>k|mm|m|bn|thousand|million|mil|billion|grand)\b)?
    (?:\s?(?P<post>\$|€|£|\b(?:{_ISO_CODES}|dollars?|euros?|pounds?|bucks)\b))?
    """,
    re.IGNORECASE | re.VERBOSE,
)
_PERIOD = re.compile(
    r"^\s*(?:(?:/|per|a|an|each)\s*(?P<unit>month|mo|year|yr|annum|week|quarter)\b"
    r"|(?P<adverb>monthly|annually|yearly|weekly|quarterly)\b)",
    re.IGNORECASE,
)
_PERIOD_NAMES = {
    "month": "month",
    "mo": "month",
    "monthly": "month",
    "year": "year",
    "yr": "year",
    "annum": "year",
    "annually": "year",
    "yearly": "year",
    "week": "week",
    "weekly": "week",
    "quarter": "quarter",
    "quarterly": "quarter",
}
_BUDGET_WORDS = re.compile(
    r"\b(?:budget\w*|spend\w*|invest\w*|pay|paying|price|pricing|cost|afford|allocated|"
    r"funding|funds|cap|ceiling)\b",
    re.IGNORECASE,
)
_COUNTED_NOUN = re.compile(
    r"^[\s+-]*(?:users?|employees?|people|persons?|person|seats?|customers?|records?|rows?|requests?|"
    r"visitors?|members?|contacts?|units?|items?|leads?|messages?|emails?|calls?|"
    r"downloads?|subscribers?|followers?|orders?|transactions?|devices?|licen[cs]es?|"
    r"students?|patients?|staff|sq|square|miles?|km|views?|hits?|tickets?|pages?|"
    r"documents?|files?|agents?|locations?|stores?|sites?)\b",
    re.IGNORECASE,
)
_UP_TO = re.compile(
    r"\b(?:up to|upto|max(?:imum)?|at most|no more than|not more than|under|below|"
    r"less than|capped at|cap of|ceiling of)\s*$",
    re.IGNORECASE,
)
_AT_LEAST = re.compile(
    r"\b(?:at least|min(?:imum)?|more than|over|above|starting at|from)\s*$", re.IGNORECASE
)
_RANGE_JOIN = re.compile(r"^\s*(?:-|–|—|to|and)\s*$", re.IGNORECASE)
_BETWEEN = re.compile(r"\bbetween\s*$", re.IGNORECASE)


@dataclass
class _Amount:
    start: int
    end: int
    number: float
    multiplier: float | None
    currency: str | None

    @property
    def value(self) -> float:
        return self.number * (self.multiplier or 1.0)


def _amounts(text: str) -> list[_Amount]:
    found = []
    for match in itertools.islice(_AMOUNT.finditer(text), MAX_AMOUNTS):
        pre, post = match.group("pre"), match.group("post")
        currency = None
        for marker in (pre, post):
            if marker:
                key = marker.strip().lower()
                currency = _SYMBOLS.get(key) or _CODES.get(key) or currency
        mult = match.group("mult")
        number = _number(match.group("num"), match.group("sep"), has_multiplier=bool(mult))
        if number > 0:
            found.append(
                _Amount(
                    start=match.start(),
                    end=match.end(),
                    number=number,
                    multiplier=_MULTIPLIERS[mult.lower()] if mult else None,
                    currency=currency,
                )
            )
    return found


def _number(text: str, separator: str | None, *, has_multiplier: bool) -> float:
    """Read "50,000", "50.000" and "50 000" as fifty thousand, but "1.250k" as 1.25 thousand."""
    if separator is None:
        return float(text)
    if separator == "." and has_multiplier and text.count(".") == 1:
        return float(text)
    whole, _, decimals = text.partition(",") if separator == "." else text.partition(".")
    whole = re.sub(r"\D", "", whole)
    return float(f"{whole}.{decimals}" if decimals else whole)


def _money_score(text: str, budget: Budget, *, has_multiplier: bool, number: float) -> float:
    """How surely an amount is money: currency > multiplier or period > a nearby budget word."""
    if budget.currency:
        return 3.0
    if _COUNTED_NOUN.match(text[budget.end : budget.end + 30]):
        return 0.0
    if not has_multiplier and 1900 <= number <= 2100:
        return 0.0  # a year
    window = text[max(0, budget.start - 80) : budget.start]
    sentence = re.split(r"[.\n]", window)[-1]
    near_budget_word = bool(_BUDGET_WORDS.search(sentence))
    if has_multiplier or budget.period:
        return 2.0 if near_budget_word else 1.5
    return 1.0 if near_budget_word else 0.0


def _period_after(text: str, end: int) -> str | None:
    match = _PERIOD.match(text[end : end + 20])
    if not match:
        return None
    return _PERIOD_NAMES[(match.group("unit") or match.group("adverb")).lower()]


def _budget_candidates(text: str) -> list[tuple[float, Budget]]:
    """Every amount (ranges joined into one) with its money score."""
    amounts = _amounts(text)
    candidates = []
    index = 0
    while index < len(amounts):
        first = amounts[index]
        second = amounts[index + 1] if index + 1 < len(amounts) else None
        before = text[max(0, first.start - 25) : first.start]
        joiner = text[first.end : second.start] if second else ""
        is_range = bool(second and _RANGE_JOIN.match(joiner))
        if is_range and joiner.strip().lower() == "and":
            is_range = bool(_BETWEEN.search(before))
        if is_range and second is not None:
            low, high = _share_units(first, second)
            amount, last, kind = (low.value + high.value) / 2, high, "range"
        else:
            low = last = first
            amount = first.value
            kind = "up_to" if _UP_TO.search(before) else "exact"
            kind = "at_least" if kind == "exact" and _AT_LEAST.search(before) else kind
        budget = Budget(
            amount=round(amount, 2),
            currency=last.currency or low.currency,
            period=_period_after(text, last.end),
            kind=kind,  # type: ignore[arg-type]
            start=first.start,
            end=last.end,
        )
        score = _money_score(text, budget, has_multiplier=bool(last.multiplier), number=last.number)
        candidates.append((score, budget))
        index += 2 if is_range else 1
    return candidates


def find_budget(
    text: str,
    *,
    default_region: str = DEFAULT_REGION,
    phones: Sequence[PhoneNumberMatch] | None = None,
) -> Budget | None:
    """The most money-like amount in `text`, with ranges resolved to their midpoint.

    Rules: "$50k" → 50000; "50,000 USD" → 50000; "€20K/month" → 20000 (the figure
    as written; the period is reported, never converted); "between 10k and 20k"
    and "10-20k" → 15000 (a multiplier or currency on one end applies to both);
    "up to 30k" → 30000; "at least 10k" → 10000. Currencies are reported, not
    converted. Bare numbers count only next to a budget word ("budget is 8000");
    years and counts ("10k users") never do. The first of equally sure amounts wins.
    Phone numbers (read as in `default_region` when they have no country code) and
    emails are masked first, so their digits are never money (`phones`: the phone
    numbers `contacts.phone_matches` found in `text`, when the caller has them already).
    """
    masked = mask_contacts(text, default_region, phones=phones)
    candidates = [pair for pair in _budget_candidates(masked) if pair[0] > 0]
    if not candidates:
        return None
    return max(candidates, key=lambda pair: pair[0])[1]


def parse_budget(
    text: str,
    *,
    default_region: str = DEFAULT_REGION,
    phones: Sequence[PhoneNumberMatch] | None = None,
) -> float | None:
    budget = find_budget(text, default_region=default_region, phones=phones)
    return budget.amount if budget else None


def money_amounts(text: str, *, default_region: str = DEFAULT_REGION) -> list[float]:
    """Every amount in `text` that reads as money (what `find_budget` chooses from)."""
    masked = mask_contacts(text, default_region)
    return [budget.amount for score, budget in _budget_candidates(masked) if score > 0]


def stated_amounts(
    text: str,
    *,
    default_region: str = DEFAULT_REGION,
    phones: Sequence[PhoneNumberMatch] | None = None,
) -> list[float]:
    """Every amount `text` states, money or not: what a budget read from it may be.

    Each number with its multiplier ("50k" → 50000), both ends of a range with
    their shared units ("10-20k" → 10000 and 20000) and its midpoint (15000).
    Phone numbers and emails are masked first, as for `find_budget`.
    """
    masked = mask_contacts(text, default_region, phones=phones)
    amounts = _amounts(masked)
    values = [amount.value for amount in amounts]
    for low, high in itertools.pairwise(amounts):
        if _RANGE_JOIN.match(masked[low.end : high.start]):
            values += [shared.value for shared in _share_units(low, high)]
    values += [budget.amount for _, budget in _budget_candidates(masked)]
    return values


def _share_units(low: _Amount, high: _Amount) -> tuple[_Amount, _Amount]:
    multiplier = high.multiplier or low.multiplier
    currency = low.currency or high.currency
    low = _Amount(low.start, low.end, low.number, low.multiplier or multiplier, currency)
    high = _Amount(high.start, high.end, high.number, high.multiplier or multiplier, currency)
    return low, high
