"""Assessment 3's HTTP routes and start-up (mounted by backend.main under /api/03-saas).

At start (`lifespan`): refuse unsafe production auth settings (a missing or short
JWT_SECRET, the dev admin password), build the runtime (on PostgreSQL, apply row-level
security), create the platform admin from settings, load the demo tenants in
development, and start the webhook worker (in process; or, with
CELERY_BROKER_URL, the sweep that feeds the Celery workers).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from anyio import CapacityLimiter
from fastapi import APIRouter, FastAPI

from core.config import Settings
from core.startup_lock import exclusive
from core.tasks import create_task_runner

from . import metrics as saas_metrics
from .agents.routers import router as agents_router
from .audit.routers import router as audit_router
from .auth.routers import router as auth_router
from .config import AuthSettings, SaasSettings
from .crm.routers import router as crm_router
from .leads.routers import router as leads_router
from .runtime import create_runtime
from .seed import seed_demo_tenants
from .tenants.routers import router as tenants_router
from .tenants.services import bootstrap_platform_admin
from .usage.routers import router as usage_router
from .webhooks.routers import router as webhooks_router
from .webhooks.worker import create_worker

log = structlog.get_logger(__name__)

router = APIRouter()
for sub_router in (
    auth_router,
    tenants_router,
    leads_router,
    agents_router,
    crm_router,
    webhooks_router,
    audit_router,
    usage_router,
):
    router.include_router(sub_router)


def check_settings(app: FastAPI, settings: Settings) -> None:
    """Run by the backend before its start touches anything (database, sample data):
    production must not run on a guessable signing key or admin password."""
    # Tests and embedding apps may set their own before start.
    auth = getattr(app.state, "auth_settings", None) or AuthSettings()
    auth.refuse_unsafe_production(settings.ENVIRONMENT)
    app.state.auth_settings = auth


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = app.state.settings
    if getattr(app.state, "auth_settings", None) is None:  # started without the backend
        check_settings(app, settings)
    auth: AuthSettings = app.state.auth_settings
    _, generated_secret = auth.jwt_secret(settings.DATA_DIR)
    if generated_secret:
        log.warning("jwt_secret_generated", hint="set JWT_SECRET; generated dev secret in use")
    saas = getattr(app.state, "saas_settings", None) or SaasSettings()
    # First, so that a configured broker that does not answer stops the start at once.
    runner = create_task_runner(settings, app.state, concurrency=saas.WEBHOOK_CONCURRENCY)
    runtime = create_runtime(
        settings=settings, saas=saas, engine=app.state.engine, app_state=app.state, auth=auth
    )
    runtime.db_threads = CapacityLimiter(saas.DB_THREADS)
    app.state.saas = runtime
    saas_metrics.COLLECTOR.runtime = runtime
    bootstrap_platform_admin(runtime)
    if (
        settings.LOAD_SAMPLE_DATA
        and saas.LOAD_DEMO_TENANTS
        and settings.ENVIRONMENT != "production"
    ):
        # Workers starting together take turns: the second finds the tenants there.
        with exclusive(app.state.engine, "sample-data"):
            seed_demo_tenants(runtime)
    runtime.worker = create_worker(runtime, runner)
    if saas.WEBHOOK_WORKER_ENABLED:
        await runtime.worker.start()
    try:
        yield
    finally:
        if saas_metrics.COLLECTOR.runtime is runtime:
            saas_metrics.COLLECTOR.runtime = None
        await runtime.worker.stop()
        await runtime.crm.aclose()
        if runtime.tenant_engine is not runtime.engine:
            runtime.tenant_engine.dispose()
