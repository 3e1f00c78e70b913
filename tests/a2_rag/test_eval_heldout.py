"""The held-out question set: written before the answerability check was tuned, never tuned on.

Its figures are what the check does on questions it has not seen (README):
refusal precision 1.00 and recall 0.14 on the local provider. The floors
below guard against a regression; they are not targets met. The held-out
companies (`data/evals/heldout_companies/`) are held to their measured
figures the same way.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from .helpers import copy_sample_data

evaluate = importlib.import_module("assessments.02_rag_chatbot.evaluation.evaluate")
question_sets = importlib.import_module("assessments.02_rag_chatbot.evaluation.question_sets")


def test_held_out_set_is_separate_and_balanced() -> None:
    original = {item.question for item in question_sets.load_items()}
    held_out = question_sets.load_items(question_sets.HELD_OUT_SET)
    answerable = [item for item in held_out if item.answerable]
    unanswerable = [item for item in held_out if not item.answerable]

    assert len(answerable) >= 12 and len(unanswerable) >= 12
    assert not original & {item.question for item in held_out}
    assert {item.company_id for item in held_out} == {"acme-corp", "globex-inc"}
    assert all(item.expected_source and item.expected_facts for item in answerable)
    for line in question_sets.HELD_OUT_SET.read_text(encoding="utf-8").splitlines():
        assert set(json.loads(line)) == {
            "company_id",
            "question",
            "answerable",
            "expected_source",
            "expected_facts",
        }


@pytest.mark.anyio
async def test_eval_on_the_held_out_set_meets_its_measured_floors(
    sample_data: Path, tmp_path: Path
) -> None:
    settings = copy_sample_data(sample_data, tmp_path / "data")

    [report] = await evaluate.run_sets(
        settings, [("held-out", question_sets.load_items(question_sets.HELD_OUT_SET))]
    )

    assert report.label == "held-out"
    assert report.hit_rate >= 0.90
    assert report.citation_correctness == 1.0
    assert report.refusal_precision >= 0.85
    # Precision first: 1 of its 14 unanswerable questions is refused since the threshold
    # moved to 1% false refusals on the tuning data (README, "Evaluation").
    assert report.refusal_recall >= 0.05
    assert report.false_refusals <= 0.05


async def company_set_report(name: str, sample_data: Path, tmp_path: Path) -> Any:
    """The evaluation report of one of the company sets, its companies ingested first."""
    settings = copy_sample_data(sample_data, tmp_path / "data")
    chosen = question_sets.question_sets()[name]
    [report] = await evaluate.run_sets(
        settings, [(chosen.label, chosen.items())], company_folders=[chosen.companies]
    )
    return report


@pytest.mark.anyio
async def test_eval_on_the_held_out_companies_meets_its_measured_floors(
    sample_data: Path, tmp_path: Path
) -> None:
    report = await company_set_report("companies", sample_data, tmp_path)

    # Measured (README, 2026-12-06; a tuning set for that day's gate change): answered
    # 0.941, gold 0.788, unanswerable refused 0.111, off-topic refused 1.000, citations 1.000.
    assert len(report.answerable) >= 100 and len(report.of("off_topic")) >= 10
    assert report.answered >= 0.88
    assert report.gold >= 0.70
    assert report.refused("off_topic") == 1.0
    assert report.citation_correctness == 1.0


@pytest.mark.anyio
async def test_eval_on_the_second_held_out_companies_meets_its_measured_floors(
    sample_data: Path, tmp_path: Path
) -> None:
    report = await company_set_report("companies-2", sample_data, tmp_path)

    # Measured (README, 2026-12-06): answered 0.968, gold 0.776, false refusals 0.032,
    # unanswerable refused 0.111, off-topic refused 1.000. The bar: ≤ 5% false refusals.
    assert len(report.answerable) >= 120 and len(report.of("off_topic")) >= 10
    assert report.false_refusals <= 0.05
    assert report.gold >= 0.70
    assert report.refused("off_topic") == 1.0
    assert report.citation_correctness == 1.0
