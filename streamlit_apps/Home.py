"""The demo's front door: one Streamlit server, a home page and the three assessment apps.

Run with `streamlit run streamlit_apps/Home.py` (the demo command does). Every page has its
own address (`/workflow`, `/rag`, `/saas`), so a link or a reload opens the same page. Each
page is also runnable on its own: `streamlit run streamlit_apps/02_rag_app.py`.
"""

from pathlib import Path

import streamlit as st

HERE = Path(__file__).parent

st.set_page_config(page_title="AI Engineering Assessments", layout="wide")

PAGES = [
    (
        st.Page(
            str(HERE / "01_workflow_app.py"), title="1 · Lead-intent workflow", url_path="workflow"
        ),
        "Classify a lead's intent, extract its fields, import a CSV, read the audit trail.",
    ),
    (
        st.Page(str(HERE / "02_rag_app.py"), title="2 · RAG chatbot", url_path="rag"),
        "Ask a company's documents a question: answers with sources, or the refusal.",
    ),
    (
        st.Page(str(HERE / "03_saas_app.py"), title="3 · Multi-tenant AI agents", url_path="saas"),
        "Tenants, agents, signed CRM webhooks, usage and audit.",
    ),
]


def home() -> None:
    st.title("AI Engineering Assessments")
    st.caption("Three reference implementations behind one backend; pick one.")
    for page, summary in PAGES:
        st.page_link(page, label=page.title)
        st.caption(summary)


# The home page is the default (served at /): a default page has no address of its own, so
# none of the assessments is the default one.
st.navigation([st.Page(home, title="Home", default=True), *(page for page, _ in PAGES)]).run()
