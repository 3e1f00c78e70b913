"""The demo's front door: one Streamlit server, the three assessment apps as pages.

Run with `streamlit run streamlit_apps/Home.py` (the demo command does).
Each page is also runnable on its own: `streamlit run streamlit_apps/02_rag_app.py`.
"""

from pathlib import Path

import streamlit as st

HERE = Path(__file__).parent

st.set_page_config(page_title="AI Engineering Assessments", layout="wide")

pages = st.navigation(
    [
        st.Page(
            str(HERE / "01_workflow_app.py"),
            title="1 · Lead-intent workflow",
            url_path="workflow",
            default=True,
        ),
        st.Page(str(HERE / "02_rag_app.py"), title="2 · RAG chatbot", url_path="rag"),
        st.Page(str(HERE / "03_saas_app.py"), title="3 · Multi-tenant AI agents", url_path="saas"),
    ]
)
pages.run()
