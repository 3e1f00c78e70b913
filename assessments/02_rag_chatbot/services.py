"""Companies and their documents: list them, upload (small files now, large ones as
jobs) and delete. A chat turn is `chat.py`; its history, `history.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio
from sqlalchemy import func
from sqlmodel import Session, col, select

from core.config import Settings
from core.exceptions import NotFoundException, ValidationException
from core.vector_store import VectorStoreBackend

from . import ingest, ingest_jobs, reading, uploads
from .config import RagSettings
from .corpus import refresh_company_corpus
from .models import Company, Document
from .schemas import (
    CompaniesPublic,
    CompanyPublic,
    DocumentDeleted,
    DocumentPublic,
    DocumentsPublic,
    DocumentsUploaded,
    DocumentUploaded,
)


def get_company(session: Session, company_id: str) -> Company:
    company = session.get(Company, company_id)
    if company is None:
        raise NotFoundException(f"Company '{company_id}' not found")
    return company


def list_companies(session: Session) -> CompaniesPublic:
    counts = dict(
        session.exec(select(Document.company_id, func.count()).group_by(Document.company_id)).all()
    )
    companies = session.exec(select(Company).order_by(col(Company.id))).all()
    data = [CompanyPublic(id=c.id, name=c.name, documents=counts.get(c.id, 0)) for c in companies]
    return CompaniesPublic(data=data, count=len(data))


async def upload_documents(
    *,
    session: Session,
    settings: Settings,
    rag: RagSettings,
    vector_store: VectorStoreBackend,
    company_id: str,
    files: Sequence[tuple[str, bytes]],
    company_name: str | None = None,
) -> DocumentsUploaded:
    """Store small files now and queue large ones (`ingest_jobs`); the caller submits the jobs.

    Every small file is read and chunked before anything is stored, so one bad
    file fails the request whole; a large file is only checked for its name and
    type here, and a job that cannot read it fails with the same error code.
    """
    large = [(name, data) for name, data in files if len(data) >= rag.INGEST_ASYNC_MIN_BYTES]
    small = [(name, data) for name, data in files if len(data) < rag.INGEST_ASYNC_MIN_BYTES]
    # Parsing and chunking are CPU work (a PDF takes seconds): off the event loop, which
    # serves every other request meanwhile.
    prepared = await anyio.to_thread.run_sync(
        lambda: [
            ingest.prepare_upload(
                name, data, settings=settings, rag=rag, embedder=vector_store.embedder
            )
            for name, data in small
        ]
    )
    queued_names = [reading.sanitise_filename(name) for name, _ in large]
    names = [document.source for document in prepared] + queued_names
    if len(set(names)) != len(names):
        raise ValidationException(
            "Two files in one upload have the same name", code="duplicate_filename"
        )
    for name in queued_names:
        reading.check_supported(name)
    ingest.ensure_company(session, company_id, name=company_name)
    results = await ingest.ingest_documents(
        prepared,
        company_id=company_id,
        session=session,
        vector_store=vector_store,
        upload_dir=settings.upload_dir,
    )
    # Queued last: a request that fails above leaves no job behind to run later.
    jobs = [
        ingest_jobs.queue_upload(
            session, settings=settings, company_id=company_id, filename=name, data=data
        )
        for name, data in large
    ]
    data = [
        DocumentUploaded(
            id=r.document.id, source=r.document.source, chunks=r.document.chunks, status=r.status
        )
        for r in results
    ]
    return DocumentsUploaded(
        company_id=company_id,
        data=data,
        count=len(data),
        jobs=[ingest_jobs.to_public(job) for job in jobs],
    )


def list_documents(session: Session, company_id: str) -> DocumentsPublic:
    get_company(session, company_id)
    documents = session.exec(
        select(Document).where(Document.company_id == company_id).order_by(col(Document.source))
    ).all()
    data = [DocumentPublic.model_validate(document, from_attributes=True) for document in documents]
    return DocumentsPublic(data=data, count=len(data))


async def delete_document(
    *,
    session: Session,
    settings: Settings,
    vector_store: VectorStoreBackend,
    document_id: str,
    company_id: str | None = None,
) -> DocumentDeleted:
    document = session.get(Document, document_id)
    if document is None or (company_id is not None and document.company_id != company_id):
        raise NotFoundException(f"Document '{document_id}' not found")
    removed = await anyio.to_thread.run_sync(
        lambda: vector_store.delete_document(document.id, company_id=document.company_id)
    )
    deleted = DocumentDeleted(
        id=document.id,
        company_id=document.company_id,
        source=document.source,
        chunks_removed=removed,
    )
    session.delete(document)
    session.commit()
    uploads.remove_upload(settings.upload_dir, deleted.company_id, deleted.source)
    await anyio.to_thread.run_sync(refresh_company_corpus, vector_store, deleted.company_id)
    return deleted
