"""Stopping the app waits for the webhook worker's pass in progress.

The worker scans the inbox in a worker thread at start. Cancelled outright, that
thread went on after shutdown and handed its connection back to a disposed
pool, which left a PostgreSQL session open until garbage collection (and a
database that cannot be dropped or copied as a template meanwhile).
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from backend.main import create_app
from tests.support import make_settings

from .conftest import PG_ADMIN_DSN


def _sessions_on(database: str) -> int:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_stopped_app_leaves_no_session_open_on_the_database(
    tmp_path: Path, postgres_url: str
) -> None:
    settings = make_settings(tmp_path, DATABASE_URL=postgres_url)
    database = str(make_url(postgres_url).database)

    left_open = []
    for _ in range(3):  # the worker's first scan starts as the app comes up
        with TestClient(create_app(settings)):
            pass
        left_open.append(_sessions_on(database))

    assert left_open == [0, 0, 0]
