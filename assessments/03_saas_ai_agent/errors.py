"""Turning a pydantic ValidationError into the JSON-safe `details` of a 422."""

from __future__ import annotations

from pydantic import ValidationError


def validation_details(exc: ValidationError) -> list[dict[str, object]]:
    return [
        {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False, include_input=False)
    ]
