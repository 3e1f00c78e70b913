"""SQLite's WAL checkpoints off the request path, and the app's frozen start-up objects."""

from __future__ import annotations

import gc
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from backend.main import create_app
from core import database
from core.database import WalCheckpointer, create_db_engine
from tests.contract.helpers import wait_for
from tests.services import postgres_url
from tests.support import make_settings

ROW = "x" * 2000  # a row per page or so: a few hundred rows take the WAL past 1,000 pages


def sqlite_file(tmp_path: Path) -> tuple[Engine, Path]:
    path = tmp_path / "wal.db"
    engine = create_db_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE notes (body TEXT)"))
    return engine, path


def write_rows(engine: Engine, count: int) -> None:
    for _ in range(count):  # one commit each, as requests commit
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO notes (body) VALUES (:body)"), {"body": ROW})


def wal_autocheckpoint(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()


def test_commits_leave_checkpoints_to_the_checkpointer(tmp_path: Path) -> None:
    engine, path = sqlite_file(tmp_path)
    assert wal_autocheckpoint(engine) == 1000  # SQLite's default: a commit may checkpoint
    checkpointer = WalCheckpointer(engine, interval=3600)
    checkpointer.start()
    try:
        assert wal_autocheckpoint(engine) == 0
        size_before = path.stat().st_size
        write_rows(engine, 1500)
        # Past 1,000 pages of WAL, yet no commit copied a page into the database file.
        assert path.with_name("wal.db-wal").stat().st_size > 1000 * 4096
        assert path.stat().st_size == size_before
        checkpointer.checkpoint()
        assert path.stat().st_size > size_before + 2_000_000  # 1,500 rows of 2 kB
    finally:
        checkpointer.stop()
        engine.dispose()


def test_the_thread_checkpoints_while_requests_commit(tmp_path: Path) -> None:
    engine, path = sqlite_file(tmp_path)
    checkpointer = WalCheckpointer(engine, interval=0.05)
    checkpointer.start()
    try:
        size_before = path.stat().st_size
        write_rows(engine, 300)
        wait_for(
            lambda: path.stat().st_size > size_before,
            timeout=60,
            what="a checkpoint to grow the database file",
            interval=0.05,
        )
    finally:
        checkpointer.stop()
        engine.dispose()


def test_nothing_to_do_for_an_in_memory_database() -> None:
    engine = create_db_engine("sqlite://")
    checkpointer = WalCheckpointer(engine, interval=0.05)
    checkpointer.start()
    try:
        assert checkpointer._thread is None
    finally:
        checkpointer.stop()
        engine.dispose()


def test_the_app_freezes_its_start_up_objects_while_it_runs(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        assert gc.get_freeze_count() > 100_000
        # Its engine's connections leave checkpoints to the app's checkpointer.
        assert wal_autocheckpoint(app.state.engine) == 0
    assert gc.get_freeze_count() == 0


def test_a_table_made_by_an_earlier_version_gains_the_new_nullable_columns(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path)
    engine = create_db_engine(settings.database_url)
    with engine.begin() as connection:  # `leads` as it was before `field_sources`
        connection.execute(
            text(
                "CREATE TABLE leads (id VARCHAR PRIMARY KEY, request_id VARCHAR NOT NULL, "
                "message TEXT NOT NULL, source VARCHAR, name VARCHAR, email VARCHAR, "
                "phone VARCHAR, budget FLOAT, intent VARCHAR NOT NULL, confidence FLOAT NOT NULL, "
                "low_confidence BOOLEAN NOT NULL, extraction_method VARCHAR NOT NULL, "
                "provider VARCHAR NOT NULL, model VARCHAR NOT NULL, processed_at DATETIME, "
                "idempotency_key VARCHAR UNIQUE, request_fingerprint VARCHAR)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO leads VALUES ('old', 'r', 'Hello', NULL, NULL, NULL, NULL, NULL, "
                "'Sales', 0.9, 0, 'llm', 'local', 'm', '2026-01-01 00:00:00', NULL, NULL)"
            )
        )
    engine.dispose()

    with TestClient(create_app(settings)) as client:
        old = client.get("/api/01-workflow/leads/old")
        new = client.post("/api/01-workflow/leads", json={"message": "Budget is $50k."})

    assert old.status_code == 200
    assert old.json()["field_sources"] is None
    assert new.json()["field_sources"]["budget"] == "rules"


def count_notes(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM notes")).scalar_one()


def test_concurrent_writers_each_get_a_turn(tmp_path: Path) -> None:
    engine, _ = sqlite_file(tmp_path)
    with ThreadPoolExecutor(max_workers=20) as pool:
        for future in [pool.submit(write_rows, engine, 10) for _ in range(20)]:
            future.result()
    assert count_notes(engine) == 200


def test_a_writer_waits_for_the_transaction_in_progress_then_writes(tmp_path: Path) -> None:
    engine, _ = sqlite_file(tmp_path)
    with engine.connect() as first:
        first.execute(text("INSERT INTO notes (body) VALUES ('first')"))
        second = ThreadPoolExecutor(max_workers=1).submit(write_rows, engine, 1)
        time.sleep(0.2)
        assert not second.done()  # queued behind the open write transaction
        first.commit()
        second.result(timeout=10)
    assert count_notes(engine) == 2


def test_a_write_transaction_abandoned_without_commit_lets_the_next_writer_in(
    tmp_path: Path,
) -> None:
    engine, _ = sqlite_file(tmp_path)
    with engine.connect() as abandoned:
        abandoned.execute(text("INSERT INTO notes (body) VALUES ('lost')"))
    # Closed mid-transaction: rolled back, and the turn handed on (not held for 30 s).
    ThreadPoolExecutor(max_workers=1).submit(write_rows, engine, 1).result(timeout=10)
    assert count_notes(engine) == 1


def backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_pooled_postgres_connection_that_died_while_idle_is_replaced(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    engine = create_db_engine(postgres_url())
    try:
        first = backend_pid(engine)
        with psycopg.connect(postgres_url().replace("+psycopg", ""), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        # Idle long enough to be pinged (not waited out: the threshold is moved instead).
        monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)
        assert backend_pid(engine) != first  # pinged, found dead, replaced: no error
    finally:
        engine.dispose()


def test_a_connection_back_from_a_request_moments_ago_is_not_pinged(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    engine = create_db_engine(postgres_url())
    pings: list[object] = []
    ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(c) or ping(c))
    try:
        first = backend_pid(engine)
        assert [backend_pid(engine) for _ in range(5)] == [first] * 5
        assert pings == []
        monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)
        assert backend_pid(engine) == first
        assert len(pings) == 1
    finally:
        engine.dispose()


def test_connections_dropped_within_the_ping_window_cost_one_failure_then_the_pool_renews(
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    """The trade of not pinging busy connections: the first request after the server drops
    them fails; SQLAlchemy then replaces the whole pool, so the next ones succeed."""
    monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 1e9)  # every connection "busy"
    engine = create_db_engine(postgres_url())
    try:
        first, second = engine.connect(), engine.connect()
        pids = [
            int(c.execute(text("SELECT pg_backend_pid()")).scalar_one()) for c in (first, second)
        ]
        first.close()
        second.close()
        with psycopg.connect(postgres_url().replace("+psycopg", ""), autocommit=True) as admin:
            for pid in pids:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(OperationalError):
            backend_pid(engine)
        assert {backend_pid(engine) for _ in range(3)}.isdisjoint(pids)
    finally:
        engine.dispose()
