"""Tenant isolation: another tenant's ids answer 404 and change nothing; lists show only
the caller's rows; on PostgreSQL, row-level security filters even raw SQL."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import create_engine, text

from tests.a3_saas.helpers import Api, TenantHandle, saas_module


@pytest.fixture
def two_tenants(api: Api) -> tuple[TenantHandle, TenantHandle, dict[str, str]]:
    """Tenant A, tenant B, and the ids of B's lead, contact and dead-lettered event."""
    tenant_a, tenant_b = api.create_tenant(), api.create_tenant()
    lead = api.create_lead(tenant_b, name="B's secret lead", email="secret@b.example")
    contact = api.create_contact(tenant_b, name="B's contact")
    missing_contact = str(uuid.uuid4())
    event = api.send_webhook(tenant_b, missing_contact).json()["event_id"]
    api.drain()
    return tenant_a, tenant_b, {"lead": lead["id"], "contact": contact["id"], "event": event}


CROSS_TENANT_CALLS = [
    ("GET", "/leads/{lead}", None),
    ("PATCH", "/leads/{lead}", {"name": "hijacked"}),
    ("DELETE", "/leads/{lead}", None),
    ("GET", "/crm/contacts/{contact}", None),
    ("POST", "/agents/qualify", {"lead_id": "{lead}"}),
    ("POST", "/agents/reply", {"thread": "Hello?", "lead_id": "{lead}"}),
    ("GET", "/webhooks/events/{event}", None),
    ("POST", "/webhooks/events/{event}/replay", None),
]


@pytest.mark.parametrize(("method", "path", "body"), CROSS_TENANT_CALLS)
def test_another_tenants_ids_answer_404_never_data(
    api: Api, two_tenants: tuple, method: str, path: str, body: dict | None
) -> None:
    tenant_a, tenant_b, ids = two_tenants
    if body is not None:
        body = {key: value.format(**ids) for key, value in body.items()}

    response = api.request(method, path.format(**ids), headers=tenant_a.headers, json=body)

    assert response.status_code == 404
    assert "secret" not in response.text
    lead = api.get(f"/leads/{ids['lead']}", headers=tenant_b.headers).json()
    assert lead["name"] == "B's secret lead"
    assert lead["ai_score"] is None


def test_lists_show_only_the_callers_rows(api: Api, two_tenants: tuple) -> None:
    tenant_a, tenant_b, _ = two_tenants
    api.create_lead(tenant_a, name="A's lead")

    for path in ("/leads", "/crm/contacts", "/webhooks/events", "/audit", "/users"):
        a_rows = api.get(path, headers=tenant_a.headers).json()["data"]
        b_rows = api.get(path, headers=tenant_b.headers).json()["data"]
        assert "secret" not in str(a_rows), path
        assert not {str(r.get("id")) for r in a_rows} & {str(r.get("id")) for r in b_rows}, path
    assert [
        lead["name"] for lead in api.get("/leads", headers=tenant_a.headers).json()["data"]
    ] == ["A's lead"]
    assert api.get("/webhooks/events", headers=tenant_a.headers).json()["count"] == 0


def test_webhook_signed_with_one_tenants_secret_cannot_act_for_another(
    api: Api, two_tenants: tuple
) -> None:
    tenant_a, tenant_b, ids = two_tenants

    response = api.send_webhook(
        tenant_a, ids["contact"], secret=tenant_a.webhook_secret, tenant_id=tenant_b.id
    )

    assert response.status_code == 401


def test_row_level_security_filters_an_unscoped_select(pg_api: Api) -> None:
    tenant_a, tenant_b = pg_api.create_tenant(), pg_api.create_tenant()
    pg_api.create_lead(tenant_a, name="Alpha")
    pg_api.create_lead(tenant_b, name="Bravo")

    with pg_api.runtime.tenant_db(uuid.UUID(tenant_a.id)) as db:
        names = [row.name for row in db.session.exec(text("SELECT * FROM lead")).all()]
        tenant_ids = db.session.exec(text("SELECT DISTINCT tenant_id FROM audit_log")).all()
        role = db.session.exec(
            text("SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user")
        ).one()

    assert names == ["Alpha"]
    assert [str(row[0]) for row in tenant_ids] == [tenant_a.id]
    assert role == (False,)


def test_row_level_security_hides_everything_without_a_tenant_setting(pg_api: Api) -> None:
    tenant = pg_api.create_tenant()
    pg_api.create_lead(tenant, name="Alpha")

    with pg_api.runtime.tenant_engine.connect() as connection:
        count = connection.execute(text("SELECT count(*) FROM lead")).scalar_one()

    assert count == 0


def test_row_level_security_refuses_writing_into_another_tenant(pg_api: Api) -> None:
    tenant_a, tenant_b = pg_api.create_tenant(), pg_api.create_tenant()

    with pg_api.runtime.tenant_db(uuid.UUID(tenant_a.id)) as db, pytest.raises(Exception) as err:
        db.session.exec(
            text(
                "INSERT INTO lead (id, tenant_id, name, created_at, updated_at) "
                "VALUES (:id, :tenant, 'planted', now(), now())"
            ),
            params={"id": uuid.uuid4(), "tenant": uuid.UUID(tenant_b.id)},
        )
        db.commit()

    assert "row-level security" in str(err.value)


def test_applying_row_level_security_again_waits_for_no_table_lock(
    pg_api: Api, postgres_url: str
) -> None:
    # Another process starting (a Celery worker's first job) while requests hold locks.
    rls = saas_module("rls")
    busy = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    starting = create_engine(
        postgres_url.replace("postgresql://", "postgresql+psycopg://"),
        connect_args={"options": "-c lock_timeout=2s"},
    )
    try:
        with busy.begin() as request:
            request.execute(text("LOCK TABLE audit_log, tenant IN ROW EXCLUSIVE MODE"))
            rls.apply_row_level_security(starting, app_role=pg_api.runtime.saas.DB_APP_ROLE)
    finally:
        busy.dispose()
        starting.dispose()


def test_the_plain_insert_path_refuses_a_row_of_another_tenant(api: Api) -> None:
    """`TenantDB.insert` (the webhook intake's write) checks the owner as `add` does."""
    audit_log = saas_module("audit.models").AuditLog
    tenant_a, tenant_b = api.create_tenant(), api.create_tenant()
    planted = audit_log(
        tenant_id=uuid.UUID(tenant_b.id), action="planted", resource_type="lead", details={}
    )

    with api.runtime.tenant_db(uuid.UUID(tenant_a.id)) as db:
        with pytest.raises(PermissionError):
            db.insert(planted)
        db.commit()
    entries = api.get("/audit", headers=tenant_b.headers, params={"action": "planted"}).json()

    assert entries["count"] == 0


@pytest.mark.parametrize("then_query", [False, True], ids=["pending", "autoflushed"])
def test_a_tenant_work_that_leaves_a_change_uncommitted_keeps_nothing(
    api: Api, then_query: bool
) -> None:
    """Reads end with COMMIT (psycopg keeps its prepared statements); a change the work left
    uncommitted is still dropped, as closing the session always did. Also when a query
    after the change flushed it (autoflush): the session then lists nothing pending."""
    dependencies, tokens = saas_module("dependencies"), saas_module("auth.tokens")
    lead_model = saas_module("leads.models").Lead
    tenant = api.create_tenant()
    lead = api.create_lead(tenant, name="Before")
    token = tenant.headers["Authorization"].removeprefix("Bearer ")
    claims = tokens.decode_access_token(
        token, auth=api.runtime.auth, data_dir=api.runtime.settings.DATA_DIR
    )
    work = dependencies.TenantWork(api.runtime, claims, None, "test", on_loop=True)

    def rename(db, ctx) -> str:  # type: ignore[no-untyped-def]
        row = db.get(lead_model, uuid.UUID(lead["id"]))
        row.name = "After"
        if then_query:
            return db.run(db.select(lead_model).where(lead_model.id == row.id)).one().name
        return row.name

    assert asyncio.run(work(rename)) == "After"
    assert api.get(f"/leads/{lead['id']}", headers=tenant.headers).json()["name"] == "Before"
