"""Tenants and users: who may create them, and what a tenant sees of itself."""

from __future__ import annotations

from tests.a3_saas.helpers import Api


def test_platform_admin_creates_a_tenant_and_sees_its_secret_once(api: Api) -> None:
    response = api.post(
        "/tenants",
        headers=api.platform_admin(),
        json={
            "name": "Initech",
            "subscription_tier": "pro",
            "admin_email": "Bill@Initech.example",
            "admin_password": "tps-reports-1",
        },
    )

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Initech"
    assert body["subscription_tier"] == "pro"
    assert body["webhook_secret"].startswith("whsec_")
    admin = api.login("bill@initech.example", "tps-reports-1")
    me = api.get("/tenants/me", headers=admin).json()
    assert me["id"] == body["id"]
    assert "webhook_secret" not in me
    assert me["limits"]["monthly_agent_runs"] == 20_000


def test_only_the_platform_admin_creates_tenants(api: Api) -> None:
    tenant = api.create_tenant()
    body = {
        "name": "Sneaky",
        "subscription_tier": "enterprise",
        "admin_email": "x@sneaky.example",
        "admin_password": "password-123",
    }

    assert api.post("/tenants", headers=tenant.headers, json=body).status_code == 403


def test_a_taken_admin_email_or_tenant_name_is_a_conflict(api: Api) -> None:
    tenant = api.create_tenant()
    admin = api.platform_admin()
    body = {"subscription_tier": "starter", "admin_password": "password-123"}

    same_email = api.post(
        "/tenants", headers=admin, json={**body, "name": "Other", "admin_email": tenant.admin_email}
    )
    same_name = api.post(
        "/tenants", headers=admin, json={**body, "name": tenant.name, "admin_email": "n@n.example"}
    )

    assert same_email.status_code == 409
    assert same_name.status_code == 409


def test_tenant_admin_adds_a_member_who_can_work_but_not_administer(api: Api) -> None:
    tenant = api.create_tenant()

    member = api.add_member(tenant)

    assert api.post("/leads", headers=member, json={"name": "Ann"}).status_code == 201
    assert api.get("/leads", headers=member).json()["count"] == 1
    users = api.get("/users", headers=tenant.headers).json()
    assert {u["role"] for u in users["data"]} == {"tenant_admin", "member"}


def test_member_cannot_add_users_read_audit_or_usage(api: Api) -> None:
    tenant = api.create_tenant()
    member = api.add_member(tenant)

    response = api.post(
        "/users", headers=member, json={"email": "friend@tenant.example", "password": "password-1"}
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert api.get("/audit", headers=member).status_code == 403
    assert api.get("/usage", headers=member).status_code == 403
    assert api.post("/tenants/me/webhook-secret", headers=member).status_code == 403


def test_emails_are_unique_across_tenants(api: Api) -> None:
    tenant_a, tenant_b = api.create_tenant(), api.create_tenant()

    response = api.post(
        "/users",
        headers=tenant_b.headers,
        json={"email": tenant_a.admin_email, "password": "pw-12345678"},
    )

    assert response.status_code == 409


def test_rotating_the_webhook_secret_shows_the_new_one_once(api: Api) -> None:
    tenant = api.create_tenant()

    response = api.post("/tenants/me/webhook-secret", headers=tenant.headers)

    assert response.status_code == 200
    new_secret = response.json()["webhook_secret"]
    assert new_secret.startswith("whsec_") and new_secret != tenant.webhook_secret
    contact = api.create_contact(tenant)
    assert api.send_webhook(tenant, contact["id"]).status_code == 401
    assert api.send_webhook(tenant, contact["id"], secret=new_secret).status_code == 202
