"""Test helpers for Assessment 3: an API wrapper that speaks in tenants, tokens and webhooks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from core.config import Settings
from tests.contract.helpers import send_webhook
from tests.support import assessment_settings

PREFIX = "/api/03-saas"
_package = "assessments.03_saas_ai_agent"


def saas_module(name: str) -> Any:
    import importlib

    return importlib.import_module(f"{_package}.{name}")


def saas_test_settings(**overrides: Any) -> Any:
    values: dict[str, Any] = {
        "WEBHOOK_WORKER_ENABLED": False,
        "WEBHOOK_RETRY_BASE_SECONDS": 0,
        "WEBHOOK_POLL_SECONDS": 0.05,
        "WEBHOOK_MAX_ATTEMPTS": 3,
        "LOGIN_RATE_LIMIT": "1000/minute",
        "LOAD_DEMO_TENANTS": False,
    }
    values.update(overrides)
    return saas_module("config").SaasSettings(_env_file=None, **values)


@contextmanager
def build_client(settings: Settings, saas_settings: Any) -> Iterator[TestClient]:
    from backend.main import create_app

    app = create_app(settings)
    app.state.saas_settings = saas_settings
    app.state.auth_settings = assessment_settings()["auth_settings"]
    with TestClient(app) as client:
        yield client


@dataclass
class TenantHandle:
    id: str
    name: str
    webhook_secret: str
    admin_email: str
    admin_password: str
    headers: dict[str, str]


class Api:
    """Calls under the assessment's prefix, plus the few steps most tests share."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self._platform_admin: dict[str, str] | None = None

    @property
    def app(self) -> Any:
        return self.client.app

    @property
    def runtime(self) -> Any:
        return self.app.state.saas

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.client.request(method, PREFIX + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    def login(self, email: str, password: str) -> dict[str, str]:
        response = self.post("/auth/token", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def platform_admin(self) -> dict[str, str]:
        if self._platform_admin is None:
            config = saas_module("config")
            self._platform_admin = self.login(config.DEV_ADMIN_EMAIL, config.DEV_ADMIN_PASSWORD)
        return self._platform_admin

    def create_tenant(self, tier: str = "starter", name: str | None = None) -> TenantHandle:
        suffix = uuid.uuid4().hex[:8]
        name = name or f"Tenant {suffix}"
        email, password = f"admin-{suffix}@tenant.example", "admin-password-1"
        response = self.post(
            "/tenants",
            headers=self.platform_admin(),
            json={
                "name": name,
                "subscription_tier": tier,
                "admin_email": email,
                "admin_password": password,
            },
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return TenantHandle(
            id=body["id"],
            name=name,
            webhook_secret=body["webhook_secret"],
            admin_email=email,
            admin_password=password,
            headers=self.login(email, password),
        )

    def add_member(self, tenant: TenantHandle) -> dict[str, str]:
        email = f"member-{uuid.uuid4().hex[:8]}@tenant.example"
        response = self.post(
            "/users",
            headers=tenant.headers,
            json={"email": email, "password": "member-password-1"},
        )
        assert response.status_code == 201, response.text
        return self.login(email, "member-password-1")

    def create_lead(self, tenant: TenantHandle, **fields: Any) -> dict[str, Any]:
        body = {"name": "Dana Scully", **fields}
        response = self.post("/leads", headers=tenant.headers, json=body)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def create_contact(self, tenant: TenantHandle, **fields: Any) -> dict[str, Any]:
        body = {"name": "Fox Mulder", **fields}
        response = self.post("/crm/contacts", headers=tenant.headers, json=body)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def send_webhook(
        self,
        tenant: TenantHandle,
        contact_id: str = "",
        *,
        body: bytes | None = None,
        event_id: str | None = None,
        secret: str | None = None,
        timestamp: int | None = None,
        tenant_id: str | None = None,
    ) -> Any:
        """A `contact.updated` delivery for `contact_id`, or any `body`, signed as `tenant`
        would sign it and sent as the contract suite sends it (the TestClient takes full
        paths as the contract's `Api` does; a handle has its tenant's id and secret)."""
        return send_webhook(
            self.client,
            tenant,
            contact_id,
            body=body,
            msg_id=event_id,
            secret=secret,
            timestamp=timestamp,
            tenant_id=tenant_id,
        )

    def drain(self) -> None:
        """Process every due inbox event now, in the app's own event loop."""
        self.client.portal.call(self.runtime.worker.drain)  # type: ignore[union-attr]
