"""Measure the pipeline's AI steps on the shipped eval sets and print the figures.

    .venv/bin/python assessments/01_workflow_automation/evaluate.py          # local provider
    .venv/bin/python assessments/01_workflow_automation/evaluate.py --llm    # the configured LLM

Intent: accuracy, macro-F1, per-intent precision/recall/F1, the confusion
matrix and the expected calibration error (ECE, 10 equal-width bins) of the
confidence on `data/leads/intent_test.csv`. Extraction: per-field exact-match
rate on `data/leads/extraction_eval.jsonl` (explicit fields included, as the
API would receive them).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.config import Settings  # noqa: E402
from core.llm_client import LLMClient, create_llm_client  # noqa: E402

classifier = importlib.import_module("assessments.01_workflow_automation.classifier")
extraction = importlib.import_module("assessments.01_workflow_automation.extraction")
config = importlib.import_module("assessments.01_workflow_automation.config")

FIELDS = ("name", "email", "phone", "budget")


def expected_calibration_error(
    confidences: np.ndarray, correct: np.ndarray, bins: int = 10
) -> float:
    edges = np.linspace(0.0, 1.0, bins + 1)
    error = 0.0
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (confidences > low) & (confidences <= high)
        if in_bin.any():
            error += in_bin.mean() * abs(correct[in_bin].mean() - confidences[in_bin].mean())
    return float(error)


async def evaluate_intent(
    llm: LLMClient | None, settings: Settings, workflow: config.WorkflowSettings
) -> None:
    texts, truth = classifier.read_labeled(classifier.LEADS_DATA_DIR / "intent_test.csv")
    outcomes = [
        await classifier.classify_intent(text=text, llm=llm, settings=settings) for text in texts
    ]
    predicted = [outcome.value.intent for outcome in outcomes]
    confidences = np.array([outcome.value.confidence for outcome in outcomes])
    correct = np.array([p == t for p, t in zip(predicted, truth, strict=True)], dtype=float)
    labels = list(classifier.INTENTS)
    threshold = workflow.INTENT_CONFIDENCE_THRESHOLD
    confident = confidences > threshold

    print(f"Intent classification · {len(texts)} test messages · model {outcomes[0].model}")
    print(f"  accuracy          {accuracy_score(truth, predicted):.3f}")
    print(f"  macro-F1          {f1_score(truth, predicted, average='macro'):.3f}")
    print(f"  ECE (10 bins)     {expected_calibration_error(confidences, correct):.3f}")
    print(
        f"  confidence > {threshold}  {confident.mean():.0%} of leads, "
        f"accuracy {correct[confident].mean():.3f} (rest: {correct[~confident].mean():.3f})"
    )
    if fallbacks := sum(outcome.fallback for outcome in outcomes):
        print(f"  LLM fallbacks     {fallbacks}")
    print()
    print(classification_report(truth, predicted, labels=labels, digits=3))
    print("Confusion matrix (rows: true, columns: predicted)")
    matrix = confusion_matrix(truth, predicted, labels=labels)
    print(" " * 12 + "".join(f"{label:>12}" for label in labels))
    for label, row in zip(labels, matrix, strict=True):
        print(f"{label:>12}" + "".join(f"{count:>12}" for count in row))
    print()


async def evaluate_extraction(
    llm: LLMClient | None, settings: Settings, workflow: config.WorkflowSettings
) -> None:
    path = classifier.LEADS_DATA_DIR / "extraction_eval.jsonl"
    cases = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    hits = dict.fromkeys(FIELDS, 0)
    for case in cases:
        explicit = {field: case.get(field) for field in ("name", "email", "phone")}
        outcome = await extraction.extract_fields(
            case["message"],
            llm=llm,
            model=settings.OPENAI_CHAT_MODEL,
            default_region=workflow.PHONE_DEFAULT_REGION,
            explicit=explicit,
        )
        got = outcome.value.model_dump()
        for field in FIELDS:
            hits[field] += got[field] == case["expected"][field]
    print(f"Field extraction · {len(cases)} cases · exact match")
    for field in FIELDS:
        print(f"  {field:<8} {hits[field] / len(cases):.3f}  ({hits[field]}/{len(cases)})")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", action="store_true", help="use the configured LLM provider")
    args = parser.parse_args()
    settings = Settings() if args.llm else Settings(LLM_PROVIDER="local")
    workflow = config.WorkflowSettings()
    llm = create_llm_client(settings)
    if args.llm and llm is None:
        parser.error("--llm needs OPENAI_API_KEY or OPENAI_BASE_URL")
    try:
        await evaluate_intent(llm, settings, workflow)
        await evaluate_extraction(llm, settings, workflow)
    finally:
        if llm is not None:
            await llm.aclose()


if __name__ == "__main__":
    asyncio.run(main())
