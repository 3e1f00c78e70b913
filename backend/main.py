"""The one FastAPI app: shared clients, middleware, and the three assessments.

`create_app(settings)` builds an app; `app` is the one uvicorn serves
(`uvicorn backend.main:app`). Each assessment is a package whose `routers.py`
exposes `router` and, optionally, `lifespan(app)` (an async context manager
for its start-up work: sample data, workers, bootstrap users).
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from types import ModuleType
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from backend.assessments import ASSESSMENTS
from backend.middleware import (
    BodySizeLimitMiddleware,
    NulCharacterMiddleware,
    RequestContextMiddleware,
)
from core.config import Settings, get_settings
from core.database import (
    WalCheckpointer,
    check_database,
    create_db_engine,
    database_reachable,
    init_db,
)
from core.embedding_cache import connect_embedding_cache
from core.embedding_client import create_embedding_client
from core.exceptions import register_exception_handlers
from core.llm_client import LLMClient, create_llm_client
from core.logger import configure_logging
from core.telemetry import configure_tracing, instrument_app
from core.vector_store import create_vector_store

VERSION = "0.1.0"
log = structlog.get_logger(__name__)


def _load_routers() -> list[tuple[ModuleType, str]]:
    return [
        (importlib.import_module(f"{package}.routers"), prefix)
        for package, prefix in ASSESSMENTS.items()
    ]


def _llm_health(settings: Settings, llm: LLMClient | None) -> dict[str, Any]:
    """The LLM in use; for a real one, the structured-output mode it has settled on."""
    if llm is None:
        return {
            "provider": settings.llm_provider,
            "model": "local-rules",
            "structured_output": None,
        }
    return {
        "provider": settings.llm_provider,
        "model": llm.model,
        # json_object once the server has refused json_schema (remembered until a restart).
        "structured_output": llm.structured_output,
        "timeouts_seconds": {
            "connect": settings.LLM_CONNECT_TIMEOUT_SECONDS,
            "read": settings.LLM_READ_TIMEOUT_SECONDS,
        },
        "circuit": llm.circuit.state,
    }


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT, settings.ENVIRONMENT)
    configure_tracing("ai-assessments-api")
    # Importing the routers registers every table model the assessments use.
    assessments = _load_routers()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Each assessment may refuse its settings before anything is created or loaded.
        for module, _ in assessments:
            if hasattr(module, "check_settings"):
                module.check_settings(app, settings)
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
        check_database(settings.database_url)
        engine = create_db_engine(settings.database_url)
        init_db(engine, migrate=settings.migrate_on_start)
        checkpointer = WalCheckpointer(engine)
        embedder = create_embedding_client(settings)
        if settings.REDIS_URL:
            embedder = connect_embedding_cache(embedder, settings)
        app.state.settings = settings
        app.state.engine = engine
        app.state.llm = create_llm_client(settings)
        app.state.embedder = embedder
        app.state.vector_store = create_vector_store(settings, engine=engine, embedder=embedder)
        log.info(
            "startup",
            llm_provider=settings.llm_provider,
            embedding_provider=settings.embedding_provider,
            database=engine.dialect.name,
        )
        async with AsyncExitStack() as stack:
            checkpointer.start()
            stack.callback(checkpointer.stop)  # after the assessments' workers have stopped
            for module, _ in assessments:
                if hasattr(module, "lifespan"):
                    await stack.enter_async_context(module.lifespan(app))
            # Everything built so far (models, vocabularies, phone metadata: some 350,000
            # objects) lives as long as the process. Frozen, the collector stops walking it:
            # a full collection took about 180 ms, a pause every request in flight waited out.
            gc.freeze()
            stack.callback(gc.unfreeze)  # an app stopped in a longer-lived process is freed
            yield
        for client in (app.state.llm, embedder):
            if hasattr(client, "aclose"):
                await client.aclose()
        if hasattr(app.state.vector_store, "close"):
            app.state.vector_store.close()
        engine.dispose()

    # Swagger UI and ReDoc with their scripts, styles and icon served by this app (from the
    # fastapi-offline package), not a CDN: the docs must work on a laptop with no network.
    app = FastAPIOffline(
        title="AI Engineering Assessments",
        version=VERSION,
        description="Reference implementations of three AI-engineering take-home assessments.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    register_exception_handlers(app)
    app.add_middleware(NulCharacterMiddleware)  # inside the size limit: reads bounded bodies
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.MAX_REQUEST_BODY_BYTES)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.CORS_ORIGINS,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["X-Request-ID", "Retry-After"],
    )
    # Added last, so it runs first: every response, even a 413, carries the ID.
    app.add_middleware(RequestContextMiddleware)
    instrument_app(app)

    @app.get("/health", tags=["service"])
    def health(request: Request) -> JSONResponse:
        """Liveness, the providers in use, and whether the database answers."""
        state = request.app.state
        reachable = database_reachable(state.engine)
        llm = state.llm
        body = {
            "status": "ok" if reachable else "degraded",
            "version": VERSION,
            "environment": settings.ENVIRONMENT,
            "providers": {
                "llm": _llm_health(settings, llm),
                "embedding": {
                    "provider": state.embedder.provider,
                    "model": state.embedder.model,
                    "dimension": state.embedder.dimension,
                },
            },
            "database": {"backend": state.engine.dialect.name, "reachable": reachable},
            "vector_store": settings.VECTOR_STORE,
        }
        return JSONResponse(body, status_code=200 if reachable else 503)

    @app.get("/metrics", tags=["service"], response_class=Response)
    def metrics() -> Response:
        """Prometheus metrics in the text exposition format."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for module, prefix in assessments:
        app.include_router(module.router, prefix=prefix)
    return app


app = create_app()
