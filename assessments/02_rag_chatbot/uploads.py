"""Uploaded files: how many one process ingests at once, and the copy kept on disk.

A stored document's bytes are kept at `UPLOAD_DIR/<company>/<source>`, written atomically
and removed with the document.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.exceptions import AppException


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


def keep_upload(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def remove_upload(upload_dir: Path, company_id: str, source: str) -> None:
    (upload_dir / company_id / source).unlink(missing_ok=True)
