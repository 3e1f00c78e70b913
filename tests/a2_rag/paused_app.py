"""The backend as `uvicorn backend.main:app` serves it, except that a write stops in a crash
window once the file `PAUSE_ARMED_FILE` exists: it removes that file, creates
`PAUSE_REACHED_FILE` and waits there to be killed. `PAUSE_AT` names the window: `index`
(default: a FAISS write with its index saved and its chunk rows not committed) or `document`
(an upload with its chunks stored and its documents' rows not yet completed).

Test-only: `uvicorn tests.a2_rag.paused_app:app ...`.
"""

from __future__ import annotations

import importlib
import os
import threading
from pathlib import Path

from sqlmodel import Session

from backend.main import app
from core.faiss_store import FaissVectorStore

_ARMED = Path(os.environ["PAUSE_ARMED_FILE"])
_REACHED = Path(os.environ["PAUSE_REACHED_FILE"])
_commit_rows = FaissVectorStore._commit_rows
_ingest = importlib.import_module("assessments.02_rag_chatbot.ingest")
_record_documents = _ingest._record_documents


def _wait_to_be_killed_if_armed() -> None:
    if _ARMED.exists():
        _ARMED.unlink()
        _REACHED.touch()
        threading.Event().wait()


def _commit_or_wait_to_be_killed(self: FaissVectorStore, session: Session) -> None:
    _wait_to_be_killed_if_armed()
    _commit_rows(self, session)


def _record_or_wait_to_be_killed(*args: object, **kwargs: object) -> None:
    _wait_to_be_killed_if_armed()
    _record_documents(*args, **kwargs)


if os.environ.get("PAUSE_AT", "index") == "document":
    _ingest._record_documents = _record_or_wait_to_be_killed
else:
    FaissVectorStore._commit_rows = _commit_or_wait_to_be_killed  # type: ignore[method-assign]

__all__ = ["app"]
