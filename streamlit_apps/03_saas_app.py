"""Assessment 3 demo: tenants, agents, CRM webhooks, usage and audit, over HTTP.

Sign in as the platform admin to create a tenant (you are then signed in as
its admin), or as a demo tenant's admin. Run the three agents, create a CRM
contact, send it a correctly signed `contact.updated` webhook (signed here,
the way a CRM would, with the `standardwebhooks` package) and watch the score
land on the contact and the lead. Talks to `BACKEND_URL` (default
http://127.0.0.1:8000). User content is shown as plain text, tables or JSON.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import api_client
import streamlit as st
from api_client import plain, show_error
from standardwebhooks import Webhook
from streamlit.errors import StreamlitAPIException

API_PREFIX = "/api/03-saas"
DEV_ADMIN = ("admin@example.com", "change-me-admin")
DEMO_TENANT_ADMIN = ("admin@acme.example", "acme-admin-demo")
# Suggested in the contact form: the first one the tenant does not have yet.
SAMPLE_CONTACTS = [
    {
        "name": "Lena Fischer",
        "email": "lena@fabrikam.example",
        "company": "Fabrikam",
        "message": "Head of Sales here. We need a CRM assistant ASAP; 40k budget approved.",
    },
    {
        "name": "Omar Haddad",
        "email": "omar@tailspin.example",
        "company": "Tailspin Toys",
        "message": "VP Operations. We plan to roll out next quarter; budget around $60k.",
    },
    {
        "name": "Mei Tanaka",
        "email": "mei@wingtip.example",
        "company": "Wingtip",
        "message": "CTO here; evaluating vendors this month, budget $35k.",
    },
]


def call(method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    """One API call as the signed-in user."""
    return api_client.call(API_PREFIX, method, path, token=st.session_state.get("token"), **kwargs)


def sign_in(email: str, password: str) -> bool:
    st.session_state.pop("token", None)
    status, body = call("POST", "/auth/token", json={"email": email, "password": password})
    if status != 200:
        show_error(status, body)
        return False
    st.session_state.token = body["access_token"]
    st.session_state.email = email
    return True


def sidebar() -> None:
    with st.sidebar:
        st.subheader("Sign in")
        if "token" in st.session_state:
            st.text(f"Signed in as {st.session_state.email}")
            if st.button("Sign out", key="sign_out"):
                for key in ("token", "email", "webhook_secret", "agent_results"):
                    st.session_state.pop(key, None)
                st.rerun()
            return
        st.caption(
            f"Platform admin: {DEV_ADMIN[0]} / {DEV_ADMIN[1]}. "
            f"Demo tenant admin: {DEMO_TENANT_ADMIN[0]} / {DEMO_TENANT_ADMIN[1]}."
        )
        with st.form("sign_in"):
            email = st.text_input("Email", value=DEV_ADMIN[0], key="sign_in_email")
            password = st.text_input(
                "Password", value=DEV_ADMIN[1], type="password", key="sign_in_password"
            )
            if st.form_submit_button("Sign in", key="sign_in_submit") and sign_in(email, password):
                st.rerun()


def create_tenant_page() -> None:
    st.subheader("Create a tenant")
    st.caption("You are the platform admin. A new tenant gets an admin and a webhook secret.")
    with st.form("create_tenant"):
        name = st.text_input("Tenant name", value=f"Demo {uuid.uuid4().hex[:4]}", key="t_name")
        tier = st.selectbox("Tier", ["starter", "pro", "enterprise"], key="t_tier")
        email = st.text_input("Admin email", value=f"admin-{uuid.uuid4().hex[:6]}@demo.example")
        password = st.text_input("Admin password", value="demo-password-1", type="password")
        if not st.form_submit_button("Create tenant", key="create_tenant_submit"):
            return
    payload = {
        "name": name,
        "subscription_tier": tier,
        "admin_email": email,
        "admin_password": password,
    }
    status, body = call("POST", "/tenants", json=payload)
    if status != 201:
        show_error(status, body)
        return
    if sign_in(email, password):
        st.session_state.webhook_secret = body["webhook_secret"]
        st.rerun()


def leads_tab() -> None:
    status, body = call("GET", "/leads")
    if status != 200:
        show_error(status, body)
        return
    columns = ("name", "email", "company", "budget", "ai_score", "qualified_at", "id")
    st.dataframe([{c: lead[c] for c in columns} for lead in body["data"]], hide_index=True)
    with st.form("create_lead"):
        name = st.text_input("Name", key="lead_name")
        email = st.text_input("Email", key="lead_email")
        company = st.text_input("Company", key="lead_company")
        message = st.text_area("Message", key="lead_message")
        if st.form_submit_button("Create lead", key="create_lead_submit"):
            payload = {"name": name, "email": email, "company": company, "message": message}
            status, body = call("POST", "/leads", json={k: v for k, v in payload.items() if v})
            if status == 201:
                st.rerun()
            show_error(status, body)


def pick_lead(key: str) -> str | None:
    _, body = call("GET", "/leads")
    leads = {f"{lead['name']} ({lead['id'][:8]})": lead["id"] for lead in body.get("data", [])}
    choice = st.selectbox("Lead", ["(none)", *leads], key=key)
    return leads.get(choice)


def show_run(body: dict[str, Any]) -> None:
    usage = body["usage"]
    st.caption(
        f"agent {plain(body['agent'])} · provider {plain(body['provider'])} · "
        f"model {plain(body['model'])} · {usage['total_tokens']} tokens · "
        f"${usage['cost_usd'] or 0:.6f}" + (" · fell back to local" if body["fallback"] else "")
    )


def agents_tab() -> None:
    # Each agent's last answer is kept: running one agent leaves the others' results shown.
    results: dict[str, tuple[int, Any]] = st.session_state.setdefault("agent_results", {})
    qualify, extract, reply = st.columns(3)
    with qualify:
        st.markdown("**Lead qualifier**")
        lead_id = pick_lead("qualify_lead")
        message = st.text_area("…or a message", key="qualify_message", value="")
        if st.button("Qualify", key="run_qualify"):
            payload = {"lead_id": lead_id} if lead_id else {"lead": {"message": message}}
            results["qualify"] = call("POST", "/agents/qualify", json=payload)
        show_result(results.get("qualify"), show_score)
    with extract:
        st.markdown("**Entity extractor**")
        text = st.text_area(
            "Text",
            key="extract_text",
            value="Hi, I'm Jane Doe (jane@example.com, +1 415 555 2671). Budget: $25k.",
        )
        if st.button("Extract", key="run_extract"):
            results["extract"] = call("POST", "/agents/extract", json={"text": text})
        show_result(results.get("extract"), lambda body: st.json(body["fields"]))
    with reply:
        st.markdown("**Reply generator**")
        lead_id = pick_lead("reply_lead")
        thread = st.text_area(
            "Email thread", key="reply_thread", value="Hello, do you integrate with Salesforce?"
        )
        if st.button("Draft reply", key="run_reply"):
            payload = {"thread": thread, "lead_id": lead_id}
            results["reply"] = call("POST", "/agents/reply", json=payload)
        show_result(results.get("reply"), lambda body: st.text(body["reply"]))


def show_score(body: dict[str, Any]) -> None:
    st.metric("Score", f"{body['score']:.2f}")
    for reason in body["reasons"]:
        st.text(reason)


def show_result(result: tuple[int, Any] | None, show: Any) -> None:
    if result is None:
        return
    status, body = result
    if status != 200:
        show_error(status, body)
        return
    show(body)
    show_run(body)


def signed_webhook(secret: str, tenant_id: str, contact_id: str) -> tuple[bytes, dict[str, str]]:
    """What a CRM sends: the body and the three Standard Webhooks headers."""
    body = json.dumps(
        {"type": "contact.updated", "tenant_id": tenant_id, "data": {"id": contact_id}}
    )
    event_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
    headers = {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, now, body),
        "content-type": "application/json",
    }
    return body.encode(), headers


def wait_for_event(event_id: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        _, event = call("GET", f"/webhooks/events/{event_id}")
        if event.get("status") in ("done", "dead") or time.monotonic() > deadline:
            return event  # type: ignore[no-any-return]
        time.sleep(0.2)


def suggested_contact(rows: list[dict[str, Any]]) -> dict[str, str]:
    """A sample contact the tenant does not have yet (by email); blank once all are in."""
    taken = {row["email"] for row in rows}
    blank = {"name": "", "email": "", "company": "", "message": ""}
    return next((c for c in SAMPLE_CONTACTS if c["email"] not in taken), blank)


def crm_tab(tenant: dict[str, Any]) -> None:
    _, contacts = call("GET", "/crm/contacts", params={"limit": 200})
    rows = contacts.get("data", [])
    suggestion = suggested_contact(rows)
    # Keyed by the suggestion, so the form shows the next one once a contact is created.
    with st.form(f"create_contact_{suggestion['email']}", clear_on_submit=True):
        name = st.text_input("Contact name", value=suggestion["name"])
        email = st.text_input("Email", value=suggestion["email"])
        company = st.text_input("Company", value=suggestion["company"])
        message = st.text_area("Message", value=suggestion["message"])
        if st.form_submit_button("Create contact", key="create_contact_submit"):
            payload = {"name": name, "email": email, "company": company, "message": message}
            payload = {key: value for key, value in payload.items() if value}
            status, body = call("POST", "/crm/contacts", json=payload)
            if status == 201:
                st.rerun()
            show_error(status, body)
    st.dataframe(
        [{c: row[c] for c in ("name", "email", "company", "ai_score", "id")} for row in rows],
        hide_index=True,
    )

    st.markdown("**Send a signed `contact.updated` webhook**")
    secret = st.session_state.get("webhook_secret")
    if not secret:
        st.caption("The webhook secret is shown once. Rotate it to get a new one (admins only).")
        if st.button("Rotate and reveal the webhook secret", key="rotate_secret"):
            status, body = call("POST", "/tenants/me/webhook-secret")
            if status != 200:
                show_error(status, body)
                return
            st.session_state.webhook_secret = secret = body["webhook_secret"]
    options = {f"{row['name']} ({row['id'][:8]})": row["id"] for row in rows}
    choice = st.selectbox("Contact", list(options))
    if secret and choice and st.button("Send webhook", key="send_webhook"):
        body, headers = signed_webhook(secret, tenant["id"], options[choice])
        status, receipt = call(
            "POST", "/webhooks/crm/contact.updated", content=body, headers=headers
        )
        if status != 202:
            show_error(status, receipt)
            return
        st.json({"sent_headers": headers, "answer": receipt})
        event = wait_for_event(receipt["event_id"])
        st.text(f"Event {event.get('event_id')}: {event.get('status')}")
        _, contact = call("GET", f"/crm/contacts/{options[choice]}")
        _, leads = call("GET", "/leads", params={"limit": 200})
        mirrored = [x for x in leads.get("data", []) if x["crm_contact_id"] == contact.get("id")]
        contact_score, lead_score = st.columns(2)
        contact_score.metric("Contact ai_score", contact.get("ai_score"))
        lead_score.metric("Lead ai_score", mirrored[0]["ai_score"] if mirrored else None)

    _, dead = call("GET", "/webhooks/events", params={"status": "dead"})
    for event in dead.get("data", []):
        st.text(f"Dead letter {event['event_id']}: {event['last_error']}")
        if st.button("Replay", key=f"replay_{event['event_id']}"):
            call("POST", f"/webhooks/events/{event['event_id']}/replay")
            st.rerun()


def usage_tab() -> None:
    status, usage = call("GET", "/usage")
    if status != 200:
        show_error(status, usage)
        return
    quota = usage["monthly_agent_runs"] or "unlimited"
    st.metric("Agent runs this month", f"{usage['agent_runs_this_month']} / {quota}")
    st.dataframe(usage["data"], hide_index=True)
    _, audit = call("GET", "/audit", params={"limit": 50})
    # A table, not a grid: action names and emails are shown whole.
    st.table(audit_rows(audit.get("data", [])))


def audit_rows(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Who did what: the user's email (members cannot list users: their id), or "system"."""
    status, users = call("GET", "/users", params={"limit": 200})
    emails = {user["id"]: user["email"] for user in users["data"]} if status == 200 else {}
    return [
        {
            "when": entry["created_at"][:19].replace("T", " "),
            "action": entry["action"],
            "resource": f"{entry['resource_type']} {entry['resource_id'] or ''}".strip(),
            "by": emails.get(entry["user_id"], entry["user_id"]) if entry["user_id"] else "system",
        }
        for entry in entries
    ]


def main() -> None:
    with contextlib.suppress(StreamlitAPIException):  # already set when run as a page of Home
        st.set_page_config(page_title="Multi-tenant AI agents", layout="wide")
    st.title("Assessment 3 · Multi-tenant AI agent SaaS")
    sidebar()
    if "token" not in st.session_state:
        st.info("Sign in (left) to start.")
        return
    status, tenant = call("GET", "/tenants/me")
    if status == 403:
        create_tenant_page()
        return
    if status != 200:
        show_error(status, tenant)
        return
    st.caption(
        f"Tenant {plain(tenant['name'])} · tier {tenant['subscription_tier']} · "
        f"rate limit {tenant['limits']['rate_limit']}"
    )
    leads, agents, crm, usage = st.tabs(["Leads", "Agents", "CRM & webhooks", "Usage & audit"])
    with leads:
        leads_tab()
    with agents:
        agents_tab()
    with crm:
        crm_tab(tenant)
    with usage:
        usage_tab()


main()
