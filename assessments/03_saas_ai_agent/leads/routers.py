"""A tenant's leads. Another tenant's lead id answers 404, never its data.

The API's busiest routes: each is one `TenantWork` (see `dependencies.py`), so the
session, the caller's check and the work below take a single threadpool hop.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from core.pagination import Limit, Offset

from ..auth.context import RequestContext
from ..db import TenantDB
from ..dependencies import ReadLeads, WriteLeads
from . import services
from .models import LeadCreate, LeadPublic, LeadsPublic, LeadUpdate

router = APIRouter(prefix="/leads", tags=["A3 · leads"])


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_lead(body: LeadCreate, leads: WriteLeads) -> LeadPublic:
    """Create a lead in the caller's tenant."""
    return await leads(_create, body)


@router.get("")
async def list_leads(leads: ReadLeads, limit: Limit = 50, offset: Offset = 0) -> LeadsPublic:
    """The caller's leads, newest first."""
    return await leads(services.leads_page, limit=limit, offset=offset)


@router.get("/{lead_id}")
async def read_lead(lead_id: uuid.UUID, leads: ReadLeads) -> LeadPublic:
    """One lead, with its AI score once qualified."""
    return await leads(_read, lead_id)


@router.patch("/{lead_id}")
async def update_lead(lead_id: uuid.UUID, body: LeadUpdate, leads: WriteLeads) -> LeadPublic:
    """Change some fields of a lead."""
    return await leads(_update, lead_id, body)


@router.delete("/{lead_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_lead(lead_id: uuid.UUID, leads: WriteLeads) -> Response:
    """Delete a lead."""
    await leads(_delete, lead_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# The work of each route, run in the tenant's session by `TenantWork`.


def _create(db: TenantDB, ctx: RequestContext, body: LeadCreate) -> LeadPublic:
    return LeadPublic.model_validate(services.create_lead(db, ctx, body))


def _read(db: TenantDB, ctx: RequestContext, lead_id: uuid.UUID) -> LeadPublic:
    return LeadPublic.model_validate(services.get_lead(db, lead_id))


def _update(db: TenantDB, ctx: RequestContext, lead_id: uuid.UUID, body: LeadUpdate) -> LeadPublic:
    lead = services.get_lead(db, lead_id)
    return LeadPublic.model_validate(services.update_lead(db, ctx, lead, body))


def _delete(db: TenantDB, ctx: RequestContext, lead_id: uuid.UUID) -> None:
    services.delete_lead(db, ctx, services.get_lead(db, lead_id))
