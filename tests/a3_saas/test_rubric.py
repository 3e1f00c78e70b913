"""The local lead-qualification rubric (BANT), criterion by criterion."""

from __future__ import annotations

import pytest

from tests.a3_saas.helpers import saas_module

rubric = saas_module("agents.rubric")
LeadProfile = saas_module("agents.schemas").LeadProfile


def _criteria(**lead: object) -> dict[str, float]:
    return rubric.qualify_locally(LeadProfile(**lead)).criteria  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("message", "budget", "expected"),
    [
        ("We have $120k for this.", None, 1.0),
        ("Around 20,000 EUR.", None, 0.7),
        (None, 5_000, 0.4),
        ("What is your pricing?", None, 0.2),
        ("Hello there.", None, 0.0),
    ],
)
def test_budget_scores_by_the_stated_amount(
    message: str | None, budget: float | None, expected: float
) -> None:
    assert _criteria(message=message, budget=budget)["budget"] == expected


@pytest.mark.parametrize(
    ("message", "company", "expected"),
    [
        ("As VP of Sales I sign off on this.", None, 1.0),
        ("I'm the procurement manager.", None, 0.6),
        ("Hello.", "Acme", 0.3),
        ("Hello.", None, 0.0),
    ],
)
def test_authority_scores_the_writers_role(
    message: str, company: str | None, expected: float
) -> None:
    assert _criteria(message=message, company=company)["authority"] == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("We need this ASAP.", 1.0),
        ("We plan to buy next quarter.", 0.7),
        ("Maybe next year.", 0.3),
        ("Tell me more.", 0.0),
    ],
)
def test_timing_scores_how_soon_they_buy(message: str, expected: float) -> None:
    assert _criteria(message=message)["timing"] == expected


def test_the_score_is_the_weighted_sum_with_one_reason_per_criterion() -> None:
    result = rubric.qualify_locally(
        LeadProfile(
            message="I'm the CEO; we need a replacement and want a demo this month.", budget=60_000
        )
    )

    assert result.criteria == {"budget": 1.0, "authority": 1.0, "need": 1.0, "timing": 0.7}
    assert result.score == round(0.30 + 0.25 + 0.25 + 0.20 * 0.7, 2)
    assert len(result.reasons) == 4
    assert result.reasons[-1].startswith("Timing:")
