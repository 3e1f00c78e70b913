"""Ingestion: company files → text → token-sized chunks → vectors, one index per company.

`prepare_upload` validates and reads one file and chunks it without touching
any store, so a bad file is refused before anything changes. `ingest_documents`
then writes each document: unchanged content (same SHA-256) is skipped, a
source uploaded again replaces its chunks, and a new one is added.

Chunk sizes are counted in tokens of the active embedding model, never more
than it reads (see `chunk_sizes`). Run as a script to ingest a folder:

    .venv/bin/python assessments/02_rag_chatbot/ingest.py \
        --company acme-corp data/companies/acme-corp
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a file path (a package named "02_…" cannot be `python -m`'d).
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    __package__ = "assessments.02_rag_chatbot"

import argparse
import asyncio
import hashlib
import io
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Literal

import structlog
from langchain_text_splitters import RecursiveCharacterTextSplitter
from pypdf import PdfReader
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from core.config import PROJECT_ROOT, Settings
from core.embedding_client import EmbeddingClient
from core.exceptions import (
    AppException,
    ConflictException,
    PayloadTooLargeException,
    ValidationException,
)
from core.vector_store import COMPANY_ID_PATTERN, VectorStoreBackend, create_vector_store

from .models import Company, Document

log = structlog.get_logger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".pdf")
SAMPLE_COMPANIES_DIR = PROJECT_ROOT / "data" / "companies"

# (chunk size, overlap) in tokens of the embedding model, when settings leave them unset.
# OpenAI: the seed's 800/120. Local all-MiniLM-L6-v2 reads at most 256 tokens and was
# trained on pairs of up to 128: 128-token chunks score short questions higher than 200-
# or 256-token ones, so fewer answerable questions fall under the 0.45 threshold (README).
DEFAULT_CHUNK_TOKENS: dict[str, tuple[int, int]] = {"openai": (800, 120), "local": (128, 24)}

# Split at paragraph, line, sentence and clause boundaries before words and characters.
_SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""]
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{2,}")

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


@dataclass(frozen=True)
class IngestResult:
    document: Document
    status: IngestStatus


class UnsupportedFileType(AppException):
    status_code = 415
    code = "unsupported_media_type"


class UploadsBusy(AppException):
    status_code = 503
    code = "uploads_busy"


class UploadSlots:
    """The uploads one process ingests at once (`MAX_UPLOADS_IN_FLIGHT`).

    One more is refused at once with 503 and `Retry-After` rather than queued: embedding is
    CPU-bound, so a queue in the server only makes every upload in it slower and leaves the
    client no say. Taken and given back on the event loop only, so a plain counter is safe.
    """

    RETRY_AFTER_SECONDS = 5

    def __init__(self, size: int) -> None:
        self.size = size
        self.in_use = 0

    @contextmanager
    def hold(self) -> Iterator[None]:
        if self.in_use >= self.size:
            raise UploadsBusy(
                f"{self.size} uploads are being ingested; retry in {self.RETRY_AFTER_SECONDS} s",
                headers={"Retry-After": str(self.RETRY_AFTER_SECONDS)},
            )
        self.in_use += 1
        try:
            yield
        finally:
            self.in_use -= 1


# ---------------------------------------------------------------- reading files


def sanitise_filename(filename: str) -> str:
    """A safe, flat file name: no directories, only letters, digits, '.', '_' and '-'."""
    name = PurePath(filename.replace("\\", "/")).name
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    stem = _SAFE_NAME.sub("_", stem).strip("._-")
    suffix = _SAFE_NAME.sub("", suffix).lower()
    if not stem:
        raise ValidationException(
            f"'{filename}' is not a usable file name", code="invalid_filename"
        )
    return f"{stem[:100]}.{suffix}" if suffix else stem[:100]


def check_supported(source: str) -> str:
    """The file's suffix, or a 415 when it is not .txt, .md or .pdf."""
    suffix = PurePath(source).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedFileType(
            f"'{source}': only {', '.join(SUPPORTED_SUFFIXES)} files are supported"
        )
    return suffix


def extract_text(source: str, data: bytes) -> str:
    """The text of a .txt, .md or .pdf file, or a 4xx saying why there is none."""
    suffix = check_supported(source)
    if not data.strip():
        raise ValidationException(f"'{source}' is empty", code="empty_document")
    text = _pdf_text(source, data) if suffix == ".pdf" else _plain_text(source, data)
    text = _normalise(text)
    if not text:
        hint = " (a scanned or image-only PDF? OCR is not supported)" if suffix == ".pdf" else ""
        raise ValidationException(f"'{source}' contains no text{hint}", code="no_text")
    return text


def _plain_text(source: str, data: bytes) -> str:
    if b"\x00" in data:
        raise ValidationException(f"'{source}' looks like a binary file", code="unreadable_text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationException(
            f"'{source}' is not UTF-8 text; save it as UTF-8 and upload it again",
            code="unreadable_text",
        ) from None


def _pdf_text(source: str, data: bytes) -> str:
    try:
        reader = PdfReader(io.BytesIO(data))
        # Owner-password-only PDFs open with an empty user password.
        if reader.is_encrypted and not _opens_without_password(reader):
            raise ValidationException(
                f"'{source}' is an encrypted PDF; remove its password and upload it again",
                code="encrypted_pdf",
            )
        pages = [page.extract_text() or "" for page in reader.pages]
    except AppException:
        raise
    except Exception:  # pypdf raises many types on malformed input
        raise ValidationException(
            f"'{source}' is not a readable PDF (damaged or not a PDF)", code="corrupt_pdf"
        ) from None
    return "\n\n".join(_reflow_pdf_page(page) for page in pages)


def _opens_without_password(reader: PdfReader) -> bool:
    try:
        return bool(reader.decrypt(""))
    except Exception:  # AES needs the optional `cryptography` package
        return False


def _reflow_pdf_page(text: str) -> str:
    """Join the hard-wrapped lines of a PDF page back into paragraphs.

    A line that ends a sentence, or is much shorter than the page's longest line
    (a heading, a paragraph's last line), ends its paragraph.
    """
    lines = [line.strip() for line in text.splitlines()]
    width = max((len(line) for line in lines), default=0)
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        if line:
            current.append(line)
        if current and (not line or line.endswith((".", "!", "?", ":")) or len(line) < width * 0.6):
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return "\n".join(paragraphs)


def _normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# ---------------------------------------------------------------- chunking


def chunk_sizes(settings: Settings, embedder: EmbeddingClient) -> tuple[int, int]:
    """(size, overlap) in the embedder's tokens: settings, else the model's default."""
    default_size, default_overlap = DEFAULT_CHUNK_TOKENS.get(
        embedder.provider, DEFAULT_CHUNK_TOKENS["local"]
    )
    size = min(settings.CHUNK_SIZE_TOKENS or default_size, _content_limit(embedder))
    overlap = settings.CHUNK_OVERLAP_TOKENS
    overlap = default_overlap if overlap is None else overlap
    return size, min(overlap, size // 2)


def chunk_text(text: str, *, embedder: EmbeddingClient, size: int, overlap: int) -> list[str]:
    """Split `text` into chunks of at most `size` tokens (and never more than the model reads)."""
    special = embedder.count_tokens("")

    def tokens(piece: str) -> int:
        # Without the [CLS]/[SEP] every count includes: pieces are counted, then joined.
        return embedder.count_tokens(piece) - special

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=size,
        chunk_overlap=overlap,
        length_function=tokens,
        separators=_SEPARATORS,
        keep_separator="end",
    )
    chunks: list[str] = []
    for chunk in _with_table_headers(splitter.split_text(text), text):
        if embedder.count_tokens(chunk) <= embedder.max_input_tokens:
            chunks.append(chunk)
        else:  # joining pieces can add a token or two: split that chunk once more
            chunks.extend(
                chunk_text(chunk, embedder=embedder, size=max(16, size * 3 // 4), overlap=0)
            )
    return chunks


def _with_table_headers(chunks: list[str], text: str) -> list[str]:
    """Repeat a Markdown table's header above rows that a split separated from it.

    "| Starter | $49 per month |" means little without "| Plan | Monthly price |".
    """
    lines = text.split("\n")
    headers: dict[str, str] = {}  # table row -> its table's header and rule
    for i in range(1, len(lines)):
        if _TABLE_RULE.match(lines[i]) and lines[i - 1].startswith("|"):
            header = f"{lines[i - 1]}\n{lines[i]}"
            for row in lines[i + 1 :]:
                if not row.startswith("|"):
                    break
                headers[row] = header
    if not headers:
        return chunks
    result = []
    for chunk in chunks:
        first_row = next((line for line in chunk.split("\n") if line.startswith("|")), None)
        header = headers.get(first_row or "")
        if header and header not in chunk:
            before, _, after = chunk.partition(first_row or "")
            chunk = f"{before}{header}\n{first_row}{after}"
        result.append(chunk)
    return result


def _content_limit(embedder: EmbeddingClient) -> int:
    return embedder.max_input_tokens - embedder.count_tokens("")


def prepare_upload(
    filename: str, data: bytes, *, settings: Settings, embedder: EmbeddingClient
) -> PreparedDocument:
    """Validate, read and chunk one file. Raises a 4xx `AppException` for a bad file."""
    source = sanitise_filename(filename)
    if len(data) > settings.MAX_UPLOAD_BYTES:
        raise PayloadTooLargeException(
            f"'{source}' is {len(data)} bytes; the limit is {settings.MAX_UPLOAD_BYTES}"
        )
    text = extract_text(source, data)
    size, overlap = chunk_sizes(settings, embedder)
    return PreparedDocument(
        source=source,
        data=data,
        chunks=chunk_text(text, embedder=embedder, size=size, overlap=overlap),
    )


# ---------------------------------------------------------------- storing


def ensure_company(session: Session, company_id: str, *, name: str | None = None) -> Company:
    """The company, created on first use (its id must be a slug like `acme-corp`)."""
    if not COMPANY_ID_PATTERN.fullmatch(company_id):
        raise ValidationException(
            "company_id must be 1-63 lowercase letters, digits, '-' or '_' "
            "(for example 'acme-corp')",
            code="invalid_company_id",
        )
    company = session.get(Company, company_id)
    if company is None:
        company = Company(id=company_id, name=name or _display_name(company_id))
        session.add(company)
        session.commit()
        session.refresh(company)
    return company


async def ingest_documents(
    documents: Sequence[PreparedDocument],
    *,
    company_id: str,
    session: Session,
    vector_store: VectorStoreBackend,
    upload_dir: Path,
    on_progress: ProgressCallback | None = None,
) -> list[IngestResult]:
    """Store prepared documents for a company (which must exist), one after another."""
    return [
        await _ingest_one(
            document,
            company_id=company_id,
            session=session,
            vector_store=vector_store,
            upload_dir=upload_dir,
            on_progress=on_progress,
        )
        for document in documents
    ]


async def _ingest_one(
    prepared: PreparedDocument,
    *,
    company_id: str,
    session: Session,
    vector_store: VectorStoreBackend,
    upload_dir: Path,
    on_progress: ProgressCallback | None,
) -> IngestResult:
    existing = session.exec(
        select(Document).where(
            Document.company_id == company_id, Document.source == prepared.source
        )
    ).first()
    if existing is not None and existing.content_hash == prepared.content_hash:
        if on_progress is not None:
            on_progress(len(prepared.chunks))
        return IngestResult(existing, "unchanged")

    status: IngestStatus = "replaced" if existing else "created"
    document = existing or Document(
        company_id=company_id, source=prepared.source, content_hash="", chunks=0, bytes=0
    )
    metadata = [
        {"document_id": document.id, "source": prepared.source, "chunk_index": index}
        for index in range(len(prepared.chunks))
    ]
    # End the read transaction: its pooled connection would otherwise wait out the embedding
    # (seconds per document), and 20 uploads at once ran the pool dry (500s after 30 s).
    session.commit()
    # The vector store embeds first and swaps chunks atomically: a failure changes nothing.
    await vector_store.replace_document(
        document_id=document.id,
        documents=prepared.chunks,
        company_id=company_id,
        metadata=metadata,
        on_progress=on_progress,
    )
    document.content_hash = prepared.content_hash
    document.chunks = len(prepared.chunks)
    document.bytes = len(prepared.data)
    document.updated_at = datetime.now(UTC)
    session.add(document)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        if existing is None:
            vector_store.delete_document(document.id, company_id=company_id)
        raise ConflictException(
            f"'{prepared.source}' was uploaded concurrently by another request; retry"
        ) from None
    session.refresh(document)
    keep_upload(upload_dir / company_id / prepared.source, prepared.data)
    log.info(
        "document_ingested",
        company_id=company_id,
        source=prepared.source,
        chunks=document.chunks,
        status=status,
    )
    return IngestResult(document, status)


def keep_upload(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def remove_upload(upload_dir: Path, company_id: str, source: str) -> None:
    (upload_dir / company_id / source).unlink(missing_ok=True)


def _display_name(company_id: str) -> str:
    return " ".join(part.capitalize() for part in re.split(r"[-_]", company_id) if part)


# ---------------------------------------------------------------- folders and the CLI


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
    vector_store: VectorStoreBackend,
    company_name: str | None = None,
    on_progress: ProgressCallback | None = None,
    on_total: Callable[[int], None] | None = None,
) -> list[IngestResult]:
    """Ingest files and folders for a company, creating it if needed."""
    ensure_company(session, company_id, name=company_name)
    prepared = [
        prepare_upload(
            path.name, path.read_bytes(), settings=settings, embedder=vector_store.embedder
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


async def load_sample_companies(
    *,
    session: Session,
    settings: Settings,
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
                vector_store=vector_store,
            )
        except AppException as exc:  # one bad sample folder must not stop the app
            session.rollback()
            log.error("sample_data_failed", company_id=company_id, error=exc.message)
            continue
        log.info("sample_data_loaded", company_id=company_id, documents=len(results))


async def _cli(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from core.config import get_settings
    from core.database import create_db_engine, init_db
    from core.embedding_client import create_embedding_client

    settings = get_settings()
    engine = create_db_engine(settings.database_url)
    init_db(engine)
    embedder = create_embedding_client(settings)
    store = create_vector_store(settings, engine=engine, embedder=embedder)
    with Session(engine) as session, tqdm(unit="chunk", desc=args.company) as bar:
        results = await ingest_paths(
            args.paths,
            company_id=args.company,
            session=session,
            settings=settings,
            vector_store=store,
            company_name=args.name,
            on_progress=bar.update,
            on_total=lambda total: setattr(bar, "total", total),
        )
    for result in results:
        print(f"{result.status:>9}  {result.document.source}  ({result.document.chunks} chunks)")
    print(f"{args.company}: {store.count(args.company)} chunks indexed with {embedder.model}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Ingest .txt/.md/.pdf files for one company.")
    parser.add_argument("--company", required=True, help="company id (slug), e.g. acme-corp")
    parser.add_argument("--name", help="display name when the company is new")
    parser.add_argument("paths", nargs="+", type=Path, help="files or folders")
    args = parser.parse_args(argv)
    try:
        return asyncio.run(_cli(args))
    except AppException as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
