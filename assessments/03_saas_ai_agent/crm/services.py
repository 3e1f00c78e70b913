"""The embedded CRM's contacts, as the API creates and reads them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlmodel import col

from core.exceptions import NotFoundException

from ..audit import services as audit
from ..auth.context import RequestContext
from ..db import TenantDB
from .models import ContactCreate, CrmContact


def create_contact(db: TenantDB, ctx: RequestContext, contact_in: ContactCreate) -> CrmContact:
    contact = db.add(CrmContact.model_validate(contact_in, update={"tenant_id": db.tenant_id}))
    audit.record(
        db, ctx, action="crm_contact.created", resource_type="crm_contact", resource_id=contact.id
    )
    db.commit()
    return contact


def get_contact(db: TenantDB, contact_id: uuid.UUID) -> CrmContact:
    contact = db.get(CrmContact, contact_id)
    if contact is None:
        raise NotFoundException(f"Contact {contact_id} not found")
    return contact


def list_contacts(db: TenantDB, *, limit: int, offset: int) -> tuple[Sequence[CrmContact], int]:
    return db.page(
        db.select(CrmContact), col(CrmContact.created_at).desc(), limit=limit, offset=offset
    )
