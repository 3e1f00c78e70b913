"""What the Assessment 3 benchmarks share: a scratch PostgreSQL database, a fresh tenant and
its CRM contacts (via the API), and signed webhook deliveries."""

from __future__ import annotations

import importlib
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import psycopg
from standardwebhooks import Webhook

API = "/api/03-saas"
_auth = importlib.import_module("assessments.03_saas_ai_agent.config")
ADMIN = {"email": _auth.DEV_ADMIN_EMAIL, "password": _auth.DEV_ADMIN_PASSWORD}
PG_ADMIN_DSN = os.environ.get("SAAS_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def scratch_postgres() -> Iterator[str]:
    """A new database on the server of `SAAS_BENCH_PG_DSN`; yields its URL, drops it after."""
    name = f"saas_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Poster(Protocol):
    """`httpx.Client` or FastAPI's `TestClient`."""

    def post(self, url: str, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class BenchTenant:
    id: str
    webhook_secret: str
    headers: dict[str, str]  # its admin's bearer token


def create_tenant(client: Poster) -> BenchTenant:
    """A new enterprise tenant (its admin signed in), created by the dev platform admin."""
    platform = client.post(f"{API}/auth/token", json=ADMIN).json()["access_token"]
    suffix = uuid.uuid4().hex[:8]
    login = {"email": f"bench-{suffix}@bench.example", "password": "bench-password-1"}
    tenant = client.post(
        f"{API}/tenants",
        headers={"Authorization": f"Bearer {platform}"},
        json={
            "name": f"Bench {suffix}",
            "subscription_tier": "enterprise",
            "admin_email": login["email"],
            "admin_password": login["password"],
        },
    ).json()
    token = client.post(f"{API}/auth/token", json=login).json()["access_token"]
    return BenchTenant(
        id=tenant["id"],
        webhook_secret=tenant["webhook_secret"],
        headers={"Authorization": f"Bearer {token}"},
    )


def create_contacts(client: Poster, tenant: BenchTenant, count: int = 20) -> list[str]:
    """`count` hot CRM contacts of the tenant; their ids."""
    return [
        client.post(
            f"{API}/crm/contacts",
            headers=tenant.headers,
            json={
                "name": f"Contact {i}",
                "email": f"c{i}@bench.example",
                "message": "Director here; we need this ASAP with a 50k budget.",
            },
        ).json()["id"]
        for i in range(count)
    ]


def signed(secret: str, tenant_id: str, contact_id: str) -> tuple[bytes, dict[str, str]]:
    """A `contact.updated` delivery for the contact, signed with the tenant's secret:
    the body and its headers (a new webhook-id each time)."""
    body = json.dumps(
        {"type": "contact.updated", "tenant_id": tenant_id, "data": {"id": contact_id}}
    )
    event_id = f"msg_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    signature = Webhook(secret).sign(event_id, now, body)
    return body.encode(), {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
