"""Structured output on OpenAI-compatible servers: the two modes, refusals, parsing, re-asks.

Servers differ in the `response_format` they take. OpenAI and recent vLLM take
`json_schema` (the schema travels with the request); llama-cpp-python's server,
Ollama's older versions and many proxies take only `json_object` (JSON mode: the
schema has to travel in the prompt). A server that does not take `json_schema`
says so in whatever shape its framework produces: a 400, a 422, or a 500 from a
request model that failed to validate — llama-cpp-python answers HTTP 500 with
`Input should be 'text' or 'json_object'`. `is_response_format_refusal` knows
them all, so the client can switch modes at once instead of retrying a request
that will never succeed; `StructuredOutputMemory` remembers the switch per
server for the life of the process.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal, TypeVar

import openai
from pydantic import BaseModel, ValidationError

StructuredOutput = Literal["json_schema", "json_object"]
BaseModelT = TypeVar("BaseModelT", bound=BaseModel)

_REFUSAL_WORDS = ("response_format", "json_schema", "json_object")
_CODE_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)
# Enough of an invalid answer to see what went wrong, not a whole runaway generation.
MAX_RAW_IN_ATTEMPT = 2000
REASK_PROMPT = (
    "Your previous reply did not match the required JSON schema. "
    "The validation errors were: {error}\n"
    "Reply again with the corrected JSON object only, no prose and no code fences."
)


class StructuredOutputMemory:
    """The servers (by base URL) that refused `json_schema`, for the life of the process.

    Shared by every client of the same server, so only the first call after a
    start pays for the refused request.
    """

    def __init__(self) -> None:
        self._json_object_only: set[str] = set()

    def mode_for(self, base_url: str, configured: StructuredOutput) -> StructuredOutput:
        if configured == "json_schema" and base_url in self._json_object_only:
            return "json_object"
        return configured

    def remember_json_object_only(self, base_url: str) -> None:
        self._json_object_only.add(base_url)

    def clear(self) -> None:
        self._json_object_only.clear()


STRUCTURED_OUTPUT_MEMORY = StructuredOutputMemory()


def is_response_format_refusal(exc: BaseException) -> bool:
    """A server's "I do not take this response_format", in any of the shapes servers use."""
    if not isinstance(exc, openai.APIStatusError):
        return False
    if exc.status_code not in (400, 422) and exc.status_code < 500:
        return False
    text = f"{exc.message} {exc.body}".lower()
    return any(word in text for word in _REFUSAL_WORDS)


def json_schema_format(schema: type[BaseModel]) -> dict[str, Any]:
    name = re.sub(r"[^a-zA-Z0-9_-]", "_", schema.__name__)[:64]
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": schema.model_json_schema(), "strict": False},
    }


def with_schema_instructions(message: dict[str, str], schema: type[BaseModel]) -> dict[str, str]:
    # JSON mode does not carry the schema (and OpenAI requires the word "JSON" in the prompt).
    schema_json = json.dumps(schema.model_json_schema())
    instructions = f"\n\nRespond with one JSON object that matches this JSON schema:\n{schema_json}"
    return {**message, "content": message["content"] + instructions}


def parse(raw: str, schema: type[BaseModelT]) -> BaseModelT:
    """`raw` validated into `schema`; code fences and prose around the object are ignored.

    Small models in JSON mode without a grammar often write "Here is the JSON: {...}".
    """
    text = raw.strip()
    if fenced := _CODE_FENCE.match(text):
        text = fenced.group(1)
    try:
        return schema.model_validate_json(text)
    except ValidationError:
        start, end = text.find("{"), text.rfind("}")
        inner = text[start : end + 1] if 0 <= start < end else text
        if inner == text:
            raise
        return schema.model_validate_json(inner)


def validation_brief(error: ValidationError) -> str:
    """The Pydantic errors as the model can act on them: `field: message; ...`."""
    problems = [
        f"{'.'.join(str(p) for p in err['loc']) or 'document'}: {err['msg']}"
        for err in error.errors(include_url=False, include_input=False)
    ]
    return "; ".join(problems[:10])
