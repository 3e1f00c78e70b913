"""The embedded CRM: contacts in this app's own `crm_contact` table, per tenant.

Async like any CRM client; the table work runs in the threadpool.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from ..db import tenant_session, utcnow
from .client import Contact, CRMError
from .models import CrmContact

WRITABLE = frozenset({"name", "email", "phone", "company", "message", "ai_score"})


class EmbeddedCRM:
    name = "embedded"

    def __init__(self, tenant_engine: Engine) -> None:
        self._engine = tenant_engine

    async def get_contact(self, tenant_id: uuid.UUID, contact_id: str) -> Contact | None:
        return await run_in_threadpool(self._get, tenant_id, contact_id)

    async def update_contact(
        self, tenant_id: uuid.UUID, contact_id: str, properties: dict[str, Any]
    ) -> Contact:
        return await run_in_threadpool(self._update, tenant_id, contact_id, properties)

    async def aclose(self) -> None:
        return None

    def _get(self, tenant_id: uuid.UUID, contact_id: str) -> Contact | None:
        row_id = _row_id(contact_id)
        if row_id is None:
            return None
        with tenant_session(self._engine, tenant_id) as db:
            row = db.get(CrmContact, row_id)
            return to_contact(row) if row else None

    def _update(self, tenant_id: uuid.UUID, contact_id: str, properties: dict[str, Any]) -> Contact:
        unknown = set(properties) - WRITABLE
        if unknown:
            raise ValueError(f"not contact properties: {sorted(unknown)}")
        row_id = _row_id(contact_id)
        with tenant_session(self._engine, tenant_id) as db:
            row = db.get(CrmContact, row_id) if row_id else None
            if row is None:
                raise CRMError(f"contact {contact_id} not found")
            row.sqlmodel_update(properties)
            row.updated_at = utcnow()
            db.session.add(row)
            db.commit()
            return to_contact(row)


def to_contact(row: CrmContact) -> Contact:
    return Contact(
        id=str(row.id),
        name=row.name,
        email=row.email,
        phone=row.phone,
        company=row.company,
        message=row.message,
        ai_score=row.ai_score,
    )


def _row_id(contact_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(contact_id)
    except ValueError:
        return None
