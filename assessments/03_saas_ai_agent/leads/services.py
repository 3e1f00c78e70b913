"""A tenant's leads: create, read, update, delete, and record a qualification."""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam
from sqlmodel import func, select

from core.exceptions import NotFoundException

from ..audit import services as audit
from ..auth.context import RequestContext
from ..db import TenantDB, owned, utcnow
from .models import Lead, LeadCreate, LeadPublic, LeadsPublic, LeadUpdate

# A page of leads as the API shows them, with the tenant's total beside each row; built
# once. Table columns read straight into `LeadsPublic`, not ORM rows copied into a
# `LeadPublic` each: 2.24 → 1.69 ms of CPU per `GET /leads?limit=20`, in process.
_LEAD = Lead.__table__.c  # type: ignore[attr-defined]
_PAGE = (
    select(*(_LEAD[name] for name in LeadPublic.model_fields), func.count().over().label("total"))
    .where(owned(Lead))
    .order_by(_LEAD.created_at.desc(), _LEAD.id)
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
)


def create_lead(db: TenantDB, ctx: RequestContext, lead_in: LeadCreate) -> Lead:
    lead = db.add(Lead.model_validate(lead_in, update={"tenant_id": db.tenant_id}))
    audit.record(db, ctx, action="lead.created", resource_type="lead", resource_id=lead.id)
    db.commit()
    return lead


def get_lead(db: TenantDB, lead_id: uuid.UUID) -> Lead:
    """The lead, if it belongs to this tenant; another tenant's id is simply not found."""
    lead = db.get(Lead, lead_id)
    if lead is None:
        raise NotFoundException(f"Lead {lead_id} not found")
    return lead


def leads_page(db: TenantDB, ctx: RequestContext, *, limit: int, offset: int) -> LeadsPublic:
    """The tenant's leads, newest first, and how many it has."""
    rows, count = db.page_rows(_PAGE, limit=limit, offset=offset)
    return LeadsPublic.model_validate({"data": rows, "count": count})


def update_lead(db: TenantDB, ctx: RequestContext, lead: Lead, changes: LeadUpdate) -> Lead:
    values = changes.model_dump(exclude_unset=True)
    lead.sqlmodel_update(values)
    lead.updated_at = utcnow()
    db.session.add(lead)
    audit.record(
        db,
        ctx,
        action="lead.updated",
        resource_type="lead",
        resource_id=lead.id,
        details={"fields": sorted(values)},
    )
    db.commit()
    return lead


def delete_lead(db: TenantDB, ctx: RequestContext, lead: Lead) -> None:
    db.delete(lead)
    audit.record(db, ctx, action="lead.deleted", resource_type="lead", resource_id=lead.id)
    db.commit()


def record_qualification(lead: Lead, *, score: float, reasons: list[str]) -> None:
    lead.ai_score = score
    lead.ai_reasons = reasons
    lead.qualified_at = lead.updated_at = utcnow()


def find_for_contact(db: TenantDB, *, contact_id: str, email: str | None) -> Lead | None:
    """The tenant's lead mirroring a CRM contact: linked by contact id, else matched by email."""
    linked = db.first(db.select(Lead).where(Lead.crm_contact_id == contact_id))
    if linked is not None or not email:
        return linked
    return db.first(db.select(Lead).where(func.lower(Lead.email) == email.lower()))
