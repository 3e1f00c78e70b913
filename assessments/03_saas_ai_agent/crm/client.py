"""The CRM as the webhook pipeline sees it: read a contact, write properties back.

Two backends: the embedded, table-backed CRM (the default, for demos and
tests) and HubSpot. `SAAS_CRM_BACKEND` picks one at start.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Contact:
    id: str
    name: str
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    message: str | None = None
    ai_score: float | None = None


class CRMError(Exception):
    """The CRM could not be read or written; the webhook job retries later."""


class CRMClient(Protocol):
    name: str

    async def get_contact(self, tenant_id: uuid.UUID, contact_id: str) -> Contact | None: ...

    async def update_contact(
        self, tenant_id: uuid.UUID, contact_id: str, properties: dict[str, Any]
    ) -> Contact: ...

    async def aclose(self) -> None: ...
