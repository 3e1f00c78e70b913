"""Two demo tenants with users, leads and CRM contacts, loaded at start in development.

Credentials are in `sample_data/demo_tenants.json` and the README. Skipped in
production, when sample data is off, and for tenants that already exist.
"""

from __future__ import annotations

import json
from pathlib import Path

import structlog
from sqlmodel import select

from .crm.models import CrmContact
from .leads.models import Lead
from .runtime import SaasRuntime
from .tenants.models import Tenant, User
from .tenants.services import new_webhook_secret

DEMO_TENANTS = Path(__file__).parent / "sample_data" / "demo_tenants.json"
log = structlog.get_logger(__name__)


def seed_demo_tenants(runtime: SaasRuntime, path: Path = DEMO_TENANTS) -> int:
    """Create the demo tenants that do not exist yet; returns how many were created."""
    created = 0
    for spec in json.loads(path.read_text(encoding="utf-8"))["tenants"]:
        # Privileged, like any tenant creation; done once per demo install.
        with runtime.privileged() as session:
            if session.exec(select(Tenant).where(Tenant.name == spec["name"])).first():
                continue
            tenant = Tenant(
                name=spec["name"],
                subscription_tier=spec["subscription_tier"],
                webhook_secret=new_webhook_secret(),
            )
            session.add(tenant)
            session.flush()
            for user in spec["users"]:
                session.add(
                    User(
                        tenant_id=tenant.id,
                        email=user["email"],
                        password_hash=runtime.passwords.hash(user["password"]),
                        role=user["role"],
                    )
                )
            session.add_all(Lead(tenant_id=tenant.id, **lead) for lead in spec["leads"])
            session.add_all(CrmContact(tenant_id=tenant.id, **c) for c in spec["contacts"])
            session.commit()
            created += 1
    if created:
        log.info("demo_tenants_created", count=created)
    return created
