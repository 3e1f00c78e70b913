"""Processing one inbox event: fetch the contact, qualify it, write the score back.

`process_event(runtime, tenant_id, event_id)` is the whole job and the only
code path: the task in `tasks.py` runs it, in a Celery worker or in process.
It claims the event first (one conditional UPDATE), so two workers never run
the same event at once, and its effects are idempotent, so a job retried
after a crash does no harm. An event whose workers keep dying under it is
dead-lettered once its attempts are spent, like one that keeps failing.
Database steps are short transactions in the threadpool; none stays open
while the CRM or the model answers.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlmodel import or_
from starlette.concurrency import run_in_threadpool

from ..agents.schemas import LeadProfile, Qualification
from ..agents.services import qualifier, run_agent
from ..audit import services as audit
from ..auth.context import RequestContext
from ..crm.client import Contact, CRMError
from ..crm.models import CrmSync
from ..db import TenantDB, utcnow
from ..leads import services as leads
from ..leads.models import Lead
from ..runtime import SaasRuntime
from ..tenants.services import current_tenant
from .models import EventStatus, WebhookEvent

log = structlog.get_logger(__name__)
CLAIMABLE = (EventStatus.PENDING, EventStatus.FAILED, EventStatus.PROCESSING)


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
        await runtime.crm.update_contact(
            job.tenant_id, job.contact_id, {"ai_score": output.value.score}
        )
        await run_in_threadpool(finish, runtime, job, contact, output.value)
    except Exception as exc:
        return await run_in_threadpool(record_failure, runtime, job, exc)
    return EventStatus.DONE


def claim(runtime: SaasRuntime, tenant_id: uuid.UUID, event_id: str) -> Job | None:
    """Take the event if it is due: pending, failed and due again, or processing with an
    expired lease (its worker died). One statement, so only one worker can win.
    Every claim counts an attempt, so a worker that dies on every try (a crash loop)
    runs out of attempts too: the event is dead-lettered instead of claimed."""
    now = utcnow()
    lease = timedelta(seconds=runtime.saas.WEBHOOK_LEASE_SECONDS)
    with runtime.tenant_db(tenant_id) as db:
        claimed = db.execute(
            db.update(WebhookEvent)
            .where(
                WebhookEvent.event_id == event_id,
                or_(*(WebhookEvent.status == status for status in CLAIMABLE)),
                WebhookEvent.next_attempt_at <= now,
            )
            .values(
                status=EventStatus.PROCESSING,
                attempts=WebhookEvent.attempts + 1,
                next_attempt_at=now + lease,
                updated_at=now,
            )
        )
        db.commit()
        if claimed != 1:
            return None
        event = _event(db, event_id)
        tier = current_tenant(db).subscription_tier
        ctx = RequestContext.system(tenant_id, tier, request_id=f"webhook:{event_id}")
        if event.attempts > runtime.saas.WEBHOOK_MAX_ATTEMPTS:
            event.attempts = runtime.saas.WEBHOOK_MAX_ATTEMPTS  # this claim ran nothing
            event.last_error = "attempts spent: the worker running the last one was lost"
            _dead_letter(db, ctx, event, now)
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
    saas, now = runtime.saas, utcnow()
    with runtime.tenant_db(job.tenant_id) as db:
        event = _event(db, job.event_id)
        event.last_error = f"{type(exc).__name__}: {exc}"[:500]
        if event.attempts >= saas.WEBHOOK_MAX_ATTEMPTS:
            _dead_letter(db, job.ctx, event, now)
        else:
            delay = min(
                saas.WEBHOOK_RETRY_MAX_SECONDS,
                saas.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (event.attempts - 1),
            )
            event.status = EventStatus.FAILED
            event.next_attempt_at = now + timedelta(seconds=delay)
            event.updated_at = now
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
    if event is None or event.status not in CLAIMABLE:
        return None
    return max(0.0, (event.next_attempt_at - utcnow()).total_seconds())


def _dead_letter(db: TenantDB, ctx: RequestContext, event: WebhookEvent, now: datetime) -> None:
    event.status = EventStatus.DEAD
    event.next_attempt_at = event.updated_at = now
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
