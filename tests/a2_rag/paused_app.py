"""The backend as `uvicorn backend.main:app` serves it, except that a FAISS write stops in
its crash window (index saved, rows not committed) once the file `PAUSE_ARMED_FILE` exists:
it removes that file, creates `PAUSE_REACHED_FILE` and waits there to be killed.

Test-only: `uvicorn tests.a2_rag.paused_app:app ...`.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from sqlmodel import Session

from backend.main import app
from core.faiss_store import FaissVectorStore

_ARMED = Path(os.environ["PAUSE_ARMED_FILE"])
_REACHED = Path(os.environ["PAUSE_REACHED_FILE"])
_commit_rows = FaissVectorStore._commit_rows


def _commit_or_wait_to_be_killed(self: FaissVectorStore, session: Session) -> None:
    if _ARMED.exists():
        _ARMED.unlink()
        _REACHED.touch()
        threading.Event().wait()
    _commit_rows(self, session)


FaissVectorStore._commit_rows = _commit_or_wait_to_be_killed  # type: ignore[method-assign]

__all__ = ["app"]
