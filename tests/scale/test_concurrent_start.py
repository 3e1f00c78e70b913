"""Two API processes starting at the same moment on one database, both loading the sample
data (as `uvicorn --workers 2` or two pods do): both start, and each sample row is there once.

Before the start-up lock, both saw "no sample company yet" and both inserted it; on
PostgreSQL one worker died of a `UniqueViolation` on the company's primary key.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from tests.processes import Server, process_env
from tests.services import throwaway_database

folder_files = importlib.import_module("assessments.02_rag_chatbot.ingest").folder_files
ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DOCUMENTS = {
    folder.name: len(folder_files([folder]))
    for folder in (ROOT / "data" / "companies").iterdir()
    if folder.is_dir()
}
SAMPLE_LEADS = len(json.loads((ROOT / "data" / "leads" / "sample_leads.json").read_text()))


@contextmanager
def database(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
        return
    with throwaway_database() as url:
        yield url


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_two_workers_starting_together_load_the_sample_data_once(kind: str, tmp_path: Path) -> None:
    with database(kind, tmp_path) as url, ExitStack() as stack:
        env = process_env(
            tmp_path,
            DATABASE_URL=url,
            LOAD_SAMPLE_DATA="true",
            SAAS_WEBHOOK_WORKER_ENABLED="false",
            LOG_LEVEL="WARNING",
        )
        # Both started before either is waited for: their start-ups overlap.
        servers = [Server(env, tmp_path / f"api-{n}.log", app="backend.main:app") for n in (1, 2)]
        for server in servers:
            stack.callback(server.stop)
        for server in servers:
            server.wait_until_healthy()

        for server in servers:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                companies = client.get("/api/02-rag/companies").json()["data"]
                leads = client.get("/api/01-workflow/leads", params={"limit": 100}).json()
            assert {c["id"]: c["documents"] for c in companies} == SAMPLE_DOCUMENTS
            assert leads["count"] == SAMPLE_LEADS
            # Without the lock the loser of the race logged a conflict and stopped its company.
            assert "sample_data_failed" not in server.output()
            assert "Traceback" not in server.output()
