"""A tenant's leads. Another tenant's lead id answers 404, never its data."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from core.pagination import Limit, Offset

from ..dependencies import CanReadLeads, CanWriteLeads, TenantDBDep
from . import services
from .models import Lead, LeadCreate, LeadPublic, LeadsPublic, LeadUpdate

router = APIRouter(prefix="/leads", tags=["A3 · leads"])


def get_tenant_lead(lead_id: uuid.UUID, db: TenantDBDep) -> Lead:
    return services.get_lead(db, lead_id)


TenantLead = Annotated[Lead, Depends(get_tenant_lead)]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_lead(body: LeadCreate, ctx: CanWriteLeads, db: TenantDBDep) -> LeadPublic:
    """Create a lead in the caller's tenant."""
    return LeadPublic.model_validate(services.create_lead(db, ctx, body))


@router.get("")
def list_leads(
    ctx: CanReadLeads,
    db: TenantDBDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> LeadsPublic:
    """The caller's leads, newest first."""
    rows, count = services.list_leads(db, limit=limit, offset=offset)
    return LeadsPublic(data=[LeadPublic.model_validate(lead) for lead in rows], count=count)


@router.get("/{lead_id}")
def read_lead(ctx: CanReadLeads, lead: TenantLead) -> LeadPublic:
    """One lead, with its AI score once qualified."""
    return LeadPublic.model_validate(lead)


@router.patch("/{lead_id}")
def update_lead(
    body: LeadUpdate, ctx: CanWriteLeads, db: TenantDBDep, lead: TenantLead
) -> LeadPublic:
    """Change some fields of a lead."""
    return LeadPublic.model_validate(services.update_lead(db, ctx, lead, body))


@router.delete("/{lead_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_lead(ctx: CanWriteLeads, db: TenantDBDep, lead: TenantLead) -> Response:
    """Delete a lead."""
    services.delete_lead(db, ctx, lead)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
