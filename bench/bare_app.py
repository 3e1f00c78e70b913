"""The floor an endpoint of the backend is compared with: bare FastAPI, one SQLite statement.

    uvicorn bare_app:app --app-dir bench     (DATA_DIR= names the folder of its database)

No middleware, no authentication, no ORM, no validation beyond FastAPI's own: what is
left is the framework, the server and the database. `POST /leads` inserts a row (the
floor of Assessment 1's intake and of webhook intake); `GET /leads` reads 20 rows and the
count (the floor of Assessment 3's tenant-scoped list). Handlers are plain `def`, as a
blocking database call must be: FastAPI runs them on its threadpool.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from pydantic import BaseModel

DATABASE = Path(os.environ.get("DATA_DIR", ".")) / "bare.db"
_local = threading.local()
app = FastAPI()


def connection() -> sqlite3.Connection:
    """One connection per threadpool thread, in WAL mode like the backend's."""
    if not hasattr(_local, "db"):
        _local.db = sqlite3.connect(DATABASE, timeout=30, isolation_level=None)
        _local.db.execute("PRAGMA journal_mode=WAL")
        _local.db.execute("PRAGMA synchronous=NORMAL")
    return _local.db  # type: ignore[no-any-return]


def _create() -> None:
    connection().execute(
        "CREATE TABLE IF NOT EXISTS lead (id TEXT PRIMARY KEY, tenant TEXT, name TEXT,"
        " message TEXT, created_at TEXT)"
    )
    connection().execute("CREATE INDEX IF NOT EXISTS lead_tenant ON lead (tenant, created_at)")


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
    connection().execute(
        "INSERT INTO lead VALUES (?, 'bench', ?, ?, ?)",
        (lead_id, lead.name or "", lead.message, datetime.now(UTC).isoformat()),
    )
    return {"id": lead_id}


@app.get("/leads")
def list_leads(limit: int = 20) -> dict[str, object]:
    db = connection()
    rows = db.execute(
        "SELECT id, name, message, created_at FROM lead WHERE tenant = 'bench' "
        "ORDER BY created_at DESC LIMIT ?",
        (limit,),
    ).fetchall()
    count = db.execute("SELECT count(*) FROM lead WHERE tenant = 'bench'").fetchone()[0]
    keys = ("id", "name", "message", "created_at")
    return {"data": [dict(zip(keys, row, strict=True)) for row in rows], "count": count}
