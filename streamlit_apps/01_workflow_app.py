"""Assessment 1 demo: submit leads, import a CSV, browse leads and their audit trails.

Talks to the backend over HTTP only (`BACKEND_URL`, default http://127.0.0.1:8000).
Run alone with `streamlit run streamlit_apps/01_workflow_app.py`, or as a page of
`streamlit_apps/Home.py`. User content is shown as plain text, tables or JSON,
never as Markdown or HTML.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import api_client
import streamlit as st
from api_client import backend_url, plain, show_error
from streamlit.errors import StreamlitAPIException

API_PREFIX = "/api/01-workflow"
INTENTS = ["Sales", "Support", "Partnership"]


def call(method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    return api_client.call(API_PREFIX, method, path, **kwargs)


def show_lead_result(lead: dict[str, Any]) -> None:
    intent, confidence, method = st.columns(3)
    intent.metric("Intent", lead["intent"])
    confidence.metric("Confidence", f"{lead['confidence']:.2f}")
    method.metric("Extraction", lead["extraction_method"])
    if lead["low_confidence"]:
        st.warning("Low confidence: fields were extracted by the rule-based fallback.")
    elif lead["extraction_method"] == "fallback":
        st.warning("The LLM failed: the local fallback classified or extracted this lead.")
    st.caption(f"Provider: {plain(lead['provider'])} · model: {plain(lead['model'])}")
    st.dataframe([lead["fields"]], hide_index=True)
    st.text(f"Lead id: {lead['id']}")


def submit_tab() -> None:
    mode = st.radio("Input", ["Form", "JSON"], horizontal=True, key="submit_mode")
    payload: dict[str, Any] | None = None
    if mode == "Form":
        # Emptied once submitted: the answer below stays, the next lead starts blank.
        with st.form("lead_form", clear_on_submit=True):
            name = st.text_input("Name", key="lead_name")
            email = st.text_input("Email", key="lead_email")
            phone = st.text_input("Phone", key="lead_phone")
            source = st.text_input("Source", value="streamlit", key="lead_source")
            message = st.text_area("Message", key="lead_message", height=150)
            if st.form_submit_button("Process lead"):
                payload = {"name": name, "email": email, "phone": phone, "source": source}
                payload = {key: value for key, value in payload.items() if value.strip()}
                payload["message"] = message
    else:
        example = {"name": "Dana Kim", "message": "We'd like a demo. Budget is $50k."}
        raw = st.text_area("Lead JSON", json.dumps(example, indent=2), key="lead_json", height=200)
        if st.button("Process lead", key="submit_json"):
            try:
                payload = json.loads(raw)
            except json.JSONDecodeError as exc:
                st.error(f"Not valid JSON: {plain(exc)}")
    if payload is not None:
        status, body = call("POST", "/leads", json=payload)
        st.session_state.last_lead = (status, body)
    if "last_lead" not in st.session_state:
        return
    status, body = st.session_state.last_lead
    if status == 201:
        show_lead_result(body)
    else:
        show_error(status, body)


def import_tab() -> None:
    st.caption(
        "A UTF-8 CSV with a header row. Columns: message (required), name or first/last "
        "name, email, phone, source; common aliases such as 'Full Name' or 'E-mail' work."
    )
    upload = st.file_uploader("CSV file", type=["csv"], key="csv_file")
    if upload is None or not st.button("Import", key="import_csv"):
        return
    files = {"file": (upload.name, upload.getvalue(), "text/csv")}
    status, body = call("POST", "/leads/import", files=files)
    if status != 200:
        show_error(status, body)
        return
    total, created, duplicates, failed = st.columns(4)
    total.metric("Rows", body["total"])
    created.metric("Created", body["created"])
    duplicates.metric("Duplicates", body["duplicates"])
    failed.metric("Failed", body["failed"])
    rows = [
        {
            "row": row["row"],
            "status": row["status"],
            "intent": (row["lead"] or {}).get("intent"),
            "lead id": (row["lead"] or {}).get("id"),
            "duplicate of": row["duplicate_of"],
            "problems": "; ".join(row["errors"]),
        }
        for row in body["rows"]
    ]
    st.dataframe(rows, hide_index=True, use_container_width=True)


def browse_tab() -> None:
    intent_col, confidence_col, page_col = st.columns(3)
    intent = intent_col.selectbox("Intent", ["Any", *INTENTS], key="filter_intent")
    confidence = confidence_col.selectbox(
        "Confidence", ["Any", "Low only", "High only"], key="filter_confidence"
    )
    page = page_col.number_input("Page", min_value=1, value=1, step=1, key="filter_page")
    page_size = 20
    params: dict[str, Any] = {"limit": page_size, "offset": (int(page) - 1) * page_size}
    if intent != "Any":
        params["intent"] = intent
    if confidence != "Any":
        params["low_confidence"] = confidence == "Low only"
    status, body = call("GET", "/leads", params=params)
    if status != 200:
        show_error(status, body)
        return
    st.caption(f"{body['count']} leads match")
    leads = body["data"]
    st.dataframe(
        [
            {
                "id": lead["id"],
                "intent": lead["intent"],
                "confidence": round(lead["confidence"], 3),
                "extraction": lead["extraction_method"],
                **lead["fields"],
                "message": lead["message"],
                "processed at": lead["processed_at"],
            }
            for lead in leads
        ],
        hide_index=True,
    )
    if leads:
        audit_view(leads)


def lead_label(lead: dict[str, Any]) -> str:
    """How the audit picker names a lead: who, what, when (and the id's start)."""
    who = lead["fields"].get("name") or lead["fields"].get("email") or "(no name)"
    when = lead["processed_at"][:16].replace("T", " ")
    return f"{who} · {lead['intent']} · {when} · {lead['id'][:8]}"


def audit_view(leads: list[dict[str, Any]]) -> None:
    labels = {lead["id"]: lead_label(lead) for lead in leads}
    lead_id = st.selectbox(
        "Audit trail of lead", list(labels), format_func=labels.__getitem__, key="audit_lead"
    )
    status, body = call("GET", f"/leads/{lead_id}/audit")
    if status != 200:
        show_error(status, body)
        return
    for entry in body["data"]:
        title = f"{entry['step']} · {entry['status']} · {entry['duration_ms']} ms"
        with st.expander(plain(title)):
            st.json(
                {
                    key: entry[key]
                    for key in (
                        "provider",
                        "model",
                        "prompt_version",
                        "confidence",
                        "error",
                        "started_at",
                        "finished_at",
                        "input",
                        "output",
                    )
                }
            )
            if entry["raw_output"]:
                st.code(entry["raw_output"], language="json")


def main() -> None:
    # As a page of Home.py the page config is already set, and setting it again raises.
    with contextlib.suppress(StreamlitAPIException):
        st.set_page_config(page_title="Lead-intent workflow", layout="wide")
    st.title("Lead-intent workflow")
    st.caption(f"Backend: `{backend_url()}` · Assessment 1")
    submit, import_csv, browse = st.tabs(["Submit a lead", "Import CSV", "Browse leads"])
    with submit:
        submit_tab()
    with import_csv:
        import_tab()
    with browse:
        browse_tab()


main()
