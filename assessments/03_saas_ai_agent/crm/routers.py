"""The embedded CRM (the default CRM backend), tenant-scoped like leads."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from core.pagination import Limit, Offset

from ..auth.context import RequestContext
from ..db import TenantDB
from ..dependencies import ReadCRM, WriteCRM
from . import services
from .models import ContactCreate, ContactPublic, ContactsPublic

router = APIRouter(prefix="/crm/contacts", tags=["A3 · CRM"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_contact(body: ContactCreate, crm: WriteCRM) -> ContactPublic:
    """Create a contact in the embedded CRM."""
    return await crm(_create, body)


@router.get("")
async def list_contacts(crm: ReadCRM, limit: Limit = 50, offset: Offset = 0) -> ContactsPublic:
    """The tenant's contacts, newest first."""
    return await crm(_page, limit=limit, offset=offset)


@router.get("/{contact_id}")
async def read_contact(contact_id: uuid.UUID, crm: ReadCRM) -> ContactPublic:
    """One contact, with its AI score once a webhook has been processed."""
    return await crm(_read, contact_id)


# The work of each route, run in the tenant's session by `TenantWork`.


def _create(db: TenantDB, ctx: RequestContext, body: ContactCreate) -> ContactPublic:
    return ContactPublic.model_validate(services.create_contact(db, ctx, body))


def _page(db: TenantDB, ctx: RequestContext, *, limit: int, offset: int) -> ContactsPublic:
    rows, count = services.list_contacts(db, limit=limit, offset=offset)
    return ContactsPublic(data=[ContactPublic.model_validate(c) for c in rows], count=count)


def _read(db: TenantDB, ctx: RequestContext, contact_id: uuid.UUID) -> ContactPublic:
    return ContactPublic.model_validate(services.get_contact(db, contact_id))
