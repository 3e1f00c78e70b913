"""The floor an endpoint of the backend is compared with: bare FastAPI, plain SQL.

    uvicorn bare_app:app --app-dir bench     (DATA_DIR= names the folder of its database)

No middleware, no authentication, no ORM, no validation beyond FastAPI's own: what is
left is the framework, the server and the database. `POST /leads` inserts a row (the
floor of Assessment 1's intake and of webhook intake); `GET /leads` reads 20 rows and the
count (the floor of Assessment 3's tenant-scoped list). Handlers are plain `def`, as a
blocking database call must be: FastAPI runs them on its threadpool.

With `BARE_DATABASE_URL=postgresql://...` the same statements run on PostgreSQL the way
a tenant's must there: as a role without BYPASSRLS, on a table under a row-level
security policy, each request in a transaction that first sets `app.tenant_id`
(`BEGIN`, `set_config`, the statements, `COMMIT`). That is the floor of Assessment 3 on
PostgreSQL: what any read or write under its isolation costs before the backend's own
work (the caller check, the ORM, the audit entry).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from fastapi import FastAPI
from pydantic import BaseModel

DATABASE = Path(os.environ.get("DATA_DIR", ".")) / "bare.db"
POSTGRES_URL = os.environ.get("BARE_DATABASE_URL", "")
ROLE = "bare_tenant"  # no BYPASSRLS, so the policy applies
TENANT = "bench"
_local = threading.local()
app = FastAPI()


def connection() -> sqlite3.Connection:
    """One connection per threadpool thread, in WAL mode like the backend's."""
    if not hasattr(_local, "db"):
        _local.db = sqlite3.connect(DATABASE, timeout=30, isolation_level=None)
        _local.db.execute("PRAGMA journal_mode=WAL")
        _local.db.execute("PRAGMA synchronous=NORMAL")
    return _local.db  # type: ignore[no-any-return]


def pg_connection() -> psycopg.Connection[Any]:
    """One connection per threadpool thread, running as the tenant role."""
    if not hasattr(_local, "pg"):
        _local.pg = psycopg.connect(POSTGRES_URL)
        _local.pg.execute(f'SET ROLE "{ROLE}"')
        _local.pg.commit()
    return _local.pg  # type: ignore[no-any-return]


class _Tenant:
    """One request's statements on PostgreSQL, in the tenant's transaction."""

    def __init__(self, db: psycopg.Connection[Any]) -> None:
        self.db = db

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> psycopg.Cursor[Any]:
        # The handlers' statements are written once, with sqlite3's `?` placeholders.
        return self.db.execute(sql.replace("?", "%s"), params)


@contextmanager
def tenant_statements() -> Iterator[sqlite3.Connection | _Tenant]:
    if not POSTGRES_URL:
        yield connection()
        return
    db = pg_connection()
    with db.transaction():
        db.execute("SELECT set_config('app.tenant_id', %s, true)", (TENANT,))
        yield _Tenant(db)


def _create() -> None:
    table = (
        "CREATE TABLE IF NOT EXISTS lead (id TEXT PRIMARY KEY, tenant TEXT, name TEXT,"
        " message TEXT, created_at TEXT)"
    )
    index = "CREATE INDEX IF NOT EXISTS lead_tenant ON lead (tenant, created_at)"
    if not POSTGRES_URL:
        connection().execute(table)
        connection().execute(index)
        return
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(table)
        admin.execute(index)
        admin.execute("ALTER TABLE lead ENABLE ROW LEVEL SECURITY")
        admin.execute("ALTER TABLE lead FORCE ROW LEVEL SECURITY")
        admin.execute("DROP POLICY IF EXISTS tenant_rows ON lead")
        admin.execute(
            "CREATE POLICY tenant_rows ON lead"
            " USING (tenant = current_setting('app.tenant_id', true))"
        )
        exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone()
        if not exists:
            admin.execute(f'CREATE ROLE "{ROLE}" NOLOGIN NOBYPASSRLS')
        admin.execute(f'GRANT SELECT, INSERT ON lead TO "{ROLE}"')


_create()


class LeadIn(BaseModel):
    message: str
    name: str | None = None


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/leads", status_code=201)
def create_lead(lead: LeadIn) -> dict[str, str]:
    lead_id = uuid.uuid4().hex
    with tenant_statements() as db:
        db.execute(
            "INSERT INTO lead VALUES (?, ?, ?, ?, ?)",
            (lead_id, TENANT, lead.name or "", lead.message, datetime.now(UTC).isoformat()),
        )
    return {"id": lead_id}


@app.get("/leads")
def list_leads(limit: int = 20) -> dict[str, object]:
    with tenant_statements() as db:
        rows = db.execute(
            "SELECT id, name, message, created_at FROM lead WHERE tenant = ? "
            "ORDER BY created_at DESC LIMIT ?",
            (TENANT, limit),
        ).fetchall()
        count = db.execute("SELECT count(*) FROM lead WHERE tenant = ?", (TENANT,)).fetchone()
    keys = ("id", "name", "message", "created_at")
    return {"data": [dict(zip(keys, row, strict=True)) for row in rows], "count": count[0]}
