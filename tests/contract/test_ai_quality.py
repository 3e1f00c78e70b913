"""AI quality through the API: each eval set against its target (tests/contract/evals.py).

One test per figure, so the grade report shows each one with its target. Hidden eval sets
(`<hidden>/evals/`) are parametrised in next to the built-in ones.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.contract import evals
from tests.contract.helpers import Api, fail
from tests.contract.plugin import hidden_dir

pytestmark = pytest.mark.criterion("ai_quality")
KINDS = {"intent_set": "intent", "extraction_set": "extraction", "rag_set": "rag"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    sets = evals.eval_sets(hidden_dir(metafunc.config))
    for argument, kind in KINDS.items():
        if argument in metafunc.fixturenames:
            metafunc.parametrize(argument, sets[kind], ids=[path.name for path in sets[kind]])


def _grade(grade_metric: Callable[..., None], name: str, score: evals.Score, source: Path) -> None:
    target = evals.TARGETS[name]
    detail = f"{score.hits}/{score.total} on {source.name}"
    grade_metric(name, round(score.rate, 4), target=target, detail=detail)
    if score.total == 0:
        fail(f"{name}: the eval set {source} has no cases for this figure")
    if score.rate < target:
        misses = "; ".join(score.misses)
        fail(f"{name} = {score.rate:.3f} ({detail}) is below the target {target}. e.g. {misses}")


@pytest.mark.assessment1
def test_intent_accuracy(api: Api, intent_set: Path, grade_metric: Callable[..., None]) -> None:
    result = evals.run_intent_eval(api, intent_set)
    for intent, score in sorted(result.per_intent.items()):
        grade_metric(f"intent_recall_{intent.lower()}", round(score.rate, 4))
    grade_metric("low_confidence_rate", round(result.low_confidence.rate, 4))
    _grade(grade_metric, "intent_accuracy", result.accuracy, intent_set)


@pytest.mark.assessment1
def test_extraction_field_accuracy(
    api: Api, extraction_set: Path, grade_metric: Callable[..., None]
) -> None:
    result = evals.run_extraction_eval(api, extraction_set)
    for name, score in sorted(result.per_field.items()):
        grade_metric(f"extraction_{name}_accuracy", round(score.rate, 4))
    _grade(grade_metric, "extraction_field_accuracy", result.overall, extraction_set)


@pytest.mark.assessment2
def test_rag_retrieval_finds_the_expected_source(
    api: Api, rag_set: Path, grade_metric: Callable[..., None], request: pytest.FixtureRequest
) -> None:
    result = evals.run_rag_eval(api, rag_set, hidden_dir(request.config))
    _grade(grade_metric, "rag_retrieval_hit_rate", result.retrieval, rag_set)


@pytest.mark.assessment2
def test_rag_answers_answerable_questions(
    api: Api, rag_set: Path, grade_metric: Callable[..., None], request: pytest.FixtureRequest
) -> None:
    result = evals.run_rag_eval(api, rag_set, hidden_dir(request.config))
    _grade(grade_metric, "rag_answer_rate", result.answered, rag_set)


@pytest.mark.assessment2
def test_rag_answers_contain_the_expected_facts(
    api: Api, rag_set: Path, grade_metric: Callable[..., None], request: pytest.FixtureRequest
) -> None:
    result = evals.run_rag_eval(api, rag_set, hidden_dir(request.config))
    _grade(grade_metric, "rag_fact_recall", result.facts, rag_set)


@pytest.mark.assessment2
def test_rag_refuses_unanswerable_questions(
    api: Api, rag_set: Path, grade_metric: Callable[..., None], request: pytest.FixtureRequest
) -> None:
    result = evals.run_rag_eval(api, rag_set, hidden_dir(request.config))
    _grade(grade_metric, "rag_refusal_accuracy", result.refusals, rag_set)
