"""Emails and phone numbers: found in text, validated and normalised.

Emails are checked with `email-validator` (syntax only, no DNS) and lower-cased;
phone numbers are parsed with `phonenumbers` and written in E.164.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import phonenumbers
from email_validator import EmailNotValidError, validate_email

DEFAULT_REGION = "US"
# A bound on the work per message, so a pathological 10,000-character message stays fast.
MAX_PHONE_CANDIDATES = 50

# The lookbehind starts a match only at a word's first character: linear time on any text.
_EMAIL_CANDIDATE = re.compile(
    r"(?<![A-Za-z0-9._%+'-])[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
)


def normalise_email(value: str) -> str:
    """The address validated and lower-cased; raises ValueError when invalid.

    Lower-casing the local part too is what every real mailbox provider does in
    practice, and it makes duplicate detection by email work.
    """
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


def find_email(text: str) -> str | None:
    return next(valid_emails(text), None)


def valid_emails(text: str) -> Iterator[str]:
    """Every valid address in `text`, normalised, in order."""
    for match in _EMAIL_CANDIDATE.finditer(text):
        try:
            yield normalise_email(match.group())
        except ValueError:
            continue


# "0049 30 …": the "00" international prefix most of the world dials, written for "+".
_DOUBLE_ZERO_PREFIX = re.compile(r"(?<![\w+,.])00(?=[1-9])")


def normalise_phone(value: str, *, default_region: str = DEFAULT_REGION) -> str:
    """The number in E.164 (`+14155552671`); raises ValueError when it is not a valid number."""
    try:
        number = phonenumbers.parse(_DOUBLE_ZERO_PREFIX.sub("+", value.strip()), default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number ({exc})") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_matches(
    text: str, default_region: str = DEFAULT_REGION
) -> list[phonenumbers.PhoneNumberMatch]:
    """The valid phone numbers in `text`, in order (at most `MAX_PHONE_CANDIDATES` tried)."""
    # The substitution keeps offsets: "00" and "+ " have the same length.
    text = _DOUBLE_ZERO_PREFIX.sub("+ ", text)
    matcher = phonenumbers.PhoneNumberMatcher(
        text, default_region, leniency=phonenumbers.Leniency.VALID, max_tries=MAX_PHONE_CANDIDATES
    )
    return list(matcher)


def find_phone(text: str, *, default_region: str = DEFAULT_REGION) -> str | None:
    return first_phone(phone_matches(text, default_region))


def first_phone(matches: Sequence[phonenumbers.PhoneNumberMatch]) -> str | None:
    """The first of `phone_matches`, in E.164."""
    for match in matches:
        return phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
    return None


def mask_contacts(
    text: str,
    default_region: str = DEFAULT_REGION,
    *,
    phones: Sequence[phonenumbers.PhoneNumberMatch] | None = None,
) -> str:
    """Blank out emails and phone numbers so their digits are never read as money.

    `phones` are `phone_matches(text, default_region)`, when the caller has them already.
    """
    if phones is None:
        phones = phone_matches(text, default_region)
    chars = list(text)
    spans = [(m.start(), m.end()) for m in _EMAIL_CANDIDATE.finditer(text)]
    spans += [(m.start, m.end) for m in phones]
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)
