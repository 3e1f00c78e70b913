"""The demo's sample leads: loaded once at start when the table is empty."""

from __future__ import annotations

import importlib

import anyio
from sqlmodel import Session, func, select

from core.config import Settings
from core.database import create_db_engine, init_db

services = importlib.import_module("assessments.01_workflow_automation.services")
models = importlib.import_module("assessments.01_workflow_automation.models")
config = importlib.import_module("assessments.01_workflow_automation.config")


def test_sample_leads_load_once_with_their_audit_trails(settings: Settings) -> None:
    engine = create_db_engine(settings.database_url)
    init_db(engine)
    workflow = config.WorkflowSettings(_env_file=None)

    with Session(engine) as session:
        first = anyio.run(services.load_sample_leads, session, settings, workflow)
        second = anyio.run(services.load_sample_leads, session, settings, workflow)
        leads = session.exec(select(models.Lead)).all()
        audit_rows = session.exec(select(func.count()).select_from(models.LeadAudit)).one()

    assert first == len(leads) == 12
    assert second == 0
    assert audit_rows == 12 * 5
    assert {lead.intent for lead in leads} == {"Sales", "Support", "Partnership"}
    assert any(lead.low_confidence for lead in leads)
    engine.dispose()


def test_openapi_documents_every_workflow_route(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    assert {
        "/api/01-workflow/leads",
        "/api/01-workflow/leads/{lead_id}",
        "/api/01-workflow/leads/{lead_id}/audit",
        "/api/01-workflow/leads/batch",
        "/api/01-workflow/leads/import",
    } <= set(paths)
