"""What this assessment builds once at start and shares: engines, CRM, limiter, worker.

Kept on `app.state.saas`. Everything a webhook job needs is reachable from it,
so the same `process_event(runtime, ...)` runs in the in-process worker and in
a Celery worker process (which builds its own runtime: `webhooks/tasks.py`).
The auth settings are there in the API only: a Celery worker issues and checks no tokens.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from anyio import CapacityLimiter
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.config import Settings
from core.llm_client import LLMClient

from .auth.passwords import Passwords
from .config import AuthSettings, SaasSettings, Tier
from .crm.client import CRMClient
from .crm.embedded import EmbeddedCRM
from .crm.hubspot import HubSpotCRM
from .db import TenantDB, create_tenant_engine, privileged_session, tenant_session
from .ratelimit import TenantRateLimiter
from .rls import apply_row_level_security


class WebhookRunner(Protocol):
    """Who runs the stored webhook events (`webhooks/worker.py` builds it at start)."""

    def enqueue(self, tenant_id: uuid.UUID, event_id: str) -> None:
        """A stored event is ready to run (called from a thread, after the commit)."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class SaasRuntime:
    settings: Settings
    saas: SaasSettings
    engine: Engine
    tenant_engine: Engine
    passwords: Passwords
    rate_limiter: TenantRateLimiter
    crm: CRMClient
    # The app's state, read on use: tests and operators may swap `llm` while running.
    app_state: Any = None
    worker: WebhookRunner | None = field(default=None)
    # Built by the API's lifespan; None in a Celery worker, which issues and checks no tokens.
    auth_settings: AuthSettings | None = None
    # The threads `TenantWork` runs on (SAAS_DB_THREADS), made by the API's lifespan inside
    # its event loop; None: anyio's default pool.
    db_threads: CapacityLimiter | None = None

    @property
    def auth(self) -> AuthSettings:
        if self.auth_settings is None:
            raise RuntimeError("no AuthSettings here: the API's lifespan builds them")
        return self.auth_settings

    @property
    def llm(self) -> LLMClient | None:
        return getattr(self.app_state, "llm", None)

    @contextmanager
    def tenant_db(self, tenant_id: uuid.UUID) -> Iterator[TenantDB]:
        with tenant_session(self.tenant_engine, tenant_id) as db:
            yield db

    @contextmanager
    def privileged(self) -> Iterator[Session]:
        with privileged_session(self.engine) as session:
            yield session

    def monthly_agent_runs(self, tier: Tier | None) -> int | None:
        return self.saas.MONTHLY_AGENT_RUNS[tier or "starter"]

    def model_for(self, agent: str) -> str:
        configured = {
            "reply": self.saas.REPLY_MODEL,
            "qualify": self.saas.QUALIFY_MODEL,
            "extract": self.saas.EXTRACT_MODEL,
        }.get(agent)
        return configured or self.settings.OPENAI_CHAT_MODEL


def create_runtime(
    *,
    settings: Settings,
    saas: SaasSettings,
    engine: Engine,
    app_state: Any = None,
    auth: AuthSettings | None = None,
) -> SaasRuntime:
    """Everything but the worker; on PostgreSQL this also applies row-level security."""
    if engine.dialect.name == "postgresql":
        apply_row_level_security(engine, app_role=saas.DB_APP_ROLE)
    tenant_engine = create_tenant_engine(engine, app_role=saas.DB_APP_ROLE)
    return SaasRuntime(
        settings=settings,
        saas=saas,
        engine=engine,
        tenant_engine=tenant_engine,
        passwords=Passwords(saas.password_hash_profile(settings.ENVIRONMENT)),
        rate_limiter=TenantRateLimiter(
            storage_uri=settings.REDIS_URL or "memory://",
            tier_limits=saas.RATE_LIMITS,
            login_limit=saas.LOGIN_RATE_LIMIT,
        ),
        crm=create_crm(saas, tenant_engine),
        app_state=app_state,
        auth_settings=auth,
    )


def create_crm(saas: SaasSettings, tenant_engine: Engine) -> CRMClient:
    if saas.CRM_BACKEND == "hubspot":
        if not saas.HUBSPOT_TOKEN:
            raise ValueError("SAAS_HUBSPOT_TOKEN is required when SAAS_CRM_BACKEND=hubspot")
        return HubSpotCRM(
            token=saas.HUBSPOT_TOKEN,
            base_url=saas.HUBSPOT_BASE_URL,
            score_property=saas.HUBSPOT_SCORE_PROPERTY,
            timeout=saas.HUBSPOT_TIMEOUT_SECONDS,
        )
    return EmbeddedCRM(tenant_engine)
