"""Reading an uploaded file: a safe name, a supported type, and its text (TXT, Markdown, PDF).

Every failure is a 4xx with its own code (`unsupported_media_type`, `empty_document`,
`unreadable_text`, `encrypted_pdf`, `corrupt_pdf`, `no_text`), never a 500.
"""

from __future__ import annotations

import io
import re
import unicodedata
from pathlib import PurePath

from pypdf import PdfReader

from core.exceptions import AppException, ValidationException

SUPPORTED_SUFFIXES = (".txt", ".md", ".pdf")

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class UnsupportedFileType(AppException):
    status_code = 415
    code = "unsupported_media_type"


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
