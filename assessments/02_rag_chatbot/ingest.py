"""Ingestion: a company's files → text → token-sized chunks → vectors, one index per company.

`prepare_upload` validates and reads one file (`reading.py`) and chunks it
(`chunking.py`) without touching any store, so a bad file is refused before anything
changes. `ingest_documents` then writes them in one batch: unchanged content (same SHA-256)
is skipped, a source uploaded again replaces its chunks, and a new one is added.
`ingest_paths` does both for files and folders (the sample data, `ingest_cli.py`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import anyio
import structlog
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from core.config import Settings
from core.embedding_client import EmbeddingClient
from core.exceptions import ConflictException, PayloadTooLargeException, ValidationException
from core.vector_chunks import COMPANY_ID_PATTERN, DocumentChunks
from core.vector_store import VectorStoreBackend

from .chunking import chunk_sizes, chunk_text
from .config import RagSettings
from .corpus import refresh_company_corpus
from .models import Company, Document
from .reading import SUPPORTED_SUFFIXES, extract_text, sanitise_filename
from .uploads import keep_upload

log = structlog.get_logger(__name__)

IngestStatus = Literal["created", "replaced", "unchanged"]
ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class PreparedDocument:
    """A validated file, read and chunked, not yet stored anywhere."""

    source: str
    data: bytes
    chunks: list[str]

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


# A document to write: what was prepared, its existing row (None: new), the row to write.
Planned = tuple[PreparedDocument, Document | None, Document]


@dataclass(frozen=True)
class IngestResult:
    document: Document
    status: IngestStatus


def prepare_upload(
    filename: str,
    data: bytes,
    *,
    settings: Settings,
    rag: RagSettings,
    embedder: EmbeddingClient,
) -> PreparedDocument:
    """Validate, read and chunk one file. Raises a 4xx `AppException` for a bad file."""
    source = sanitise_filename(filename)
    if len(data) > settings.MAX_UPLOAD_BYTES:
        raise PayloadTooLargeException(
            f"'{source}' is {len(data)} bytes; the limit is {settings.MAX_UPLOAD_BYTES}"
        )
    text = extract_text(source, data)
    size, overlap = chunk_sizes(rag, embedder)
    return PreparedDocument(
        source=source,
        data=data,
        chunks=chunk_text(text, embedder=embedder, size=size, overlap=overlap),
    )


def ensure_company(session: Session, company_id: str, *, name: str | None = None) -> Company:
    """The company, created on first use (its id must be a slug like `acme-corp`)."""
    if not COMPANY_ID_PATTERN.fullmatch(company_id):
        raise ValidationException(
            "company_id must be 1-63 lowercase letters, digits, '-' or '_' "
            "(for example 'acme-corp')",
            code="invalid_company_id",
        )
    company = session.get(Company, company_id)
    if company is not None:
        return company
    session.add(Company(id=company_id, name=name or _display_name(company_id)))
    try:
        session.commit()
    except IntegrityError:  # created meanwhile by a concurrent upload: use that row
        session.rollback()
    return session.exec(select(Company).where(Company.id == company_id)).one()


async def ingest_documents(
    documents: Sequence[PreparedDocument],
    *,
    company_id: str,
    session: Session,
    vector_store: VectorStoreBackend,
    upload_dir: Path,
    on_progress: ProgressCallback | None = None,
) -> list[IngestResult]:
    """Store prepared documents for a company (which must exist), as one write.

    Unchanged ones are skipped; the chunks of all the others are embedded in one call and
    stored in one vector-store write, so an upload of many files costs what its chunks
    cost, and the company's index is saved once, not once per file.
    """
    planned: list[Planned] = []
    results: dict[str, IngestResult] = {}
    for prepared in documents:
        existing = session.exec(
            select(Document).where(
                Document.company_id == company_id, Document.source == prepared.source
            )
        ).first()
        if existing is not None and existing.content_hash == prepared.content_hash:
            results[prepared.source] = IngestResult(existing, "unchanged")
            if on_progress is not None:
                on_progress(len(prepared.chunks))
            continue
        document = existing or Document(
            company_id=company_id, source=prepared.source, content_hash="", chunks=0, bytes=0
        )
        planned.append((prepared, existing, document))
    if planned:
        _claim_new_documents(session, planned)
        # The vector store embeds first and swaps chunks atomically: a failure changes nothing
        # there, and the rows claimed above go again.
        try:
            await vector_store.replace_documents(
                [
                    DocumentChunks(
                        document.id,
                        prepared.chunks,
                        [
                            {
                                "document_id": document.id,
                                "source": prepared.source,
                                "chunk_index": n,
                            }
                            for n in range(len(prepared.chunks))
                        ],
                    )
                    for prepared, _, document in planned
                ],
                company_id=company_id,
                on_progress=on_progress,
            )
        except BaseException:
            _forget_new_documents(session, planned)
            raise
        _record_documents(session, planned)
        for result in results.values():  # loaded again after the commit that expired them
            session.refresh(result.document)
        # The keyword index and term statistics catch up now, not on the next question.
        await anyio.to_thread.run_sync(refresh_company_corpus, vector_store, company_id)
    for prepared, existing, document in planned:
        session.refresh(document)
        keep_upload(upload_dir / company_id / prepared.source, prepared.data)
        status: IngestStatus = "replaced" if existing else "created"
        results[prepared.source] = IngestResult(document, status)
        log.info(
            "document_ingested",
            company_id=company_id,
            source=prepared.source,
            chunks=document.chunks,
            status=status,
        )
    return [results[prepared.source] for prepared in documents]


def _claim_new_documents(session: Session, planned: Sequence[Planned]) -> None:
    """The rows of new documents, written before their chunks (empty: no hash, 0 chunks), so
    no chunk is ever stored for a document that has no row, even if the process dies midway;
    a source created meanwhile by a concurrent upload is a 409 before anything is embedded.
    The commit also ends the read transaction, whose pooled connection would otherwise wait
    out the embedding (20 uploads at once ran the pool dry)."""
    session.add_all(document for _, existing, document in planned if existing is None)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        sources = ", ".join(f"'{prepared.source}'" for prepared, _, _ in planned)
        verb = "was" if len(planned) == 1 else "were"
        raise ConflictException(
            f"{sources} {verb} uploaded concurrently by another request; retry"
        ) from None


def _forget_new_documents(session: Session, planned: Sequence[Planned]) -> None:
    """Storing the chunks failed: the rows claimed for new documents go again."""
    session.rollback()
    for _, existing, document in planned:
        if existing is None and (row := session.get(Document, document.id)) is not None:
            session.delete(row)
    session.commit()


def _record_documents(session: Session, planned: Sequence[Planned]) -> None:
    """The documents' rows, after their chunks: hash, size and chunk count, one commit."""
    now = datetime.now(UTC)
    for prepared, _, document in planned:
        document.content_hash = prepared.content_hash
        document.chunks = len(prepared.chunks)
        document.bytes = len(prepared.data)
        document.updated_at = now
        session.add(document)
    session.commit()


def _display_name(company_id: str) -> str:
    return " ".join(part.capitalize() for part in re.split(r"[-_]", company_id) if part)


def folder_files(paths: Iterable[Path]) -> list[Path]:
    """Supported files among `paths`; folders are read one level deep, sorted by name."""
    files: list[Path] = []
    for path in paths:
        candidates = sorted(path.iterdir()) if path.is_dir() else [path]
        files.extend(
            p for p in candidates if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
        )
    return files


async def ingest_paths(
    paths: Iterable[Path],
    *,
    company_id: str,
    session: Session,
    settings: Settings,
    rag: RagSettings,
    vector_store: VectorStoreBackend,
    company_name: str | None = None,
    on_progress: ProgressCallback | None = None,
    on_total: Callable[[int], None] | None = None,
) -> list[IngestResult]:
    """Ingest files and folders for a company, creating it if needed."""
    ensure_company(session, company_id, name=company_name)
    prepared = [
        prepare_upload(
            path.name,
            path.read_bytes(),
            settings=settings,
            rag=rag,
            embedder=vector_store.embedder,
        )
        for path in folder_files(paths)
    ]
    if on_total is not None:
        on_total(sum(len(document.chunks) for document in prepared))
    return await ingest_documents(
        prepared,
        company_id=company_id,
        session=session,
        vector_store=vector_store,
        upload_dir=settings.upload_dir,
        on_progress=on_progress,
    )
