"""The sample companies, loaded at start: one folder per company under `data/companies/`."""

from __future__ import annotations

from pathlib import Path

import structlog
from sqlmodel import Session

from core.config import PROJECT_ROOT, Settings
from core.exceptions import AppException
from core.vector_chunks import COMPANY_ID_PATTERN
from core.vector_store import VectorStoreBackend

from .config import RagSettings
from .ingest import ingest_paths

log = structlog.get_logger(__name__)

SAMPLE_COMPANIES_DIR = PROJECT_ROOT / "data" / "companies"


async def load_sample_companies(
    *,
    session: Session,
    settings: Settings,
    rag: RagSettings,
    vector_store: VectorStoreBackend,
    root: Path = SAMPLE_COMPANIES_DIR,
) -> None:
    """Ingest each `root/<company-id>/` folder whose company has no index yet."""
    folders = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    for folder in folders:
        company_id = folder.name
        if not COMPANY_ID_PATTERN.fullmatch(company_id) or vector_store.has_index(company_id):
            continue
        try:
            results = await ingest_paths(
                [folder],
                company_id=company_id,
                session=session,
                settings=settings,
                rag=rag,
                vector_store=vector_store,
            )
        except AppException as exc:  # one bad sample folder must not stop the app
            session.rollback()
            log.error("sample_data_failed", company_id=company_id, error=exc.message)
            continue
        log.info("sample_data_loaded", company_id=company_id, documents=len(results))
