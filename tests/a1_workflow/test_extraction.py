"""The local extractor: budgets, phones, emails and names, and which value wins."""

from __future__ import annotations

import importlib

import pytest

extraction = importlib.import_module("assessments.01_workflow_automation.extraction")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Budget is $50k.", 50_000),
        ("We pay 50,000 USD a year.", 50_000),
        ("We can spend €20K/month on tooling.", 20_000),
        ("Our CFO approved between 10k and 20k.", 15_000),
        ("Looking at 10-15k for the first year.", 12_500),
        ("$10,000 - $20,000 depending on scope", 15_000),
        ("We have up to 30k.", 30_000),
        ("at least $8k per quarter", 8_000),
        ("Our budget is 12.000 € for this.", 12_000),
        ("We've set aside 50 thousand dollars.", 50_000),
        ("Total budget is $1.5M over three years.", 1_500_000),
        ("The budget is 8000 for now.", 8_000),
        ("We have 10k users and a budget of $5,000.", 5_000),
    ],
)
def test_budget_is_parsed_into_a_number(text: str, expected: float) -> None:
    assert extraction.parse_budget(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "We are 40 people and were founded in 2019.",
        "We haven't set a budget yet, just exploring options for our 40-person team.",
        "Call me at (415) 555-0134.",
        "We have 10k users on the free plan.",
        "can't log in since this morning, pls help",
    ],
)
def test_numbers_that_are_not_money_are_not_a_budget(text: str) -> None:
    assert extraction.parse_budget(text) is None


def test_budget_reports_currency_period_and_kind() -> None:
    budget = extraction.find_budget("between €5k and €8k per month")

    assert budget is not None
    assert (budget.amount, budget.currency, budget.period, budget.kind) == (
        6_500,
        "EUR",
        "month",
        "range",
    )


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("(415) 555-0134", "+14155550134"),
        ("415.555.0134", "+14155550134"),
        ("+44 20 7946 0958", "+442079460958"),
        ("0049 30 123456", "+4930123456"),
    ],
)
def test_phone_numbers_are_normalised_to_e164(raw: str, e164: str) -> None:
    assert extraction.normalise_phone(raw) == e164


def test_phone_region_is_configurable() -> None:
    assert extraction.normalise_phone("020 7946 0958", default_region="GB") == "+442079460958"


def test_phone_is_found_in_a_message() -> None:
    text = "Budget $30k. Call me on 212-555-0166 after 3pm."

    assert extraction.find_phone(text) == "+12125550166"


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Hi, I'm Dana Kim from Lumen Outdoor.", "Dana Kim"),
        ("My name is Priya Natarajan, COO at Fieldhouse.", "Priya Natarajan"),
        ("my name is maria lopez", "Maria Lopez"),
        ("Need a quote.\n\nBest regards,\nAnna-Lena Müller\nCTO", "Anna-Lena Müller"),
        ("Pilot budget approved. — Nadia Ferreira, nadia@arcline.example.com", "Nadia Ferreira"),
        ("We need help.\n\nSvetlana Petrova\nIT Procurement Lead", "Svetlana Petrova"),
        ("Thanks, Sam O'Neil", "Sam O'Neil"),
    ],
)
def test_names_come_from_introductions_and_signatures(text: str, name: str) -> None:
    assert extraction.find_name(text) == name


@pytest.mark.parametrize("text", ["I'm interested in your pricing.", "I am looking for help."])
def test_phrases_that_are_not_names_are_ignored(text: str) -> None:
    assert extraction.find_name(text) is None


def test_local_extraction_finds_all_four_fields() -> None:
    text = (
        "Hi, I'm Dana Kim. Budget is $50k. "
        "Reach me at Dana.Kim@Lumen.example.com or (415) 555-0134."
    )

    fields, notes = extraction.extract_fields_local(text)

    assert fields == extraction.LeadFields(
        name="Dana Kim", email="dana.kim@lumen.example.com", phone="+14155550134", budget=50_000
    )
    assert notes == []


def test_explicit_fields_win_over_the_message() -> None:
    text = "I'm Bob, bob@example.com, +1 415 555 0134"
    explicit = {"name": "Robert Smith", "email": "robert@example.com", "phone": "212-555-0166"}

    fields, _ = extraction.extract_fields_local(text, explicit=explicit)

    assert (fields.name, fields.email, fields.phone) == (
        "Robert Smith",
        "robert@example.com",
        "+12125550166",
    )


def test_invalid_explicit_fields_are_dropped_with_a_reason() -> None:
    text = "Please call me on (415) 555-0134, or write to bob@example.com"

    fields, notes = extraction.extract_fields_local(
        text, explicit={"email": "bob@@example", "phone": "12"}
    )

    assert fields.email == "bob@example.com"
    assert fields.phone == "+14155550134"
    assert any(note.startswith("email dropped") for note in notes)
    assert any(note.startswith("phone dropped") for note in notes)


def test_an_invalid_email_is_never_kept() -> None:
    fields, notes = extraction.extract_fields_local("hello", explicit={"email": "not-an-email"})

    assert fields.email is None
    assert notes and "email" in notes[0]


def test_llm_schema_parses_a_budget_given_as_text() -> None:
    parsed = extraction.LLMExtractedFields.model_validate({"budget": "$50k"})

    assert parsed.budget == 50_000


grounding = importlib.import_module("assessments.01_workflow_automation.grounding")
LEAD = (
    "Hi, I'm Zoë O'Brien-Smith from Initech (zoe@initech.example, +44 20 7946 0958). "
    "We can spend 10-20k; we are 40 people. Or call the office: (415) 555-0134."
)


@pytest.mark.parametrize(
    ("field", "value", "stated"),
    [
        ("email", "zoe@initech.example", True),
        ("email", "zoe.obrien@initech.example", False),
        ("phone", "+442079460958", True),
        ("phone", "+14155550134", True),
        ("phone", "+14155550199", False),
        ("budget", 10_000, True),
        ("budget", 15_000, True),
        ("budget", 20_000, True),
        ("budget", 50_000, False),
        ("budget", 2079460958, False),  # the phone's digits are never money
        ("name", "zoe o'brien-smith", True),
        ("name", "Zoe O'Brien", True),
        ("name", "Zoe Smith-Jones", False),
    ],
)
def test_a_value_is_grounded_only_when_the_input_states_it(
    field: str, value: object, stated: bool
) -> None:
    evidence = grounding.InputEvidence.of([LEAD])

    assert evidence.holds(field, value) is stated


def test_explicit_fields_are_part_of_the_input() -> None:
    evidence = grounding.InputEvidence.of(["Please call me.", None, "212-555-0166", 8000.0])

    assert evidence.holds("phone", "+12125550166")
    assert evidence.holds("budget", 8000)


def test_llm_values_not_in_the_input_are_dropped_and_gaps_filled_by_the_rules() -> None:
    text = "I'm Sam Ortiz; our login page is broken. Call (415) 555-0134."
    from_llm = extraction.LeadFields(name="Sam Ortiz", email="sam@acme.example", budget=50_000)

    resolved = extraction.resolve_fields(from_llm, {}, found_by="llm", text=text)

    assert resolved.fields == extraction.LeadFields(name="Sam Ortiz", phone="+14155550134")
    assert resolved.sources == {"name": "llm", "email": None, "phone": "rules", "budget": None}
    assert [(d.field, d.reason) for d in resolved.dropped] == [
        ("email", "not_in_input"),
        ("budget", "not_in_input"),
    ]
    assert resolved.notes[0].startswith("email dropped (llm value not in the input)")
