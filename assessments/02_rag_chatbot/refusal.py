"""When the chatbot refuses, and why: the whole rule in one module.

A refusal is always the same: the answer is exactly `REFUSAL_MESSAGE`,
`refused: true`, no sources, and `refusal_reason` says which rule refused:

1. `below_threshold` — the retrieval gate. No chunk of the company scores the
   similarity threshold (`SIMILARITY_THRESHOLD`, 0.45 cosine) against the
   question, and no single passage of the retrieved chunks does either: the
   documents are not about it ("What is the capital of France?"), or the
   company has no documents. Checked first, for every provider. The second
   look at passages runs only when the chunks fall short: a short, specific
   question ("When did the Normans conquer England?") can match one sentence
   far better than its 128-token chunk. On the SQuAD `tune` split it cut the
   answerable questions under the gate from 12.9% to 5.2% (on the held-out
   `report` split 3.4% stay under it); every off-topic question of the
   shipped set stays under it (all 24 of the held-out companies' are refused).
   Each passage counts read under its heading and alone, and the question is
   embedded with its titles written as the documents write them (`spell_out`).
2. `not_supported` — the local answerer's answerability decision. The chunks are
   on the topic but no passage states the answer ("Who is the CFO?" next to a
   table of the CEO and the CTO). A logistic model over the question and the
   retrieved passages (`answerability.py`) gives the probability that the
   passages answer it; under the threshold chosen with it, the answerer refuses.
   The threshold was set for precision first: a refusal that costs a real
   answer is worse than an unrefused hard question (figures: the README).
3. `llm_refused` — the LLM answerer said the documents do not answer the
   question, as the exact sentence or in its own words (`is_refusal`); the
   local check does not second-guess it.

4. `unsupported_claim` — an LLM answer that, asked twice, still had a sentence
   without a valid `[n]` or a number, date, name or identifier that its cited
   chunk does not contain (`grounding.py`) is replaced by the local extractive
   answer (`fallback: true`, `fallback_reason: "unsupported_claim"`); when the
   local answerer refuses too, the refusal carries this reason.

The LLM answerer gets the same rules in its prompt (`prompts/answer_system.txt`).
"""

from __future__ import annotations

import re
from typing import Literal

from .answerability import Assessment
from .retrieval import Retrieval

# The one refusal: returned verbatim whenever the documents cannot answer.
REFUSAL_MESSAGE = (
    "I don't have enough information in the provided documents to answer that question."
)

RefusalReason = Literal["below_threshold", "not_supported", "llm_refused", "unsupported_claim"]
BELOW_THRESHOLD: RefusalReason = "below_threshold"
NOT_SUPPORTED: RefusalReason = "not_supported"
LLM_REFUSED: RefusalReason = "llm_refused"
UNSUPPORTED_CLAIM: RefusalReason = "unsupported_claim"

_CITATION = re.compile(r"\[(\d{1,3})\]")
# An LLM's own wording of "the context does not answer this" (read on `is_refusal`'s words).
_NOT_IN_DOCUMENTS = re.compile(
    r"\b(?:provided |given )?(?:documents?|context|sources?)\b[a-z' ]{0,20}"
    r"\b(?:do not|does not|don't|doesn't)\s+(?:\w+\s+)?"
    r"(?:state|states|mention|mentions|contain|contains|say|says|include|includes|provide|"
    r"provides|specify|specifies|give|gives|cover|covers)\b"
    r"|\bnot enough information\b|\bnot (?:stated|mentioned|specified) in the (?:provided )?"
    r"(?:documents?|context)\b"
)


def gate(retrieval: Retrieval) -> RefusalReason | None:
    """Rule 1: refuse when neither a chunk nor a passage reaches the similarity threshold."""
    return None if retrieval.relevant else BELOW_THRESHOLD


def decide(assessment: Assessment) -> RefusalReason | None:
    """Rule 2: refuse when the passages are unlikely to state the answer."""
    return None if assessment.answerable else NOT_SUPPORTED


def is_refusal(text: str) -> bool:
    """Rule 3's reading of an LLM answer: the refusal sentence (small variations, trailing
    words), or an uncited answer that only says the documents do not hold the answer."""

    def words(value: str) -> str:
        return " ".join(re.findall(r"[a-z0-9']+", value.lower().replace("’", "'")))

    if words(text).startswith(words(REFUSAL_MESSAGE)):
        return True
    return not _CITATION.search(text) and bool(_NOT_IN_DOCUMENTS.search(words(text)))
