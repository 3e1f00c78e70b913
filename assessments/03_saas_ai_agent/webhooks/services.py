"""Webhook intake (verify, then store once) and the inbox as tenants see it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Literal, NoReturn

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import from_json
from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from core.exceptions import (
    AuthenticationException,
    ConflictException,
    NotFoundException,
    ValidationException,
)

from ..audit import services as audit
from ..auth.context import RequestContext
from ..db import TenantDB, owned, utcnow
from ..errors import validation_details
from ..runtime import SaasRuntime
from ..tenants.models import Tenant
from .models import EventStatus, WebhookEvent
from .signatures import InvalidSignature, verify_signature

log = structlog.get_logger(__name__)
REPLAYABLE = frozenset({EventStatus.DEAD, EventStatus.FAILED})


class ContactData(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str = Field(min_length=1, max_length=100)


class ContactUpdated(BaseModel):
    type: Literal["contact.updated"]
    tenant_id: uuid.UUID
    data: ContactData


class _ClaimedSender(BaseModel):
    tenant_id: uuid.UUID


def receive(runtime: SaasRuntime, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
    """Verify a delivery and store it in the inbox; a redelivered webhook-id is stored once,
    and the same webhook-id with another body is a 409.

    One session, in the tenant the body claims: its signing secret is read there (on
    PostgreSQL, under that tenant's row-level security), and nothing is written until the
    signature proves the claim."""
    tenant_id = _claimed_tenant(body)
    with runtime.tenant_db(tenant_id) as db:
        tenant = _verified_sender(db, body, headers)
        event, payload = _parse_event(body)
        event_id = headers["webhook-id"]
        ctx = RequestContext.system(
            tenant_id, tenant.subscription_tier, request_id=f"webhook:{event_id}"
        )
        # Stored first and looked up only if the unique (tenant, webhook-id) refuses it:
        # a redelivery is the rare case, and this saves every new delivery a query.
        stored = WebhookEvent(
            tenant_id=tenant_id, event_id=event_id, type=event.type, payload=payload
        )
        entry = audit.entry(
            db, ctx, action="webhook.received", resource_type="webhook_event", resource_id=event_id
        )
        try:
            db.insert(stored, entry)
            db.commit()
        except IntegrityError:  # seen before, or the same delivery racing itself
            db.session.rollback()
            return _redelivered(_find(db, event_id) or _not_found(event_id), payload)
        return stored


def _redelivered(stored: WebhookEvent, payload: dict) -> WebhookEvent:
    """A webhook-id seen before. The same event again (a retry) is acknowledged as the first
    was; another body under that id is refused rather than dropped in silence. Bodies are
    compared as JSON, so a resend that only changes whitespace is still the same event."""
    if stored.payload != payload:
        log.warning("webhook_id_reused", event_id=stored.event_id)
        raise ConflictException(
            f"webhook-id {stored.event_id!r} was already received with a different body"
        )
    log.info("webhook_duplicate", event_id=stored.event_id)
    return stored


def _parse_event(body: bytes) -> tuple[ContactUpdated, dict]:
    """The event and the payload to store, read by pydantic's parser, which refuses
    nesting deeper than 200 levels instead of exhausting the stack."""
    try:
        event = ContactUpdated.model_validate_json(body)
    except ValidationError as exc:
        raise ValidationException(
            "Not a contact.updated event", details=validation_details(exc)
        ) from None
    payload = from_json(body)
    try:
        # NaN and ±Infinity (1e400 overflows to it) are not JSON: PostgreSQL's json refuses them.
        json.dumps(payload, allow_nan=False)
    except ValueError:
        raise ValidationException("NaN and Infinity are not JSON numbers") from None
    return event, payload


# Built once, like the caller check of authenticated requests: on the intake's hot path.
# Table columns, so it runs as plain SQL with no `Tenant` object built.
_TENANT = Tenant.__table__.c  # type: ignore[attr-defined]
_SENDER = select(_TENANT.subscription_tier, _TENANT.webhook_secret).where(owned(Tenant))


def _claimed_tenant(body: bytes) -> uuid.UUID:
    try:
        # Not json.loads: a body nested a few thousand levels deep raised RecursionError there.
        return _ClaimedSender.model_validate_json(body).tenant_id
    except ValidationError:
        _reject("no readable tenant_id")


def _verified_sender(db: TenantDB, body: bytes, headers: Mapping[str, str]) -> Row:
    """The tier and secret of the tenant `db` is scoped to, if it signed this delivery.
    Every failure looks the same from outside, so a caller cannot learn which tenant ids
    exist."""
    tenant = db.run(_SENDER).first()
    if tenant is None:
        _reject("unknown tenant")
    try:
        verify_signature(tenant.webhook_secret, body, headers)
    except InvalidSignature as exc:
        _reject(str(exc))
    return tenant


def _reject(reason: str) -> NoReturn:
    log.warning("webhook_rejected", reason=reason)
    raise AuthenticationException("Webhook signature verification failed")


def _find(db: TenantDB, event_id: str) -> WebhookEvent | None:
    return db.first(db.select(WebhookEvent).where(WebhookEvent.event_id == event_id))


def _not_found(event_id: str) -> NoReturn:
    raise NotFoundException(f"Webhook event {event_id} not found")


def get_event(db: TenantDB, event_id: str) -> WebhookEvent:
    return _find(db, event_id) or _not_found(event_id)


def list_events(
    db: TenantDB, *, status: EventStatus | None, limit: int, offset: int
) -> tuple[list[WebhookEvent], int]:
    statement = db.select(WebhookEvent)
    if status is not None:
        statement = statement.where(WebhookEvent.status == status)
    return db.page(statement, col(WebhookEvent.created_at).desc(), limit=limit, offset=offset)


def replay(db: TenantDB, ctx: RequestContext, event_id: str) -> WebhookEvent:
    """Queue a dead (or failed) event again, with a fresh set of attempts."""
    event = get_event(db, event_id)
    if event.status not in REPLAYABLE:
        raise ConflictException(
            f"Only dead or failed events can be replayed; this one is {event.status}"
        )
    event.status = EventStatus.PENDING
    event.attempts = 0
    event.next_attempt_at = event.updated_at = utcnow()
    db.session.add(event)
    audit.record(
        db, ctx, action="webhook.replayed", resource_type="webhook_event", resource_id=event_id
    )
    db.commit()
    return event
