"""Is an LLM answer grounded? Every sentence cites a chunk, and every checkable claim of a
sentence is written in a chunk it cites.

A small model invents values with confidence ("Lumen's annual revenue is €5,250") and
takes facts from the wrong place (a page number, a table of a binary format). Meaning
cannot be checked without a model, but the claims that carry most of the risk can,
lexically and deterministically:

- numbers, with their currency and unit or not ("$1,200", "15 seconds", "99.9%"): the
  number, without thousands separators, must be in a cited chunk;
- month names of dates ("March 2025": "march" and "2025");
- identifiers and code-like tokens ("text/plain", "__NOGLOBS__", "v2.1"), and anything
  in quotes or backticks: as written, case aside;
- names: capitalised words inside a sentence ("Elena Marsh", "Dublin").

A sentence with no valid `[n]` marker is unsupported as a whole. `chat.answer_turn`
re-asks the LLM once with the claims it could not find, then falls back to the local
extractive answer (reason `unsupported_claim`); `rewriting.facts_preserved` uses the same
claims to reject a friendlier rewrite that adds one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from .passages import split_sentences

CITATION = re.compile(r"\[(\d{1,3})\]")
_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")
_MONTH = re.compile(
    r"\b(?:january|february|march|april|may|june|july|august|september|october|november"
    r"|december)\b",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"`([^`]+)`|\"([^\"]{2,60})\"")
_TOKEN = re.compile(r"[\w./:-]+")
# "text/plain", "__NOGLOBS__", "v2.1", "2025-03-14": a slash or an underscore, a dot
# between letters or digits, or a hyphen between digits.
_CODE_LIKE = re.compile(r"[/_]|\w\.\w|\d-\d")
_NAME = re.compile(r"(?<=[a-z0-9,;:)] )[A-Z][\w'’&-]*")
# Capitalised for grammar or emphasis, not names (after a colon, in a list…).
_NOT_NAMES = frozenset({"I", "Yes", "No", "The", "This", "It", "However", "Note"})


@dataclass(frozen=True)
class Unsupported:
    sentence: str
    claims: tuple[str, ...]  # claims not found in the cited chunks; () = no citation at all
    # Numbers of other chunks that do hold every claim: the fact may be right, its marker wrong.
    found_in: tuple[int, ...] = ()

    def describe(self) -> str:
        if not self.claims:
            return f'"{self.sentence}" cites no document'
        where = ""
        if self.found_in:
            where = f" (they are in {', '.join(f'[{n}]' for n in self.found_in)})"
        return f'"{self.sentence}": {", ".join(self.claims)} not in the documents it cites{where}'


def claims(sentence: str) -> list[str]:
    """The checkable claims of one sentence, as written."""
    text = CITATION.sub(" ", sentence)
    found = [match.group() for match in _NUMBER.finditer(text)]
    found += [match.group() for match in _MONTH.finditer(text)]
    found += [match.group(1) or match.group(2) for match in _QUOTED.finditer(text)]
    for token in _TOKEN.findall(text):
        token = token.strip(".:-/")
        if _CODE_LIKE.search(token) and not re.fullmatch(r"[\d.,]+", token):
            found.append(token)
    found += [
        name
        for name in _NAME.findall(text)
        if name not in _NOT_NAMES and name.lower() not in ENGLISH_STOP_WORDS
    ]
    return list(dict.fromkeys(claim.strip() for claim in found if claim.strip()))


def unsupported(answer: str, chunks: Sequence[str]) -> list[Unsupported]:
    """The sentences of `answer` that cite no chunk, or claim what their chunks do not say.
    `chunks[n - 1]` is the text that marker `[n]` cites."""
    if not re.search(r"[A-Za-z0-9]", CITATION.sub("", answer)):
        # "[1]" alone: a marker with nothing to cite (a small model's empty answer).
        return [Unsupported(answer.strip() or "(empty answer)", ("no text",))]
    # "Fact. [1] Next fact." — a marker after the full stop belongs to the sentence before it.
    attached = re.sub(r"([.!?])((?:\s*\[\d{1,3}\])+)", r"\2\1", answer.strip())
    problems = []
    for sentence in split_sentences(attached):
        plain = re.sub(r"\s+([.!?,;:])", r"\1", CITATION.sub("", sentence)).strip()
        if not re.search(r"[A-Za-z0-9]", plain):
            continue
        cited = [int(n) for n in CITATION.findall(sentence) if 1 <= int(n) <= len(chunks)]
        if not cited:
            problems.append(Unsupported(plain, ()))
            continue
        source = _normalised(" ".join(chunks[n - 1] for n in cited))
        missing = tuple(claim for claim in claims(sentence) if not _found(claim, source))
        if missing:
            elsewhere = tuple(
                number
                for number, chunk in enumerate(chunks, start=1)
                if number not in cited
                and all(_found(claim, _normalised(chunk)) for claim in missing)
            )
            problems.append(Unsupported(plain, missing, elsewhere))
    return problems


def _found(claim: str, source: str) -> bool:
    claim = _normalised(claim)
    if re.fullmatch(r"[\d.]+", claim):
        return re.search(rf"(?<![\d.]){re.escape(claim)}(?![\d]|\.\d)", source) is not None
    return re.search(rf"(?<!\w){re.escape(claim)}(?!\w)", source) is not None


def _normalised(text: str) -> str:
    """Lower case, typographic quotes and dashes made plain, thousands separators dropped."""
    text = text.lower().replace("’", "'").replace("‑", "-").replace("–", "-")
    return re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
