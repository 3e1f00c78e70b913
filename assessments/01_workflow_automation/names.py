"""Names: from a self-introduction ("I'm …", "My name is …") or a signature."""

from __future__ import annotations

import re

MAX_NAME_LENGTH = 120

# A capitalised word ("Anna-Lena", "O'Neil", "McKay") or an initial ("J.").
_NAME_TOKEN = r"(?:[A-ZÀ-ÖØ-Þ](?:[^\W\d_]|['’-])*[a-zß-öø-ÿ]|[A-Z]\.)"
_PARTICLE = r"(?:van|von|de|da|del|der|di|le|la|du|dos|bin|al)"
_FULL_NAME = rf"{_NAME_TOKEN}(?:[ \t]+(?:{_PARTICLE}[ \t]+)?{_NAME_TOKEN}){{0,3}}"
_TWO_PART_NAME = rf"{_NAME_TOKEN}(?:[ \t]+(?:{_PARTICLE}[ \t]+)?{_NAME_TOKEN}){{1,2}}"
_INTRODUCTION = re.compile(
    rf"(?i:\bmy name is|\bmy name's|\bi am|\bi'm|\bi’m|\bthis is|\bname\s*:)[ \t]+"
    rf"(?P<name>{_FULL_NAME})"
)
# Only "my name is" is unambiguous enough to accept a name written in lower case.
_LOWERCASE_INTRODUCTION = re.compile(
    r"(?i:\bmy name is|\bmy name's)[ \t]+(?P<name>[^\W\d_]{2,}(?:[ \t]+[^\W\d_]{2,})?)"
)
_CLOSING = re.compile(
    r"^\s*(?:thanks|thank you|many thanks|thanks again|best|best regards|kind regards|"
    r"warm regards|regards|cheers|sincerely|yours sincerely|yours truly|all the best|"
    r"talk soon|br|thx|mit freundlichen grüßen|viele grüße|beste grüße|cordialement|"
    r"saludos|un saludo|atentamente|met vriendelijke groet|cordiali saluti)"
    r"\s*[,.!-]*\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
# "— Nadia Ferreira, nadia@…" or "-- Sam" ending a line.
_DASH_SIGNATURE = re.compile(rf"(?:^|\s)(?:--|—|–)[ \t]*(?P<name>{_FULL_NAME})[ \t]*(?:,|$)", re.M)
# "Ravi Menon, CTO, ravi@…": a name, a comma, then a job title or contact details.
_NAME_THEN_TITLE = re.compile(
    rf"(?:^|[.!?][ \t]+)(?P<name>{_TWO_PART_NAME})[ \t]*,[ \t]*"
    r"(?=(?:[\w.+-]+@|\+?\d|(?i:ceo|cto|coo|cfo|cio|vp|head|director|manager|founder|"
    r"co-founder|owner|president|partner|lead|engineer|consultant|officer)\b))",
    re.M,
)
_NAME_LINE = re.compile(rf"^(?P<name>{_FULL_NAME})\s*(?:[,|(–—-].*)?$")
_NAME_ONLY_LINE = re.compile(rf"^(?P<name>{_TWO_PART_NAME})$")
# Words that follow "I'm" or end a sentence but are no part of a name.
_NOT_NAME_WORDS = """
    a about also an and available based calling contacting currently curious emailing
    excited from getting glad going happy having here hoping in interested just looking not
    on part planning reaching ready responsible still sure team the thinking trying unable
    using with wondering working writing hello hi hey dear thanks regards best cheers sent
    support sales partnership partnerships customer head ceo cto founder director manager
    inc ltd llc gmbh corp i'm i’m we we're our please
"""
_NOT_NAMES = frozenset(_NOT_NAME_WORDS.split())


def _clean_name(candidate: str) -> str | None:
    tokens = candidate.split()
    while tokens and tokens[-1].lower() in _NOT_NAMES:
        tokens.pop()
    if not tokens or tokens[0].lower() in _NOT_NAMES:
        return None
    name = " ".join(tokens)
    return name if len(name) <= MAX_NAME_LENGTH else None


def find_name(text: str) -> str | None:
    """A name the sender gives: "My name is …", "I'm …", "This is …", or a signature."""
    for match in _INTRODUCTION.finditer(text):
        if name := _clean_name(match.group("name")):
            return name
    lowercase = _LOWERCASE_INTRODUCTION.search(text)
    if lowercase and (name := _clean_name(lowercase.group("name"))):
        return name.title()
    return _signature_name(text)


def _signature_name(text: str) -> str | None:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for index, line in enumerate(lines):
        closing = _CLOSING.match(line)
        if not closing:
            continue
        for candidate in (closing.group("rest"), *lines[index + 1 : index + 2]):
            match = _NAME_LINE.match(candidate.strip()) if candidate else None
            if match and (name := _clean_name(match.group("name"))):
                return name
    for pattern in (_DASH_SIGNATURE, _NAME_THEN_TITLE):
        for match in pattern.finditer(text):
            if name := _clean_name(match.group("name")):
                return name
    # A signature block: the first line of the last paragraph that is only a name.
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    if len(paragraphs) > 1:
        first_line = paragraphs[-1].strip().splitlines()[0].strip()
        if match := _NAME_ONLY_LINE.match(first_line):
            return _clean_name(match.group("name"))
    return None


def normalise_name(value: str) -> str:
    """Whitespace collapsed; raises ValueError when empty, too long, or not a name."""
    name = " ".join(value.split())
    if not name:
        raise ValueError("empty")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"longer than {MAX_NAME_LENGTH} characters")
    if "@" in name or any(ch.isdigit() for ch in name):
        raise ValueError("contains an email address or digits")
    return name
