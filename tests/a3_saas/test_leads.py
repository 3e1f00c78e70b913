"""A tenant's own leads: create, update, delete, and what bad updates get."""

from __future__ import annotations

from tests.a3_saas.helpers import Api


def test_patch_changes_only_the_fields_sent(api: Api) -> None:
    tenant = api.create_tenant()
    lead = api.create_lead(tenant, name="Dana Scully", company="FBI", budget=5000)

    response = api.patch(f"/leads/{lead['id']}", headers=tenant.headers, json={"budget": 9000})

    assert response.status_code == 200
    body = response.json()
    assert body["budget"] == 9000
    assert body["name"] == "Dana Scully" and body["company"] == "FBI"


def test_patch_with_a_null_name_is_422_and_changes_nothing(api: Api) -> None:
    tenant = api.create_tenant()
    lead = api.create_lead(tenant, name="Dana Scully")

    response = api.patch(f"/leads/{lead['id']}", headers=tenant.headers, json={"name": None})

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    again = api.get(f"/leads/{lead['id']}", headers=tenant.headers).json()
    assert again["name"] == "Dana Scully"


def test_deleted_lead_answers_404(api: Api) -> None:
    tenant = api.create_tenant()
    lead = api.create_lead(tenant)

    assert api.delete(f"/leads/{lead['id']}", headers=tenant.headers).status_code == 204
    assert api.get(f"/leads/{lead['id']}", headers=tenant.headers).status_code == 404


def test_a_nul_character_in_a_lead_or_contact_is_422_and_stores_nothing(api: Api) -> None:
    # PostgreSQL cannot store U+0000 in text: it was a 500 there (schemathesis found it).
    tenant = api.create_tenant()

    lead = api.post("/leads", headers=tenant.headers, json={"name": "Dana\x00 Scully"})
    contact = api.post("/crm/contacts", headers=tenant.headers, json={"name": "Fox\x00"})

    assert (lead.status_code, contact.status_code) == (422, 422)
    assert lead.json()["error"]["code"] == contact.json()["error"]["code"] == "validation_error"
    assert api.get("/leads", headers=tenant.headers).json()["count"] == 0
    assert api.get("/crm/contacts", headers=tenant.headers).json()["count"] == 0
