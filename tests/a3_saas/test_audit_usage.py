"""The audit log and the usage report: every write and agent run, the caller's tenant only."""

from __future__ import annotations

from tests.a3_saas.helpers import Api


def test_every_write_and_agent_run_is_audited_with_who_did_it(api: Api) -> None:
    tenant = api.create_tenant()
    member = api.add_member(tenant)
    lead = api.create_lead(tenant, email="a@b.example")

    api.patch(f"/leads/{lead['id']}", headers=member, json={"company": "Acme"})
    api.post("/agents/qualify", headers=member, json={"lead_id": lead["id"]})
    api.delete(f"/leads/{lead['id']}", headers=member)
    api.create_contact(tenant)

    audit = api.get("/audit", headers=tenant.headers).json()
    actions = [entry["action"] for entry in audit["data"]]
    assert actions == [
        "crm_contact.created",
        "lead.deleted",
        "agent.qualify",
        "lead.updated",
        "lead.created",
        "user.created",
        "tenant.created",
    ]
    by_action = {entry["action"]: entry for entry in audit["data"]}
    assert by_action["lead.updated"]["details"] == {"fields": ["company"]}
    assert by_action["lead.updated"]["user_id"] != by_action["lead.created"]["user_id"]
    assert by_action["agent.qualify"]["details"]["provider"] == "local"
    assert by_action["lead.deleted"]["resource_id"] == lead["id"]
    assert all(entry["request_id"] for entry in audit["data"])


def test_audit_log_filters_by_action_and_shows_only_the_callers_tenant(api: Api) -> None:
    tenant_a, tenant_b = api.create_tenant(), api.create_tenant()
    api.create_lead(tenant_a)
    api.create_lead(tenant_a)

    a_leads = api.get("/audit?action=lead.created", headers=tenant_a.headers).json()
    b_leads = api.get("/audit?action=lead.created", headers=tenant_b.headers).json()

    assert a_leads["count"] == 2
    assert b_leads["count"] == 0


def test_usage_reports_runs_tokens_and_cost_per_agent_model_and_day_for_the_caller_only(
    api: Api,
) -> None:
    tenant_a, tenant_b = api.create_tenant(), api.create_tenant()
    for _ in range(2):
        api.post("/agents/extract", headers=tenant_a.headers, json={"text": "jane@x.example"})
    api.post("/agents/reply", headers=tenant_a.headers, json={"thread": "Hi"})

    usage_a = api.get("/usage", headers=tenant_a.headers).json()
    usage_b = api.get("/usage", headers=tenant_b.headers).json()

    assert usage_a["agent_runs_this_month"] == 3
    assert usage_a["monthly_agent_runs"] == 1000
    assert {(row["agent"], row["model"], row["runs"]) for row in usage_a["data"]} == {
        ("extract", "rules+phonenumbers+email-validator", 2),
        ("reply", "reply-template-v1", 1),
    }
    assert len({row["day"] for row in usage_a["data"]}) == 1
    assert usage_a["total_cost_usd"] == 0
    assert usage_b["agent_runs_this_month"] == 0
    assert usage_b["data"] == []
