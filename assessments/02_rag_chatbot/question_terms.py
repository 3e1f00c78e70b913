"""The terms of a question and of a passage, as the answerability check compares them.

Terms are lower-cased words minus English stop words and question words, cut to a crude
stem ("cancelled" → "cancel"). An acronym meets its spelled-out form in either direction
("CEO" is found in "chief executive officer", and "chief technology officer" in "CTO"):
documents write titles both ways. Also here: the names a question asks about, the kind of
answer it wants (a date, money, a number, a person, a place) and whether a passage holds
one, and the document frequencies of terms over a company's chunks (`TermStats`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from core.vector_chunks import SearchResult

_WORD = re.compile(r"[a-z0-9]+")
_LETTERS = re.compile(r"[A-Za-z][A-Za-z-]*")
_KEY_TERM = re.compile(r"\b[A-Z][A-Za-z0-9&-]*[A-Za-z0-9]")
_ACRONYM = re.compile(r"\b[A-Z][A-Z0-9&]{1,5}s?\b")
DIGITS = re.compile(r"\d[\d,.]*")
CONDITIONAL = re.compile(r"\b(?:if|or|whether or) not\b")
NEGATION = re.compile(r"\b(?:not|never|no|none|nothing|neither|nor|without|cannot)\b|n't\b")
# Words that say what kind of question it is, not what it is about.
_QUESTION_WORDS = frozenset(
    {"does", "did", "doing", "get", "gets", "got", "just", "like", "long", "many", "much", "tell"}
)
_SUFFIXES = ("ational", "ations", "ation", "ings", "ing", "ies", "ied", "ers", "er", "ed", "es")
# Small words an acronym skips: "Chief Officer of Operations" is not "COOO".
_INITIALISM_SKIP = frozenset({"of", "and", "for", "the"})
_LONGEST_ACRONYM = 5

_ANSWER_TYPES = (
    (
        "date",
        r"\b(?:what|which) (?:year|date|day|month|century|decade|time)\b|^\s*when\b"
        r"|\bwhen (?:did|was|were|is|does|do|will|are)\b|\bhow long ago\b",
    ),
    (
        "money",
        r"\bhow much\b[^?]*\b(?:cost|costs|price|priced|pay|paid|charge|charged|fee|fees"
        r"|spend|spent|worth|raise|raised|earn|earned)\b"
        r"|\bwhat (?:is|was|are|were) the (?:price|cost|fee)",
    ),
    (
        "number",
        r"\bhow (?:many|much|long|far|big|large|old|often|tall|high|fast|heavy|wide)\b"
        r"|\bwhat (?:percentage|percent|number|proportion|share|amount)\b",
    ),
    ("person", r"^\s*(?:who|whom|whose)\b|\bwho (?:is|was|are|were|did|does|leads|runs|founded)\b"),
    (
        "place",
        r"^\s*where\b|\bwhere (?:is|was|are|were|did|does|do)\b"
        r"|\b(?:which|what) (?:city|country|state|region|town|continent|island|office)\b",
    ),
)
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty"
    "|fifty|hundred|thousand|million|billion|dozen|half"
)
_HOLDS_TYPE = {
    "date": re.compile(
        r"\b(?:1[0-9]{3}|20[0-9]{2})s?\b|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
        r"[a-z]*\b|\b\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b|\bcentur(?:y|ies)\b"
        r"|\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b",
        re.IGNORECASE,
    ),
    "money": re.compile(
        r"[$€£¥]|\b(?:usd|eur|gbp|chf|dollars?|euros?|pounds?|francs?|cents?)\b|\d", re.IGNORECASE
    ),
    "number": re.compile(rf"\d|\b(?:{_NUMBER_WORDS})\b", re.IGNORECASE),
}
# A capitalised word inside a sentence: a name, for "who" and "where" questions.
_INNER_CAPITALISED = re.compile(r"(?<=[a-z,;:(] )[A-Z][a-z]+")


# ---------------------------------------------------------------- terms


@dataclass(frozen=True)
class TermStats:
    """Document frequencies of stemmed terms over a company's chunks."""

    documents: int
    frequency: Mapping[str, int]

    @classmethod
    def of(cls, texts: Iterable[str]) -> TermStats:
        frequency: Counter[str] = Counter()
        documents = 0
        for text in texts:
            documents += 1
            frequency.update(set(content_terms(text)))
        return cls(documents=documents, frequency=frequency)

    def idf(self, term: str) -> float:
        return math.log(1 + self.documents / (self.frequency.get(term, 0) + 0.5))

    @property
    def highest_idf(self) -> float:
        return math.log(1 + self.documents / 0.5)


def stem(word: str) -> str:
    """A crude suffix cut: enough for "cancelled"/"cancel" and "users"/"user" to meet."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + ("y" if suffix in ("ies", "ied") else "")
            break
    else:
        if word.endswith("ly") and len(word) > 5:
            word = word[:-2]
        elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
            word = word[:-1]
    if len(word) > 4 and word[-1] == word[-2] and word[-1] not in "sz":
        word = word[:-1]  # "cancell" → "cancel", "stopp" → "stop"
    if len(word) > 4 and word.endswith("e"):
        word = word[:-1]  # "charge" meets "charges", "price" meets "pricing"
    return word


def content_terms(text: str) -> list[str]:
    words = _WORD.findall(text.lower().replace("’", "'"))
    return [
        stem(word)
        for word in words
        if len(word) > 1 and word not in ENGLISH_STOP_WORDS and word not in _QUESTION_WORDS
    ]


def acronyms(text: str) -> set[str]:
    """Acronyms written in `text`, lower-cased: "CEO", "CTOs" → {"ceo", "cto"}."""
    return {
        found.rstrip("s").lower()
        for found in _ACRONYM.findall(text)
        if sum(ch.isupper() for ch in found) >= 2
    }


def initialisms(text: str) -> dict[str, list[str]]:
    """What an acronym could stand for in `text`: "chief executive officer" → {"ceo": its
    words, "ce": …, "eo": …}. Runs of content words; "of", "and", "for", "the" are skipped
    ("Chief Officer of Operations" is not "COOO"), any other stop word ends a run."""
    found: dict[str, list[str]] = {}
    run: list[str] = []
    for token in re.findall(r"[A-Za-z]+(?:-[A-Za-z]+)*", text):
        lowered = token.lower()
        if lowered in _INITIALISM_SKIP:
            continue
        if lowered in ENGLISH_STOP_WORDS:
            run = []
            continue
        for word in token.split("-"):  # "single sign-on" is S-S-O
            run = [*run[-(_LONGEST_ACRONYM - 1) :], word]
            for start in range(len(run) - 1):
                letters = "".join(w[0].lower() for w in run[start:])
                found.setdefault(letters, run[start:])
    return found


def spell_out(question: str, text: str) -> str:
    """The question with each title written both ways, as `text` writes it: "Who is the
    CTO?" → "Who is the CTO (chief technology officer)?", and "Who is the chief operating
    officer?" → "Who is the chief operating officer (COO)?" where the documents only say
    "COO". The embedding model does not know that the two are one title; the documents do."""
    expansions = initialisms(text)

    def expand(match: re.Match[str]) -> str:
        words = expansions.get(match.group().rstrip("s").lower())
        return f"{match.group()} ({' '.join(words).lower()})" if words else match.group()

    asked = _ACRONYM.sub(expand, question)
    written = acronyms(text) - acronyms(question)
    for letters, words in initialisms(question).items():
        if len(letters) >= 3 and letters in written:
            # The words as the question writes them, skipped small words and commas between.
            run = r"\W+(?:(?:of|and|for|the)\W+)?".join(re.escape(word) for word in words)
            asked = re.sub(
                rf"\b{run}\b",
                rf"\g<0> ({letters.upper()})",
                asked,
                count=1,
                flags=re.IGNORECASE,
            )
    return asked


@dataclass(frozen=True)
class Text:
    """A passage or the chunks as the features read them: terms, acronyms, initialisms."""

    lower: str
    terms: frozenset[str]
    acronyms: frozenset[str]
    initialisms: frozenset[str]

    @classmethod
    def of(cls, text: str) -> Text:
        return _read(text)

    @classmethod
    def read(cls, text: str) -> Text:
        return cls(
            lower=text.lower(),
            terms=frozenset(content_terms(text)),
            acronyms=frozenset(acronyms(text)),
            initialisms=frozenset(initialisms(text)),
        )


@lru_cache(maxsize=20_000)
def _read(text: str) -> Text:
    """Passages come back for related questions: read each once."""
    return Text.read(text)


@dataclass(frozen=True)
class Question:
    text: str
    terms: tuple[str, ...]
    acronyms: frozenset[str]
    # Terms of a spelled-out title, by the acronym it makes: "cto" → ("chief", "technolog", …)
    spelled: Mapping[str, frozenset[str]]

    @classmethod
    def of(cls, question: str) -> Question:
        spelled = {
            letters: frozenset(stem(word.lower()) for word in words)
            for letters, words in initialisms(question).items()
            if len(letters) >= 3
        }
        return cls(
            text=question,
            terms=tuple(dict.fromkeys(content_terms(question))),
            acronyms=frozenset(acronyms(question)),
            spelled=spelled,
        )

    def found_in(self, text: Text) -> set[str]:
        """The question's terms that `text` states, an acronym and its spelled-out form alike."""
        found = {term for term in self.terms if term in text.terms}
        found |= {acronym for acronym in self.acronyms if acronym in text.initialisms}
        for acronym in text.acronyms:
            found |= self.spelled.get(acronym, frozenset())
        return found


def missing_key_terms(question: str, chunks: Sequence[SearchResult]) -> list[str]:
    """Capitalised terms of the question (names, products, plans) that no chunk mentions;
    an acronym counts as mentioned when the chunks spell it out."""
    joined = Text.of(" ".join(chunk.text for chunk in chunks))
    return [term for term in key_terms(question) if not mentions(term, joined)]


def mentions(term: str, text: Text) -> bool:
    if re.search(rf"(?<![a-z0-9]){re.escape(term.lower())}(?![a-z0-9])", text.lower):
        return True
    return term.isupper() and term.lower().rstrip("s") in text.initialisms


def key_terms(question: str) -> list[str]:
    terms = []
    for sentence in re.split(r"(?<=[.!?:])\s+", question.strip()):
        # A sentence's first word is capitalised by grammar, not because it is a name.
        rest = re.sub(r"['’]s\b", "", " ".join(sentence.split()[1:]))
        terms += [
            term
            for term in _KEY_TERM.findall(rest)
            if len(term) > 2 and term.lower() not in ENGLISH_STOP_WORDS
        ]
    return terms


def answer_type(question: str) -> str | None:
    """date | money | number | person | place, or None when the question does not say."""
    lowered = question.lower()
    return next((kind for kind, pattern in _ANSWER_TYPES if re.search(pattern, lowered)), None)


def holds_type(kind: str, passage: str, question: str) -> bool:
    if kind in _HOLDS_TYPE:
        return bool(_HOLDS_TYPE[kind].search(passage))
    asked = {word.lower() for word in _LETTERS.findall(question)}
    return any(word.lower() not in asked for word in _INNER_CAPITALISED.findall(passage))
