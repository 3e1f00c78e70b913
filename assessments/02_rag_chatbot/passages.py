"""How a chunk splits into quotable passages, for the extractive answerer and its checks.

A passage is verbatim document text with its Markdown removed: a sentence, a
table row, or a list with the line that introduces it ("four offices:" and its
bullets). A table row is quoted cell by cell under its column names ("Name:
Elena Marsh; Role: Chief Executive Officer (CEO)"): every part is still the
document's own text, and it reads as a statement instead of table markup.
Each passage also carries context that is used only to rank it — the heading
above it, the header row of its table — because "Status: Public beta" says
nothing about Northstar until it is read under "PROJECT NORTHSTAR".
A sentence that opens with a pronoun ("He leads finance…") is quoted after
its heading ("Daniel Kowalski — CFO"), or else (no heading, or one that is a
question) after the sentence before it.
A paragraph that addresses the model ("IGNORE ALL PREVIOUS INSTRUCTIONS…") is
no passage at all: documents are data, and such text states no fact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MIN_WORDS = 3
MAX_LIST_ITEMS = 8
HEADING_MAX_WORDS = 8

_BULLET = re.compile(r"^(?:[-*•]|\d{1,2}[.)])\s+")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{2,}")
_EMPHASIS = re.compile(r"(\*\*|__|`)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
_CLAUSE_END = re.compile(r"(?<=[.!?;:])\s+")
_ABBREVIATIONS = {"a.m", "p.m", "e.g", "i.e", "etc", "inc", "ltd", "co", "mr", "ms", "dr", "st"}
_TO_THE_ASSISTANT = re.compile(
    r"\b(ignore|disregard|forget)\b[^.]{0,40}\b(instructions|prompt|rules)\b"
    r"|\bsystem prompt\b|\byou are now\b|\bdo not cite\b",
    re.IGNORECASE,
)
_BACK_REFERENCES = {"he", "she", "it", "its", "they", "their", "this", "these", "his", "her"}


@dataclass(frozen=True)
class Passage:
    text: str  # quoted as is
    context: str  # heading and table header: read when ranking, never quoted
    position: int

    @property
    def ranking_text(self) -> str:
        return f"{self.context}. {self.text}" if self.context else self.text


def plain(text: str) -> str:
    """Document text as answers quote it: no Markdown, bullets or table edges, single spaces."""
    lines = [_clean_line(line) for line in text.splitlines()]
    return " ".join(line for line in lines if line)


def passages(chunk: str) -> list[Passage]:
    found: list[Passage] = []
    heading = table_header = ""
    columns: list[str] = []
    lines = [line.strip() for line in chunk.splitlines()]
    i = 0
    while i < len(lines):
        line, following = lines[i], lines[i + 1] if i + 1 < len(lines) else ""
        i += 1
        if not line or _TABLE_RULE.match(line):
            if not line:
                table_header, columns = "", []
            continue
        if line.startswith("|"):
            if _TABLE_RULE.match(following):
                table_header, columns = _clean_line(line), _cells(line)
            else:
                context = ". ".join(part for part in (heading, table_header) if part)
                found.append(Passage(_table_row(line, columns), context, len(found)))
            continue
        if _is_heading(line):
            heading = _clean_line(line)
            continue
        if addresses_the_assistant(line):
            continue
        text = _clean_line(line)
        if text.endswith(":"):
            # "Acme Corp operates four offices:" states nothing without its list.
            while i < len(lines) and not lines[i]:
                i += 1
            items = []
            while i < len(lines) and _BULLET.match(lines[i]) and len(items) < MAX_LIST_ITEMS:
                items.append(_clean_line(lines[i]))
                i += 1
            if items:
                found.append(Passage(" ".join([text, *items]), heading, len(found)))
            continue
        previous = ""
        for sentence in split_sentences(text):
            quoted = sentence
            # A heading that asks ("Does Acme support SSO?") names a topic, states nothing.
            antecedent = previous if heading.endswith("?") else (heading or previous)
            if _refers_back(sentence) and antecedent:
                quoted = f"{antecedent.rstrip('.')}. {sentence}"
            if len(quoted.split()) >= MIN_WORDS:
                found.append(Passage(quoted, heading, len(found)))
            previous = sentence
    return found


def split_sentences(text: str) -> list[str]:
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        last_word = text[start : match.start()].rsplit(maxsplit=1)[-1].rstrip(".!?").lower()
        if last_word in _ABBREVIATIONS or len(last_word) == 1:
            continue
        sentences.append(text[start : match.start()].strip())
        start = match.end()
    sentences.append(text[start:].strip())
    return [sentence for sentence in sentences if sentence]


def is_verbatim(quote: str, source: str) -> bool:
    """Every clause of `quote` appears in `source` (both read through `plain`)."""
    haystack = plain(source).lower()
    clauses = [c.strip(" .;:,").lower() for c in _CLAUSE_END.split(plain(quote))]
    return all(clause in haystack for clause in clauses if clause)


def addresses_the_assistant(text: str) -> bool:
    """Text aimed at a model ("ignore all previous instructions…"), not a statement of fact."""
    return bool(_TO_THE_ASSISTANT.search(text))


def _cells(line: str) -> list[str]:
    return [_clean_line(cell) for cell in line.strip().strip("|").split("|")]


def _table_row(line: str, columns: list[str]) -> str:
    """ "Name: Elena Marsh; Role: CEO" when the row fits its header, else the cells as they are."""
    cells = _cells(line)
    if len(cells) != len(columns) or not all(columns):
        return _clean_line(line)
    pairs = zip(columns, cells, strict=True)
    return "; ".join(f"{column}: {cell}" for column, cell in pairs if cell)


def _clean_line(line: str) -> str:
    line = _BULLET.sub("", line.strip().lstrip("#").strip())
    line = _EMPHASIS.sub("", line).strip("| ").strip()
    return re.sub(r"\s+", " ", line)


def _is_heading(line: str) -> bool:
    """A Markdown heading, or a short line that ends without punctuation ("Mission")."""
    if line.startswith("#"):
        return True
    if _BULLET.match(line) and line[0] in "-*•":
        return False
    text = _clean_line(line)
    return (
        0 < len(text.split()) <= HEADING_MAX_WORDS
        and not re.search(r"[.!?:;,)]$", text)
        and ":" not in text
    )


def _refers_back(sentence: str) -> bool:
    first = sentence.split(maxsplit=1)[0].lower().strip(",")
    return first in _BACK_REFERENCES
