"""Processing one inbox event: fetch the contact, qualify it, write the score back.

`process_event(runtime, tenant_id, event_id)` is the whole job and the only
code path: the task in `tasks.py` runs it, in a Celery worker or in process.
The inbox is run by `core.jobs`' lease protocol (`inbox(saas)`): the event is
claimed first (one conditional UPDATE), so two workers never run it at once,
and its effects are idempotent, so a job retried after a crash does no harm.
A failure is retried with exponential backoff; an event that keeps failing, or
whose workers keep dying under it, is dead-lettered once its attempts are spent.
Database steps are short transactions in the threadpool; none stays open
while the CRM or the model answers.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import structlog
from starlette.concurrency import run_in_threadpool

from core.jobs import LeasedJobs
from core.telemetry import span

from ..agents.schemas import LeadProfile, Qualification
from ..agents.services import qualifier, run_agent
from ..audit import services as audit
from ..auth.context import RequestContext
from ..config import SaasSettings
from ..crm.client import Contact, CRMError
from ..crm.models import CrmSync
from ..db import TenantDB, utcnow
from ..leads import services as leads
from ..leads.models import Lead
from ..runtime import SaasRuntime
from ..tenants.services import current_tenant
from .models import EventStatus, WebhookEvent

log = structlog.get_logger(__name__)


def inbox(saas: SaasSettings) -> LeasedJobs[WebhookEvent]:
    """How the `webhook_event` table is run under `core.jobs`' lease protocol."""
    return LeasedJobs(
        model=WebhookEvent,
        key="event_id",
        due="next_attempt_at",
        waiting=(EventStatus.PENDING, EventStatus.FAILED),
        running=EventStatus.PROCESSING,
        retrying=EventStatus.FAILED,
        dead=EventStatus.DEAD,
        lease_seconds=saas.WEBHOOK_LEASE_SECONDS,
        max_attempts=saas.WEBHOOK_MAX_ATTEMPTS,
        backoff_base_seconds=saas.WEBHOOK_RETRY_BASE_SECONDS,
        backoff_max_seconds=saas.WEBHOOK_RETRY_MAX_SECONDS,
    )


@dataclass(frozen=True)
class Job:
    event_id: str
    contact_id: str
    ctx: RequestContext

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.ctx.tenant


async def process_event(
    runtime: SaasRuntime, tenant_id: uuid.UUID, event_id: str
) -> EventStatus | None:
    """Run one event if it is due; its new status, or None if it was not ours to run."""
    with structlog.contextvars.bound_contextvars(tenant_id=str(tenant_id), event_id=event_id):
        return await _process(runtime, tenant_id, event_id)


async def _process(runtime: SaasRuntime, tenant_id: uuid.UUID, event_id: str) -> EventStatus | None:
    job = await run_in_threadpool(claim, runtime, tenant_id, event_id)
    if job is None:
        return None
    try:
        with span("crm.get_contact", **{"app.crm": runtime.crm.name}):
            contact = await runtime.crm.get_contact(job.tenant_id, job.contact_id)
        if contact is None:
            raise CRMError(f"contact {job.contact_id} not found in the {runtime.crm.name} CRM")
        output = await run_agent(
            runtime,
            job.ctx,
            qualifier(runtime),
            profile_of(contact),
            resource=("crm_contact", job.contact_id),
        )
        with span("crm.update_contact", **{"app.crm": runtime.crm.name}):
            await runtime.crm.update_contact(
                job.tenant_id, job.contact_id, {"ai_score": output.value.score}
            )
        await run_in_threadpool(finish, runtime, job, contact, output.value)
    except Exception as exc:
        return await run_in_threadpool(record_failure, runtime, job, exc)
    return EventStatus.DONE


def claim(runtime: SaasRuntime, tenant_id: uuid.UUID, event_id: str) -> Job | None:
    """Take the event if it is due (`core.jobs`); None when it is not ours to run."""
    events = inbox(runtime.saas)
    with runtime.tenant_db(tenant_id) as db:
        if not events.claim(db.session, event_id, db.owns(WebhookEvent)):
            return None
        event = _event(db, event_id)
        tier = current_tenant(db).subscription_tier
        ctx = RequestContext.system(tenant_id, tier, request_id=f"webhook:{event_id}")
        if events.attempts_spent(event):
            event.last_error = "attempts spent: the worker running the last one was lost"
            events.retry_or_die(event)
            _dead_letter(db, ctx, event)
            log.warning("webhook_failed", attempts=event.attempts, status=event.status)
            return None
    return Job(event_id=event_id, contact_id=str(event.payload["data"]["id"]), ctx=ctx)


def finish(runtime: SaasRuntime, job: Job, contact: Contact, result: Qualification) -> None:
    """Mirror the score on the tenant's lead, log the sync, and close the event."""
    with runtime.tenant_db(job.tenant_id) as db:
        lead = mirror_lead(db, contact)
        leads.record_qualification(lead, score=result.score, reasons=result.reasons)
        db.session.add(lead)
        db.session.flush()
        db.add(
            CrmSync(
                tenant_id=job.tenant_id,
                lead_id=lead.id,
                contact_id=job.contact_id,
                direction="outbound",
                status="ok",
                payload={"ai_score": result.score, "event_id": job.event_id},
            )
        )
        event = _event(db, job.event_id)
        event.status = EventStatus.DONE
        event.last_error = None
        event.updated_at = utcnow()
        db.session.add(event)
        audit.record(
            db,
            job.ctx,
            action="webhook.processed",
            resource_type="webhook_event",
            resource_id=job.event_id,
            details={
                "contact_id": job.contact_id,
                "lead_id": str(lead.id),
                "ai_score": result.score,
            },
        )
        db.commit()


def mirror_lead(db: TenantDB, contact: Contact) -> Lead:
    """The tenant's lead for this contact: linked before, matched by email, or created now."""
    lead = leads.find_for_contact(db, contact_id=contact.id, email=contact.email)
    if lead is None:
        lead = db.add(
            Lead(
                tenant_id=db.tenant_id,
                name=contact.name,
                email=contact.email,
                phone=contact.phone,
                company=contact.company,
                message=contact.message,
            )
        )
    lead.crm_contact_id = contact.id
    return lead


def profile_of(contact: Contact) -> LeadProfile:
    return LeadProfile(
        name=contact.name,
        email=contact.email,
        phone=contact.phone,
        company=contact.company,
        message=contact.message,
    )


def record_failure(runtime: SaasRuntime, job: Job, exc: Exception) -> EventStatus:
    """Schedule a retry with exponential backoff, or dead-letter after the last attempt."""
    with runtime.tenant_db(job.tenant_id) as db:
        event = _event(db, job.event_id)
        event.last_error = f"{type(exc).__name__}: {exc}"[:500]
        if inbox(runtime.saas).retry_or_die(event):
            _dead_letter(db, job.ctx, event)
        else:
            db.session.add(event)
            db.commit()
        log.warning(
            "webhook_failed",
            attempts=event.attempts,
            status=event.status,
            error=type(exc).__name__,
        )
        return EventStatus(event.status)


def seconds_until_due(runtime: SaasRuntime, tenant_id: uuid.UUID, event_id: str) -> float | None:
    """How long until the event may be claimed again (a retry's backoff, or the lease of
    the worker holding it); None once it is done or dead."""
    with runtime.tenant_db(tenant_id) as db:
        event = db.first(db.select(WebhookEvent).where(WebhookEvent.event_id == event_id))
    return inbox(runtime.saas).seconds_until_due(event)


def _dead_letter(db: TenantDB, ctx: RequestContext, event: WebhookEvent) -> None:
    db.session.add(event)
    audit.record(
        db,
        ctx,
        action="webhook.dead_lettered",
        resource_type="webhook_event",
        resource_id=event.event_id,
        details={"attempts": event.attempts},
    )
    db.commit()


def _event(db: TenantDB, event_id: str) -> WebhookEvent:
    event = db.first(db.select(WebhookEvent).where(WebhookEvent.event_id == event_id))
    assert event is not None, event_id
    return event
