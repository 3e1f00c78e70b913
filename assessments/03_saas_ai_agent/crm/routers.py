"""The embedded CRM (the default CRM backend), tenant-scoped like leads."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from core.pagination import Limit, Offset

from ..dependencies import CanReadCRM, CanWriteCRM, TenantDBDep
from . import services
from .models import ContactCreate, ContactPublic, ContactsPublic

router = APIRouter(prefix="/crm/contacts", tags=["A3 · CRM"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_contact(body: ContactCreate, ctx: CanWriteCRM, db: TenantDBDep) -> ContactPublic:
    """Create a contact in the embedded CRM."""
    return ContactPublic.model_validate(services.create_contact(db, ctx, body))


@router.get("")
def list_contacts(
    ctx: CanReadCRM,
    db: TenantDBDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ContactsPublic:
    """The tenant's contacts, newest first."""
    rows, count = services.list_contacts(db, limit=limit, offset=offset)
    return ContactsPublic(data=[ContactPublic.model_validate(c) for c in rows], count=count)


@router.get("/{contact_id}")
def read_contact(contact_id: uuid.UUID, ctx: CanReadCRM, db: TenantDBDep) -> ContactPublic:
    """One contact, with its AI score once a webhook has been processed."""
    return ContactPublic.model_validate(services.get_contact(db, contact_id))
