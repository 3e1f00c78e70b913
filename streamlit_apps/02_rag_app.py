"""Assessment 2 demo: chat with one company's documents, over the backend's HTTP API.

Run on its own with `streamlit run streamlit_apps/02_rag_app.py` (or as a page
of Home.py). The backend is at BACKEND_URL (default http://127.0.0.1:8000).

Everything that comes from documents (answers, snippets, file names) is shown
as plain text: Markdown and HTML characters are escaped before rendering, so a
document cannot inject markup or script into this page.
"""

from __future__ import annotations

import contextlib
from typing import Any

import api_client
import streamlit as st
from api_client import plain, show_error
from streamlit.errors import StreamlitAPIException

API_PREFIX = "/api/02-rag"

# Home.py has already set the page config when this runs as one of its pages.
with contextlib.suppress(StreamlitAPIException):
    st.set_page_config(page_title="RAG chatbot", page_icon="📚", layout="wide")


def call(method: str, path: str, **kwargs: Any) -> Any:
    """The JSON answer of the backend, or None after showing its error message."""
    status, body = api_client.call(API_PREFIX, method, path, **kwargs)
    if 200 <= status < 300:
        return body
    show_error(status, body)
    return None


REFUSAL_REASONS = {
    "below_threshold": " (no passage is similar enough to the question)",
    "not_supported": " (related passages were found, but none states the answer)",
    "llm_refused": " (the model found no answer in the passages)",
}


def show_answer(message: dict) -> None:
    st.markdown(plain(message["content"]))
    if message.get("refused"):
        why = REFUSAL_REASONS.get(message.get("refusal_reason") or "", "")
        st.caption(plain(f"Refused: the documents do not answer this{why}."))
        return
    details = [f"confidence {message.get('confidence', 0):.2f}"]
    if message.get("provider"):
        details.append(f"{message['provider']} · {message.get('model', '')}")
    if message.get("fallback"):
        details.append("LLM failed, local fallback")
    st.caption(plain(" | ".join(details)))
    all_sources = message.get("sources") or []
    # Passages under the similarity threshold that the answer does not cite (hybrid search
    # found them by keywords) are not sources of this answer: counted, not listed.
    # The numbers stay those of the answer's [n] markers.
    sources = [
        (number, source)
        for number, source in enumerate(all_sources, start=1)
        if source.get("cited") or source.get("above_threshold", True)
    ]
    if sources:
        cited = sum(1 for _, source in sources if source.get("cited"))
        with st.expander(f"Sources ({cited} cited of {len(sources)})"):
            for number, source in sources:
                st.markdown(plain(f"[{number}] {source['source']} · {source_mark(source)}"))
                st.caption(plain(source["snippet"]))
            if hidden := len(all_sources) - len(sources):
                st.caption(f"{hidden} more passages found by keywords, under the threshold.")


def source_mark(source: dict) -> str:
    """Cited or not, and whether the chunk passed the similarity threshold or was kept by
    keyword search alone (hybrid retrieval)."""
    score = f"similarity {source['score']:.3f}"
    if not source.get("above_threshold", True):
        score += " (under the threshold: found by keywords)"
    return f"{score} · {'cited in the answer' if source.get('cited') else 'not cited'}"


def show_ingest_jobs() -> None:
    """The background ingests this session started, as the backend reports them now."""
    job_ids = st.session_state.get("ingest_jobs", [])
    if not job_ids:
        return
    with st.sidebar.expander("Background ingests", expanded=True):
        for job_id in job_ids:
            job = call("GET", f"/ingest-jobs/{job_id}")
            if not job:
                continue
            line = f"{job['source']}: {job['status']}"
            if job["status"] == "done":
                line += f", {job['chunks']} chunks"
            elif job["status"] == "failed":
                line += f" ({job['error']})"
            st.markdown(plain(line))
        if st.button("Refresh"):
            st.rerun()


def sidebar() -> tuple[str | None, bool]:
    st.sidebar.header("Company")
    companies = call("GET", "/companies") or {"data": []}
    ids = [company["id"] for company in companies["data"]]
    company_id = st.sidebar.selectbox("Company", ids, index=0 if ids else None)
    rewrite = st.sidebar.toggle("Friendlier answers (rewrite)", value=False)

    st.sidebar.header("Upload documents")
    target = st.sidebar.text_input("Company id for the upload", value=company_id or "")
    files = st.sidebar.file_uploader(
        "TXT, Markdown or PDF", type=["txt", "md", "pdf"], accept_multiple_files=True
    )
    if st.sidebar.button("Upload", disabled=not files or not target):
        parts = [("files", (f.name, f.getvalue())) for f in files or []]
        result = call("POST", "/documents", data={"company_id": target}, files=parts)
        if result:
            for item in result["data"]:
                st.sidebar.success(
                    plain(f"{item['source']}: {item['status']}, {item['chunks']} chunks")
                )
            # Large files are ingested in the background (202): follow them below.
            jobs = st.session_state.setdefault("ingest_jobs", [])
            jobs.extend(job["id"] for job in result.get("jobs", []))
    show_ingest_jobs()

    if company_id:
        documents = call("GET", "/documents", params={"company_id": company_id}) or {"data": []}
        with st.sidebar.expander(f"Documents ({len(documents['data'])})"):
            for document in documents["data"]:
                left, right = st.columns([4, 1])
                left.markdown(plain(f"{document['source']} ({document['chunks']} chunks)"))
                if right.button("✕", key=f"delete-{document['id']}", help="Delete"):
                    call(
                        "DELETE", f"/documents/{document['id']}", params={"company_id": company_id}
                    )
                    st.rerun()

    st.sidebar.header("Session")
    session_id = st.session_state.get("session_id")
    st.sidebar.caption(
        plain(f"id: {session_id}")
        if session_id
        else "A new session starts with your first question."
    )
    if st.sidebar.button("New conversation"):
        st.session_state.pop("session_id", None)
        st.rerun()
    return company_id, rewrite


def main() -> None:
    st.title("📚 Company documents chatbot")
    st.caption("Answers come only from the selected company's documents, with their sources.")
    company_id, rewrite = sidebar()
    if company_id is None:
        st.info("No company yet: upload documents with a company id in the sidebar.")
        return
    if st.session_state.get("company_id") != company_id:
        # A session belongs to one company: switching company starts a new one.
        st.session_state["company_id"] = company_id
        st.session_state.pop("session_id", None)

    session_id = st.session_state.get("session_id")
    history = call("GET", f"/sessions/{session_id}/messages") if session_id else None
    for message in (history or {"data": []})["data"]:
        with st.chat_message(message["role"]):
            if message["role"] == "user":
                st.markdown(plain(message["content"]))
            else:
                show_answer(message)

    question = st.chat_input("Ask about this company")
    if not question:
        return
    with st.chat_message("user"):
        st.markdown(plain(question))
    body = {"query": question, "company_id": company_id, "rewrite": rewrite}
    if session_id:
        body["session_id"] = session_id
    with st.chat_message("assistant"), st.spinner("Searching the documents…"):
        answer = call("POST", "/chat", json=body)
        if answer:
            st.session_state["session_id"] = answer["session_id"]
            show_answer({**answer, "content": answer["answer"]})


main()
