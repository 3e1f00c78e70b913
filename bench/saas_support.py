"""What the Assessment 3 benchmarks share: a fresh tenant and its CRM contacts, via the API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from core.config import DEV_ADMIN_EMAIL, DEV_ADMIN_PASSWORD

API = "/api/03-saas"
ADMIN = {"email": DEV_ADMIN_EMAIL, "password": DEV_ADMIN_PASSWORD}


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
