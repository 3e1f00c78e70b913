"""Many leads at once: a JSON batch or a parsed CSV import.

Each item runs the same pipeline as `POST /leads` (`services.process_lead`) on its own:
a bad item is reported and the rest go on. Duplicates (normalised email or E.164 phone)
are found within the request and among stored leads; one audit entry covers the whole
batch or import, with its counts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import structlog
from pydantic import ValidationError
from sqlmodel import Session, col, or_, select

from core.config import Settings
from core.exceptions import PayloadTooLargeException
from core.llm_client import LLMClient

from .audit import AuditTrail
from .config import WorkflowSettings
from .importer import ParsedCsv, describe_errors
from .models import Lead
from .schemas import (
    BatchItemResult,
    BatchResult,
    ImportResult,
    ImportRowResult,
    ItemResult,
    LeadCreate,
)
from .services import persist_lead, process_lead

MAX_BATCH_ITEMS = 500
log = structlog.get_logger(__name__)


async def create_batch(
    *,
    session: Session,
    items: Sequence[Any],
    llm: LLMClient | None,
    settings: Settings,
    workflow: WorkflowSettings,
    request_id: str,
) -> BatchResult:
    """Validate and process each item on its own; duplicates and bad items are reported."""
    if len(items) > MAX_BATCH_ITEMS:
        raise PayloadTooLargeException(
            f"A batch holds at most {MAX_BATCH_ITEMS} leads; this one has {len(items)}"
        )
    candidates = [(index, _validate_item(item)) for index, item in enumerate(items)]
    results = await _create_many(
        session,
        candidates,
        llm=llm,
        settings=settings,
        workflow=workflow,
        request_id=request_id,
    )
    batch = BatchResult(
        total=len(results),
        results=[BatchItemResult(index=index, **item.model_dump()) for index, item in results],
        **_counts(item for _, item in results),
    )
    _audit_bulk(
        session,
        step="batch",
        request_id=request_id,
        input={"items": len(items)},
        output=batch.model_dump(include={"total", "created", "duplicates", "failed"}),
    )
    return batch


async def import_csv(
    *,
    session: Session,
    parsed: ParsedCsv,
    filename: str | None,
    size_bytes: int,
    llm: LLMClient | None,
    settings: Settings,
    workflow: WorkflowSettings,
    request_id: str,
) -> ImportResult:
    """Process every row of a parsed CSV; one audit entry for the whole import, with counts."""
    candidates = [
        (row.number, row.lead if row.lead is not None else row.errors) for row in parsed.rows
    ]
    results = await _create_many(
        session,
        candidates,
        llm=llm,
        settings=settings,
        workflow=workflow,
        request_id=request_id,
    )
    result = ImportResult(
        import_id=uuid.uuid4().hex,
        filename=filename,
        total=len(results),
        columns=parsed.columns,
        ignored_columns=parsed.ignored_columns,
        rows=[ImportRowResult(row=number, **item.model_dump()) for number, item in results],
        **_counts(item for _, item in results),
    )
    _audit_bulk(
        session,
        step="import",
        request_id=request_id,
        input={"filename": filename, "size_bytes": size_bytes, "columns": parsed.columns},
        output={
            "import_id": result.import_id,
            **result.model_dump(include={"total", "created", "duplicates", "failed"}),
        },
    )
    return result


def _validate_item(item: Any) -> LeadCreate | list[str]:
    try:
        return LeadCreate.model_validate(item)
    except ValidationError as exc:
        return describe_errors(exc)


async def _create_many(
    session: Session,
    candidates: Iterable[tuple[int, LeadCreate | list[str]]],
    *,
    llm: LLMClient | None,
    settings: Settings,
    workflow: WorkflowSettings,
    request_id: str,
) -> list[tuple[int, ItemResult]]:
    results: list[tuple[int, ItemResult]] = []
    created_by_key: dict[str, str] = {}
    for position, candidate in candidates:
        if isinstance(candidate, list):
            results.append((position, ItemResult(status="failed", errors=candidate)))
            continue
        try:
            processed = await process_lead(
                candidate, llm=llm, settings=settings, workflow=workflow, request_id=request_id
            )
            keys = duplicate_keys(processed.row)
            earlier = next((created_by_key[key] for key in keys if key in created_by_key), None)
            duplicate_of = earlier or find_stored_duplicate(session, processed.row)
            if duplicate_of is not None:
                session.rollback()  # end the read: no connection held across the next LLM call
                results.append(
                    (position, ItemResult(status="duplicate", duplicate_of=duplicate_of))
                )
                continue
            lead = persist_lead(session, processed)
        except Exception:
            # One broken item must not sink the others; it is reported and logged.
            session.rollback()
            log.exception("bulk_item_failed", position=position)
            failure = ItemResult(status="failed", errors=["internal error while processing"])
            results.append((position, failure))
            continue
        created_by_key.update(dict.fromkeys(keys, lead.id))
        results.append((position, ItemResult(status="created", lead=lead)))
    return results


def duplicate_keys(row: Mapping[str, Any]) -> list[str]:
    """A lead's identity for duplicate detection: its normalised email and E.164 phone."""
    keys = []
    if row["email"]:
        keys.append(f"email:{row['email']}")
    if row["phone"]:
        keys.append(f"phone:{row['phone']}")
    return keys


def find_stored_duplicate(session: Session, row: Mapping[str, Any]) -> str | None:
    conditions = []
    if row["email"]:
        conditions.append(col(Lead.email) == row["email"])
    if row["phone"]:
        conditions.append(col(Lead.phone) == row["phone"])
    if not conditions:
        return None
    return session.exec(select(Lead.id).where(or_(*conditions)).limit(1)).first()


def _counts(items: Iterable[ItemResult]) -> dict[str, int]:
    statuses = [item.status for item in items]
    return {
        "created": statuses.count("created"),
        "duplicates": statuses.count("duplicate"),
        "failed": statuses.count("failed"),
    }


def _audit_bulk(session: Session, *, step: str, request_id: str, input: dict, output: dict) -> None:
    trail = AuditTrail(request_id)
    with trail.step(step, **input) as record:
        record.output = output
    trail.save(session, lead_id=None)
    session.commit()
