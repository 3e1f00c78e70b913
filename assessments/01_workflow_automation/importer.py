"""Reading a CSV of leads: encoding and shape checks, header mapping, one lead per row.

Headers are matched case-insensitively, ignoring spaces, `_`, `-` and `.`,
against the aliases in `FIELD_ALIASES` ("Full Name", "E-mail", "phone_number"
…). A "first name" and a "last name" column are joined into `name` when there
is no name column. Only `message` is required; other columns are ignored and
reported. Rows are validated like `POST /leads` bodies; a row's problems are
reported with its row number and never stop the other rows.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from pydantic import ValidationError

from core.exceptions import PayloadTooLargeException, ValidationException

from .schemas import LeadCreate

MAX_IMPORT_ROWS = 1000
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("name", "full name", "fullname", "contact name", "contact", "lead name", "your name"),
    "first_name": ("first name", "firstname", "given name", "forename"),
    "last_name": ("last name", "lastname", "surname", "family name"),
    "email": ("email", "e-mail", "email address", "e-mail address", "mail", "work email"),
    "phone": (
        "phone",
        "phone number",
        "telephone",
        "telephone number",
        "tel",
        "mobile",
        "mobile phone",
        "cell",
        "cell phone",
    ),
    "message": (
        "message",
        "msg",
        "inquiry",
        "enquiry",
        "body",
        "text",
        "comment",
        "comments",
        "notes",
        "description",
        "request",
    ),
    "source": ("source", "lead source", "channel", "origin"),
}
_DELIMITERS = (",", ";", "\t", "|")


def _header_key(header: str) -> str:
    return " ".join(re.sub(r"[_\-.]+", " ", header.strip().lower()).split())


_ALIAS_TO_FIELD = {
    _header_key(alias): field for field, aliases in FIELD_ALIASES.items() for alias in aliases
}


@dataclass
class CsvRow:
    number: int
    lead: LeadCreate | None = None
    errors: list[str] = field(default_factory=list)


@dataclass
class ParsedCsv:
    columns: dict[str, str]
    ignored_columns: list[str]
    rows: list[CsvRow]


def parse_leads_csv(content: bytes, *, max_rows: int = MAX_IMPORT_ROWS) -> ParsedCsv:
    """Check and read an uploaded file; raises a 4xx exception when it is not a usable CSV."""
    text = _decode(content)
    lines = text.splitlines()
    delimiter = max(_DELIMITERS, key=lines[0].count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
        columns, ignored = map_headers(header)
        rows = []
        for number, values in enumerate(reader, start=2):
            if not any(value.strip() for value in values):
                continue
            if len(rows) == max_rows:
                raise PayloadTooLargeException(
                    f"An import holds at most {max_rows} rows", code="too_many_rows"
                )
            rows.append(_read_row(number, values, header, columns))
    except csv.Error as exc:
        raise ValidationException(f"The file is not valid CSV: {exc}", code="invalid_csv") from None
    if not rows:
        raise ValidationException("The CSV has a header but no rows", code="empty_file")
    return ParsedCsv(columns=columns, ignored_columns=ignored, rows=rows)


def _decode(content: bytes) -> str:
    if not content.strip():
        raise ValidationException("The file is empty", code="empty_file")
    if b"\x00" in content:
        raise ValidationException("The file is binary, not a CSV text file", code="invalid_csv")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationException(
            f"The file is not UTF-8 text (invalid byte at position {exc.start}); "
            "save it as CSV UTF-8 and upload it again",
            code="invalid_encoding",
        ) from None
    if not text.strip():
        raise ValidationException("The file is empty", code="empty_file")
    return text


def map_headers(header: list[str]) -> tuple[dict[str, str], list[str]]:
    """CSV header → lead field for the columns that are used, and the ignored headers."""
    columns: dict[str, str] = {}
    ignored: list[str] = []
    for name in header:
        target = _ALIAS_TO_FIELD.get(_header_key(name))
        if target is None or target in columns.values():
            ignored.append(name)
        else:
            columns[name] = target
    if "message" not in columns.values():
        found = ", ".join(repr(name) for name in header) or "none"
        raise ValidationException(
            f"The CSV needs a message column (message, inquiry, body, text, …); found {found}",
            code="missing_message_column",
        )
    return columns, ignored


def _read_row(number: int, values: list[str], header: list[str], columns: dict[str, str]) -> CsvRow:
    if len(values) > len(header):
        problem = f"the row has {len(values)} values but the header has {len(header)} columns"
        return CsvRow(number=number, errors=[problem])
    record: dict[str, str] = {}
    for name, value in zip(header, values, strict=False):
        if name in columns and value.strip():
            record[columns[name]] = value
    first, last = record.pop("first_name", ""), record.pop("last_name", "")
    if "name" not in record and (first or last):
        record["name"] = f"{first.strip()} {last.strip()}".strip()
    if "message" not in record:
        return CsvRow(number=number, errors=["message: the message is empty"])
    try:
        return CsvRow(number=number, lead=LeadCreate.model_validate(record))
    except ValidationError as exc:
        return CsvRow(number=number, errors=describe_errors(exc))


def describe_errors(exc: ValidationError) -> list[str]:
    """Pydantic errors as short sentences: "message: String should have at most 10000 …"."""
    described = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"]) or "item"
        message = error["msg"].removeprefix("Value error, ")
        described.append(f"{where}: {message}")
    return described
