"""The pipeline's settings and storage: phone region, one transaction per lead."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from functools import partial

import anyio
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import event
from sqlmodel import Session

from core.config import Settings
from core.database import create_db_engine, init_db
from tests.support import make_app, make_settings

LEADS = "/api/01-workflow/leads"
UK_NUMBER = "020 7946 0958"
schemas = importlib.import_module("assessments.01_workflow_automation.schemas")
services = importlib.import_module("assessments.01_workflow_automation.services")
config = importlib.import_module("assessments.01_workflow_automation.config")


@pytest.fixture
def uk_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(make_app(settings, PHONE_DEFAULT_REGION="GB")) as client:
        yield client


def test_phone_region_defaults_to_us_and_must_be_a_known_region() -> None:
    assert config.WorkflowSettings(_env_file=None).PHONE_DEFAULT_REGION == "US"
    uk = config.WorkflowSettings(_env_file=None, PHONE_DEFAULT_REGION=" gb ")
    assert uk.PHONE_DEFAULT_REGION == "GB"
    with pytest.raises(ValidationError, match="PHONE_DEFAULT_REGION"):
        config.WorkflowSettings(_env_file=None, PHONE_DEFAULT_REGION="XX")


def test_a_setting_of_an_assessment_given_to_core_settings_is_refused(
    settings: Settings,
) -> None:
    with pytest.raises(TypeError, match="PHONE_DEFAULT_REGION"):
        make_settings(settings.DATA_DIR, PHONE_DEFAULT_REGION="GB")


def test_numbers_without_a_country_code_are_read_in_the_configured_region(
    uk_client: TestClient,
) -> None:
    in_message = uk_client.post(
        LEADS, json={"message": f"Could someone call me about pricing? {UK_NUMBER}"}
    ).json()
    explicit = uk_client.post(
        LEADS, json={"message": "Could someone call me about pricing?", "phone": UK_NUMBER}
    ).json()
    international = uk_client.post(
        LEADS, json={"message": "Pricing for 40 seats? Call +1 (415) 555-0134."}
    ).json()

    assert in_message["fields"]["phone"] == "+442079460958"
    assert explicit["fields"]["phone"] == "+442079460958"
    assert international["fields"]["phone"] == "+14155550134"


def test_by_default_a_uk_number_without_country_code_is_not_a_phone(client: TestClient) -> None:
    body = client.post(LEADS, json={"message": "Call me about pricing.", "phone": UK_NUMBER}).json()

    assert body["fields"]["phone"] is None
    trail = client.get(f"{LEADS}/{body['id']}/audit").json()["data"]
    (validate,) = [entry for entry in trail if entry["step"] == "validate"]
    assert [(d["field"], d["reason"]) for d in validate["output"]["dropped"]] == [
        ("phone", "invalid")
    ]


def test_a_lead_and_its_audit_trail_are_stored_in_one_commit(settings: Settings) -> None:
    engine = create_db_engine(settings.database_url)
    init_db(engine)
    commits: list[object] = []

    @event.listens_for(engine, "commit")
    def count_commit(connection: object) -> None:
        commits.append(connection)

    with Session(engine, expire_on_commit=False) as session:
        lead, replayed = anyio.run(
            partial(
                services.create_lead,
                session=session,
                lead_in=schemas.LeadCreate(message="We'd like a quote for 40 seats."),
                llm=None,
                settings=settings,
                workflow=config.WorkflowSettings(_env_file=None),
                request_id="one-commit",
                idempotency_key="key-1",
            )
        )
        trail = services.get_audit_trail(session, lead.id)
        stored = services.to_public(services.get_lead(session, lead.id))
    engine.dispose()

    assert len(commits) == 1
    assert not replayed
    assert [entry.step for entry in trail] == [
        "classify",
        "decide",
        "extract",
        "validate",
        "persist",
    ]
    assert {entry.request_id for entry in trail} == {"one-commit"}
    assert stored == lead
