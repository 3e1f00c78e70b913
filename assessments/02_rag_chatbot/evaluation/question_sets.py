"""The question sets of the RAG evaluation: the project's own and SQuAD 2.0's, by name.

- `shipped`: `data/evals/rag_eval.jsonl` on the sample companies (tuned on);
- `held-out`: `data/evals/rag_eval_heldout.jsonl`, never tuned on;
- `companies`: `data/evals/rag_eval_companies.jsonl` on the companies of
  `data/evals/heldout_companies/`, held out for the answerability model; the gate change
  of 2026-12-06 was chosen on it, so for that change (and later ones) a tuning set;
- `companies-2`: `data/evals/rag_eval_companies_2.jsonl` on the companies of
  `data/evals/heldout_companies_2/`, written after that and before the tuning it judges;
- `squad-tune`, `squad-report`: SQuAD 2.0 articles laid out as companies
  (`../shared/datasets/squad2`); the answerability check is trained on `tune`, `report`
  is never tuned on.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.config import PROJECT_ROOT

EVALS = PROJECT_ROOT / "data" / "evals"
EVAL_SET = EVALS / "rag_eval.jsonl"
HELD_OUT_SET = EVALS / "rag_eval_heldout.jsonl"
COMPANIES_SET = EVALS / "rag_eval_companies.jsonl"
COMPANIES_DIR = EVALS / "heldout_companies"
COMPANIES_2_SET = EVALS / "rag_eval_companies_2.jsonl"
COMPANIES_2_DIR = EVALS / "heldout_companies_2"
SQUAD_DIR = PROJECT_ROOT.parent / "shared" / "datasets" / "squad2"
Kind = str  # "answerable" | "unanswerable" | "off_topic"


@dataclass(frozen=True)
class EvalItem:
    company_id: str
    question: str
    answerable: bool
    expected_source: str | None
    expected_facts: list[str] = field(default_factory=list)  # all must be in the answer
    kind: Kind | None = None  # None: "answerable" or "unanswerable" from `answerable`
    gold_spans: list[str] = field(default_factory=list)  # SQuAD: any one must be

    @property
    def category(self) -> Kind:
        return self.kind or ("answerable" if self.answerable else "unanswerable")


def load_items(path: Path = EVAL_SET) -> list[EvalItem]:
    with path.open(encoding="utf-8") as handle:
        return [EvalItem(**json.loads(line)) for line in handle if line.strip()]


def load_squad(split: str, squad_dir: Path = SQUAD_DIR) -> list[EvalItem]:
    """One split of the SQuAD 2.0 set (its README): each article is a company."""
    items = []
    with (squad_dir / "questions.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row["split"] != split:
                continue
            items.append(
                EvalItem(
                    company_id=row["company"],
                    question=row["q"],
                    answerable=row["answerable"],
                    expected_source=row["source"] if row["answerable"] else None,
                    gold_spans=row["answers"],
                )
            )
    return items


def squad_normalise(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


@dataclass(frozen=True)
class QuestionSet:
    label: str
    items: Callable[[], list[EvalItem]]
    companies: Path | None = None  # folders of companies to ingest first (None: sample data)


def question_sets(squad_dir: Path = SQUAD_DIR) -> dict[str, QuestionSet]:
    return {
        "shipped": QuestionSet("shipped", lambda: load_items(EVAL_SET)),
        "held-out": QuestionSet("held-out", lambda: load_items(HELD_OUT_SET)),
        "companies": QuestionSet("companies", lambda: load_items(COMPANIES_SET), COMPANIES_DIR),
        "companies-2": QuestionSet(
            "companies-2", lambda: load_items(COMPANIES_2_SET), COMPANIES_2_DIR
        ),
        "squad-tune": QuestionSet(
            "squad-tune", lambda: load_squad("tune", squad_dir), squad_dir / "companies"
        ),
        "squad-report": QuestionSet(
            "squad-report", lambda: load_squad("report", squad_dir), squad_dir / "companies"
        ),
    }
