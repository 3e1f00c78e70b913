"""A real server killed (SIGKILL) in a write's crash windows: between saving the company's FAISS
index and committing its chunk rows (after a restart the index and the rows agree, the answer
is the last committed document's, and uploading again works), and between storing a new
document's chunks and completing its row (no chunk is left without a document)."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

import faiss
import httpx

from tests.contract.helpers import wait_for
from tests.processes import Server, api_server, process_env

from .helpers import API

COMPANY = "initech"
QUESTION = "How many days of paid vacation do Initech employees get?"


def _upload(url: str, text: str, source: str = "vacation.md") -> httpx.Response:
    return httpx.post(
        f"{url}{API}/documents",
        data={"company_id": COMPANY},
        files={"files": (source, text.encode())},
        timeout=120,
    )


def _upload_until_killed(url: str, text: str, source: str = "vacation.md") -> None:
    with contextlib.suppress(httpx.TransportError):
        _upload(url, text, source)


def _answer(url: str) -> str:
    response = httpx.post(
        f"{url}{API}/chat", json={"query": QUESTION, "company_id": COMPANY}, timeout=60
    )
    assert response.status_code == 200, response.text
    return str(response.json()["answer"])


def _index_ids(data_dir: Path) -> list[int]:
    index = faiss.read_index(str(data_dir / "faiss_indexes" / f"{COMPANY}.faiss"))
    return sorted(faiss.vector_to_array(index.id_map).tolist())


def _row_ids(data_dir: Path) -> list[int]:
    with sqlite3.connect(data_dir / "app.db") as db:
        rows = db.execute("SELECT id FROM vector_chunk WHERE company_id = ?", (COMPANY,))
        return sorted(chunk_id for (chunk_id,) in rows)


def _killed_in_the_second_upload(
    tmp_path: Path, *, pause_at: str, text: str, source: str = "vacation.md"
) -> dict[str, str]:
    """Start the paused app, upload the 27-day vacation policy, then upload `text` as
    `source` and SIGKILL the server once that write reaches the `pause_at` window.
    Returns the environment, to start the server again on the same data."""
    data_dir = tmp_path / "data"
    armed, reached = tmp_path / "armed", tmp_path / "reached"
    env = process_env(
        data_dir,
        DATABASE_URL=f"sqlite:///{data_dir / 'app.db'}",
        SAAS_WEBHOOK_WORKER_ENABLED="false",
        PAUSE_ARMED_FILE=str(armed),
        PAUSE_REACHED_FILE=str(reached),
        PAUSE_AT=pause_at,
    )
    server = Server(env, tmp_path / "paused.log", app="tests.a2_rag.paused_app:app")
    try:
        server.wait_until_healthy()
        first = _upload(
            server.url, "# Vacation\n\nEvery Initech employee gets 27 days of paid vacation."
        )
        assert first.status_code == 201, first.text
        armed.touch()
        threading.Thread(
            target=_upload_until_killed, args=(server.url, text, source), daemon=True
        ).start()
        wait_for(reached.exists, timeout=120, what=f"the upload to reach the {pause_at} window")
    finally:
        server.kill()
    return env


def test_a_server_killed_between_index_save_and_commit_recovers_on_restart(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    env = _killed_in_the_second_upload(
        tmp_path,
        pause_at="index",
        text="# Vacation\n\nEvery Initech employee gets 31 days of paid vacation.",
    )
    # What the crash left: the saved index holds the new vectors, the rows are the old ones.
    assert len(_index_ids(data_dir)) > len(_row_ids(data_dir)) > 0

    with api_server(env, tmp_path / "restarted.log") as restarted:
        answer_after_restart = _answer(restarted.url)
        ids_after_restart = (_index_ids(data_dir), _row_ids(data_dir))
        again = _upload(
            restarted.url, "# Vacation\n\nEvery Initech employee gets 31 days of paid vacation."
        )
        answer_after_upload = _answer(restarted.url)

    assert "27 days" in answer_after_restart
    assert ids_after_restart[0] == ids_after_restart[1]
    assert again.status_code == 201, again.text
    assert "31 days" in answer_after_upload
    assert _index_ids(data_dir) == _row_ids(data_dir)


def _chunk_documents(data_dir: Path) -> tuple[set[str], set[str]]:
    """The document ids the company's chunks name, and the company's document rows' ids."""
    with sqlite3.connect(data_dir / "app.db") as db:
        named = db.execute(
            "SELECT DISTINCT document_id FROM vector_chunk WHERE company_id = ?", (COMPANY,)
        )
        rows = db.execute("SELECT id FROM document WHERE company_id = ?", (COMPANY,))
        return {d for (d,) in named}, {d for (d,) in rows}


def test_a_server_killed_between_a_new_documents_chunks_and_its_row_leaves_no_orphan(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    policy = "# Remote work\n\nInitech employees may work remotely two days a week."
    env = _killed_in_the_second_upload(
        tmp_path, pause_at="document", text=policy, source="remote.md"
    )
    named, documents = _chunk_documents(data_dir)
    # The new document's chunks are stored, and its row was written before them.
    assert len(named) == 2 and named <= documents

    with api_server(env, tmp_path / "restarted.log") as restarted:
        again = _upload(restarted.url, policy, "remote.md")
        listed = httpx.get(
            f"{restarted.url}{API}/documents", params={"company_id": COMPANY}, timeout=30
        ).json()["data"]

    assert again.status_code == 201, again.text
    assert [d["status"] for d in again.json()["data"]] == ["replaced"]
    assert {d["source"]: d["chunks"] > 0 for d in listed} == {
        "vacation.md": True,
        "remote.md": True,
    }
    named, documents = _chunk_documents(data_dir)
    assert named == documents
    assert _index_ids(data_dir) == _row_ids(data_dir)
