"""The two rewrites around an answer: follow-up → standalone question, and a friendlier tone.

Standalone question (before retrieval): "what about its pricing?" means nothing
to a vector search. The LLM rewrites it from the last turns
(`prompts/condense_*.txt`). The local heuristic works on the previous
(standalone) question when the new one leans on it (a pronoun, "and …",
"what about …", or only one or two content words):

- a follow-up that names only a new attribute is put into the previous
  question in place of the one it parallels: "Who is the CEO of Northwind?"
  then "And the CTO?" → "Who is the CTO of Northwind?"; "How much is the
  Growth plan?" then "What about the Business plan?" → "How much is the
  Business plan?" (an acronym replaces an acronym, a phrase replaces the
  phrase with the same head noun);
- otherwise the previous question's content words are put in front, less the
  ones the new question replaces: "And who is the CTO?" → "Northwind: And who
  is the CTO?", not "CEO Northwind: …", which would retrieve the CEO.

Friendliness (after answering, when `rewrite: true`): the LLM rephrases
(`prompts/friendly_system.txt`); locally a fixed template wraps the answer.
Either way `facts_preserved` must hold — the same numbers and the same `[n]`
markers before and after — or the rewrite is rejected.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from core.ai_step import LOCAL_PROVIDER, StepOutcome
from core.exceptions import LLMException
from core.llm_client import LLMClient
from core.prompts import load_prompt

from .answering import CITATION, PROMPTS, Turn, format_history
from .grounding import claims

CONDENSE_MODEL = "follow-up-heuristic"
FRIENDLY_MODEL = "friendly-template"
MAX_QUESTION_CHARS = 500

_PRONOUNS = {
    "it",
    "its",
    "it's",
    "they",
    "them",
    "their",
    "theirs",
    "this",
    "that",
    "these",
    "those",
    "he",
    "him",
    "his",
    "she",
    "her",
    "hers",
}
_LEAD_INS = ("what about", "how about", "and ", "also ", "what else", "same for")
_LEAD_IN = re.compile(
    r"^\s*(?:and\s+)?(?:what about|how about|what of|same for|also|and)\b[\s,]*", re.IGNORECASE
)
_WH = re.compile(
    r"^(?:who|whom|whose|what|which|when|where|why|how|is|are|was|were|do|does|did|"
    r"can|could|will|would|should|has|have)\b",
    re.IGNORECASE,
)
_ACRONYM = re.compile(r"^[A-Z][A-Z0-9&]{1,5}s?$")
_NOT_SALIENT = {
    "tell",
    "know",
    "explain",
    "describe",
    "please",
    "does",
    "did",
    "do",
    "like",
    "want",
    "need",
}
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’&-]*")

FRIENDLY_OPENING = "Happy to help!"
# Capitalised words a friendly tone adds that claim nothing.
_GREETINGS = frozenset({"Happy", "Great", "Thanks", "Thank", "Hope", "Feel", "Sure", "Hi"})
FRIENDLY_CLOSING = "I hope that helps. Feel free to ask if anything else comes up."


# ---------------------------------------------------------------- standalone question


async def llm_standalone_question(
    llm: LLMClient, question: str, history: Sequence[Turn]
) -> StepOutcome[str]:
    system = load_prompt(PROMPTS, "condense_system.txt").text
    user = load_prompt(PROMPTS, "condense_user.txt").render(
        history=format_history(history), question=question
    )
    result = await llm.complete_text(system=system, user=user, temperature=0.0, max_tokens=120)
    rewritten = " ".join(result.value.split())
    if not rewritten or len(rewritten) > MAX_QUESTION_CHARS:
        raise LLMException("The LLM did not return one question", code="llm_invalid_output")
    return StepOutcome.from_llm(result, rewritten)


async def local_standalone_question(question: str, history: Sequence[Turn]) -> StepOutcome[str]:
    return StepOutcome(
        value=standalone_question(question, history), provider=LOCAL_PROVIDER, model=CONDENSE_MODEL
    )


def standalone_question(question: str, history: Sequence[Turn]) -> str:
    """The question made standalone from the previous one when it is a follow-up."""
    previous = next((turn.content for turn in reversed(history) if turn.role == "user"), None)
    if previous is None or not is_follow_up(question):
        return question
    body = _LEAD_IN.sub("", question).strip()
    new_words = content_words(body)
    if body != question.strip() and new_words and not _WH.match(body):
        substituted = _substitute(previous, new_words)
        if substituted is not None:
            return substituted
    replaced = _parallel(previous, new_words)
    salient = [
        word
        for word in content_words(previous)
        if word.lower() not in _lower_words(question) and word not in replaced
    ]
    return f"{' '.join(salient)}: {question}" if salient else question


def _substitute(previous: str, new_words: list[str]) -> str | None:
    """The previous question with the phrase the follow-up parallels replaced by it."""
    tokens = list(_WORD.finditer(previous))
    head = new_words[-1].lower()
    for end, token in enumerate(tokens):
        if token.group().lower() == head:
            start = end
            # Take the modifiers with the head: "the Growth plan" → "Growth plan".
            while start > 0 and tokens[start - 1].group().lower() not in ENGLISH_STOP_WORDS:
                start -= 1
            span = (tokens[start].start(), token.end())
            break
    else:
        acronym = next((word for word in new_words if _ACRONYM.match(word)), None)
        target = next((t for t in tokens if acronym and _ACRONYM.match(t.group())), None)
        if target is None:
            return None
        new_words, span = [acronym], (target.start(), target.end())  # type: ignore[list-item]
    return f"{previous[: span[0]]}{' '.join(new_words)}{previous[span[1] :]}"


def _parallel(previous: str, new_words: list[str]) -> set[str]:
    """Words of the previous question that the new one replaces: an acronym by an acronym."""
    if not any(_ACRONYM.match(word) for word in new_words):
        return set()
    return {word for word in content_words(previous) if _ACRONYM.match(word)}


def is_follow_up(question: str) -> bool:
    lowered = question.lower().strip()
    words = [word.lower() for word in _WORD.findall(question)]
    # A short question that names its own subject ("What is the capital of France?") stands
    # alone; a short one that names nothing ("Which city?") leans on the last turn.
    names = [word for word in _WORD.findall(question)[1:] if word[0].isupper()]
    return (
        lowered.startswith(_LEAD_INS)
        or any(word in _PRONOUNS for word in words)
        or (len(content_words(question)) <= 2 and not names)
    )


def content_words(text: str) -> list[str]:
    return [
        word
        for word in _WORD.findall(re.sub(r"['’]s\b", "", text))
        if word.lower() not in ENGLISH_STOP_WORDS and word.lower() not in _NOT_SALIENT
    ]


def _lower_words(text: str) -> set[str]:
    return {word.lower() for word in _WORD.findall(text)}


# ---------------------------------------------------------------- friendlier tone


async def llm_friendlier(llm: LLMClient, answer: str) -> StepOutcome[str]:
    system = load_prompt(PROMPTS, "friendly_system.txt").text
    result = await llm.complete_text(system=system, user=answer, temperature=0.3, max_tokens=700)
    rewritten = result.value.strip()
    if not facts_preserved(answer, rewritten):
        # Raising hands the step to the local template (core.ai_step's fallback).
        raise LLMException(
            "The friendlier rewrite changed numbers or citations; it was discarded",
            code="llm_rewrite_changed_facts",
        )
    return StepOutcome.from_llm(result, rewritten)


async def local_friendlier(answer: str) -> StepOutcome[str]:
    return StepOutcome(
        value=friendly_template(answer), provider=LOCAL_PROVIDER, model=FRIENDLY_MODEL
    )


def friendly_template(answer: str) -> str:
    return f"{FRIENDLY_OPENING} {answer} {FRIENDLY_CLOSING}"


def facts_preserved(before: str, after: str) -> bool:
    """Same numbers (as a multiset), the same citation markers in the same order, and no
    claim (`grounding.claims`: a name, date, identifier) that the first answer did not make."""
    if _numbers(before) != _numbers(after):
        return False
    if CITATION.findall(before) != CITATION.findall(after):
        return False
    made = {claim.lower() for claim in claims(before)}
    return all(claim.lower() in made for claim in claims(after) if claim not in _GREETINGS)


def _numbers(text: str) -> Counter[str]:
    # Markers are not facts: "[1]" must not count as the number 1.
    return Counter(n.replace(",", "") for n in _NUMBER.findall(CITATION.sub(" ", text)))
