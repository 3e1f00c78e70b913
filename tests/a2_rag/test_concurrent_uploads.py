"""Uploads under load: no database connection waits out an embedding, and uploads past
MAX_UPLOADS_IN_FLIGHT are answered 503 with Retry-After at once instead of piling up.

20 simultaneous uploads used to hold 20 pooled connections through their embeddings; the
pool (5 + 10 overflow) ran dry and the rest failed with 500 after 30 s
(`bench/bench_uploads.py` prints the figures).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

from backend.main import create_app
from core.config import Settings
from core.embedding_client import LocalEmbeddingClient
from tests.support import make_app, make_settings

from .helpers import API, upload

HANDBOOK = "# Initech handbook\n\nEvery employee gets 27 days of paid vacation per year.\n"


@contextmanager
def connections_held_by_this_thread(engine: Engine) -> Iterator[Callable[[], int]]:
    """Counts the pooled connections checked out by the calling thread (the event loop's,
    where the upload handler runs; the app's background workers use other threads)."""
    holders: dict[int, int] = {}

    def checkout(_dbapi, record, _proxy) -> None:  # type: ignore[no-untyped-def]
        holders[id(record)] = threading.get_ident()

    def checkin(_dbapi, record) -> None:  # type: ignore[no-untyped-def]
        holders.pop(id(record), None)

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)
    try:
        yield lambda: sum(1 for t in list(holders.values()) if t == threading.get_ident())
    finally:
        event.remove(engine, "checkout", checkout)
        event.remove(engine, "checkin", checkin)


def test_no_database_connection_is_held_while_an_upload_is_embedded(
    store_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    held_while_embedding: list[int] = []
    original = LocalEmbeddingClient.embed_documents

    async def watching(self, texts, **kwargs):  # type: ignore[no-untyped-def]
        held_while_embedding.append(held())
        return await original(self, texts, **kwargs)

    with (
        TestClient(create_app(store_settings)) as client,
        connections_held_by_this_thread(client.app.state.engine) as held,
    ):
        monkeypatch.setattr(LocalEmbeddingClient, "embed_documents", watching)
        created = upload(client, "initech", {"handbook.md": HANDBOOK})
        replaced = upload(client, "initech", {"handbook.md": HANDBOOK + "Pets welcome.\n"})

    assert created["data"][0]["status"] == "created"
    assert replaced["data"][0]["status"] == "replaced"
    assert held_while_embedding == [0, 0]


def test_an_upload_past_the_bound_in_flight_is_503_with_retry_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    original = LocalEmbeddingClient.embed_documents

    async def gated(self, texts, **kwargs):  # type: ignore[no-untyped-def]
        entered.set()
        await anyio.to_thread.run_sync(release.wait, 30)
        return await original(self, texts, **kwargs)

    monkeypatch.setattr(LocalEmbeddingClient, "embed_documents", gated)
    app = make_app(make_settings(tmp_path), MAX_UPLOADS_IN_FLIGHT=1)
    with TestClient(app) as client, ThreadPoolExecutor(1) as pool:
        first = pool.submit(upload, client, "initech", {"handbook.md": HANDBOOK})
        assert entered.wait(30)
        busy = client.post(
            f"{API}/documents",
            data={"company_id": "initech"},
            files=[("files", ("notes.txt", b"Parking is free on level 2."))],
        )
        release.set()
        first_body = first.result(timeout=60)
        after = upload(client, "initech", {"notes.txt": "Parking is free on level 2."})

    assert busy.status_code == 503
    assert int(busy.headers["retry-after"]) > 0
    error = busy.json()["error"]
    assert error["code"] == "uploads_busy"
    assert error["request_id"] == busy.headers["x-request-id"]
    assert first_body["data"][0]["status"] == "created"
    assert after["data"][0]["status"] == "created"
