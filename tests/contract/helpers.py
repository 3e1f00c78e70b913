"""Helpers for black-box contract tests: one HTTP client, assertions, and test data made
through the API.

Nothing here imports the implementation: every helper speaks HTTP to the server under test,
so a grader can reuse them in hidden tests (`from tests.contract.helpers import ...`).

    api = <the `api` fixture>
    lead = create_lead(api, message="Quote for 300 seats, budget $50k")
    doc = upload_document(api, "my-company", "facts.txt", "Zephyr Labs was founded in 1987.")
    tenant = create_tenant(api)                       # a fresh tenant and its admin's token
    contact = create_contact(api, tenant, name="Ada")
    send_webhook(api, tenant, contact["id"])          # signed with the tenant's whsec_ secret
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import httpx
import pytest

A1 = "/api/01-workflow"
A2 = "/api/02-rag"
A3 = "/api/03-saas"
SAMPLE_COMPANY = "acme-corp"
INTENTS = ("Sales", "Support", "Partnership")
CONFIDENCE_THRESHOLD = 0.7
TOKEN_LIFETIME_SECONDS = 8 * 60 * 60

NUMBER = (int, float)
OPTIONAL_NUMBER = (int, float, type(None))
OPTIONAL_STR = (str, type(None))

T = TypeVar("T")


def fail(message: str) -> NoReturn:
    """Fail the test with `message` only: no traceback of the helper or the HTTP client."""
    __tracebackhide__ = True
    pytest.fail(message, pytrace=False)


class Api:
    """An HTTP client bound to the server under test.

    `api.post(path, json=..., token=...)` adds the bearer token; a server that does not
    answer fails the test with the method and URL, never a traceback of the client.
    """

    def __init__(self, client: httpx.Client, base_url: str, *, in_process: bool) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.in_process = in_process

    def request(
        self, method: str, path: str, *, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            return self.client.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            error = f"{type(exc).__name__}: {exc}"
        fail(f"{method} {self.base_url}{path}: the server did not answer ({error})")

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


# --- assertions -------------------------------------------------------------------------


def describe(response: httpx.Response, limit: int = 300) -> str:
    """`404 {"error": ...}`: the status and the start of the body, for failure messages."""
    text = response.text.strip().replace("\n", " ")
    if len(text) > limit:
        text = text[:limit] + "…"
    return f"{response.status_code} {text}" if text else str(response.status_code)


def _where(response: httpx.Response) -> str:
    request = response.request
    target = request.url.path + (f"?{request.url.query.decode()}" if request.url.query else "")
    return f"{request.method} {target}"


def body_of(response: httpx.Response) -> Any:
    """The JSON body, or a test failure naming the endpoint when it is not JSON."""
    __tracebackhide__ = True
    try:
        return response.json()
    except ValueError:
        pass
    fail(f"{_where(response)}: expected a JSON body, got {describe(response)}")


def _type_name(expected: type | tuple[type, ...]) -> str:
    types = expected if isinstance(expected, tuple) else (expected,)
    return " | ".join("null" if t is type(None) else t.__name__ for t in types)


def _matches(value: Any, expected: type | tuple[type, ...]) -> bool:
    types = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types)


def expect(
    response: httpx.Response,
    status: int | Iterable[int],
    fields: Mapping[str, type | tuple[type, ...]] | Iterable[str] | None = None,
) -> Any:
    """Assert the status and that the JSON object has `fields` (of the given types); return it.

    `expect(r, 201, {"id": str, "confidence": NUMBER})` fails with
    `POST /api/01-workflow/leads: expected 201 with fields {...}, got 404 {...}`.
    """
    __tracebackhide__ = True
    statuses = (status,) if isinstance(status, int) else tuple(status)
    wanted = dict(fields) if isinstance(fields, Mapping) else {f: object for f in fields or ()}
    shown = "|".join(str(s) for s in statuses)
    spec = f" with fields {sorted(wanted)}" if wanted else ""
    if response.status_code not in statuses:
        fail(f"{_where(response)}: expected {shown}{spec}, got {describe(response)}")
    if not wanted:
        is_json = "json" in response.headers.get("content-type", "")
        return body_of(response) if is_json and response.content else None
    body = body_of(response)
    if not isinstance(body, dict):
        fail(f"{_where(response)}: expected a JSON object{spec}, got {describe(response)}")
    problems = []
    for name, expected in wanted.items():
        if name not in body:
            problems.append(f"missing {name!r}")
        elif expected is not object and not _matches(body[name], expected):
            problems.append(f"{name!r} is {body[name]!r}, expected {_type_name(expected)}")
    if problems:
        fail(f"{_where(response)}: {'; '.join(problems)} in {describe(response)}")
    return body


ERROR_STATUSES_4XX = tuple(range(400, 500))


def expect_error(
    response: httpx.Response, status: int | Iterable[int] = ERROR_STATUSES_4XX
) -> dict:
    """Assert an error status and the SPEC §4 error shape; return the `error` object.

    The shape is `{"error": {"code": str, "message": str, "request_id": str}}` and the
    `request_id` is the response's `X-Request-ID`.
    """
    __tracebackhide__ = True
    statuses = (status,) if isinstance(status, int) else tuple(status)
    shown = "a 4xx" if statuses == ERROR_STATUSES_4XX else "|".join(str(s) for s in statuses)
    if response.status_code not in statuses:
        fail(f"{_where(response)}: expected {shown} error, got {describe(response)}")
    body = body_of(response)
    error = body.get("error") if isinstance(body, dict) else None
    fields = {"code": str, "message": str, "request_id": str}
    if not isinstance(error, dict) or any(not _matches(error.get(k), t) for k, t in fields.items()):
        fail(
            f"{_where(response)}: expected the error shape "
            f'{{"error": {{"code": str, "message": str, "request_id": str}}}}, '
            f"got {describe(response)}"
        )
    header = response.headers.get("x-request-id")
    if header != error["request_id"]:
        fail(
            f"{_where(response)}: error.request_id {error['request_id']!r} differs from the "
            f"X-Request-ID header {header!r}"
        )
    return error


def expect_not_server_error(response: httpx.Response) -> None:
    """Bad input may be refused any way the contract allows, but never with a 5xx."""
    __tracebackhide__ = True
    if response.status_code >= 500:
        fail(f"{_where(response)}: expected no 5xx, got {describe(response)}")


LIST_KEYS = (
    "data",
    "items",
    "results",
    "rows",
    "leads",
    "documents",
    "messages",
    "events",
    "entries",
)


def items_of(body: Any) -> list:
    """The items of a list response: a bare JSON list, or the list under `data` (or a
    similarly named key) of an object, as in `{"data": [...], "count": n}`."""
    __tracebackhide__ = True
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in LIST_KEYS:
            if isinstance(body.get(key), list):
                return body[key]
    fail(f"expected a JSON list (or an object with a `data` list), got {body!r:.300}")


def row_outcome(row: Any) -> str:
    """`duplicate`, `error` or `ok`: what a per-row result of a batch or import says."""
    if not isinstance(row, dict):
        return "ok"
    status = str(row.get("status") or row.get("result") or "").lower()
    if "dup" in status or row.get("duplicate") is True or row.get("duplicate_of"):
        return "duplicate"
    failed = ("error", "fail", "invalid", "reject", "skip")
    if any(word in status for word in failed) or row.get("error") or row.get("errors"):
        return "error"
    return "ok"


def wait_for(check: Callable[[], T], *, timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout` s."""
    __tracebackhide__ = True
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def unique_email(prefix: str = "contract") -> str:
    return f"{unique(prefix)}@example.com"


# --- assessment 1: leads ------------------------------------------------------------------


LEAD_FIELDS = {
    "id": (str, int),
    "request_id": str,
    "intent": str,
    "confidence": NUMBER,
    "low_confidence": bool,
    "fields": dict,
    "extraction_method": str,
    "provider": str,
    "processed_at": str,
}


def create_lead(api: Api, *, headers: Mapping[str, str] | None = None, **fields: Any) -> dict:
    """POST /api/01-workflow/leads with `fields` (message required); the 201 body."""
    __tracebackhide__ = True
    fields.setdefault("message", "Could you send pricing for 40 seats? Budget is about $20k.")
    response = api.post(f"{A1}/leads", json=fields, headers=headers)
    return expect(response, 201, LEAD_FIELDS)


# --- assessment 2: documents and chat -----------------------------------------------------


CHAT_FIELDS = {
    "answer": str,
    "sources": list,
    "confidence": NUMBER,
    "session_id": str,
    "refused": bool,
}
SOURCE_FIELDS = {"source": str, "chunk_id": (int, str), "score": NUMBER, "snippet": str}


def upload_documents(api: Api, company_id: str, files: Mapping[str, str | bytes]) -> list[dict]:
    """POST /api/02-rag/documents (multipart, field `files` repeated); the per-document results."""
    __tracebackhide__ = True
    parts = [
        ("files", (name, content.encode() if isinstance(content, str) else content))
        for name, content in files.items()
    ]
    response = api.post(f"{A2}/documents", data={"company_id": company_id}, files=parts)
    return items_of(expect(response, (200, 201)))


def upload_document(api: Api, company_id: str, name: str, text: str | bytes) -> dict:
    """Upload one document; its `{id, source, chunks}` result."""
    __tracebackhide__ = True
    results = upload_documents(api, company_id, {name: text})
    if len(results) != 1:
        fail(f"POST {A2}/documents: expected one result per file, got {results!r:.300}")
    return results[0]


def list_documents(api: Api, company_id: str) -> list[dict]:
    """GET /api/02-rag/documents?company_id=; a company without documents may answer 404."""
    __tracebackhide__ = True
    response = api.get(f"{A2}/documents", params={"company_id": company_id})
    if response.status_code == 404:
        expect_error(response, 404)
        return []
    return items_of(expect(response, 200))


def chat(api: Api, query: str, **body: Any) -> dict:
    """POST /api/02-rag/chat with a JSON body; the 200 body."""
    __tracebackhide__ = True
    response = api.post(f"{A2}/chat", json={"query": query, **body})
    return expect(response, 200, CHAT_FIELDS)


def make_pdf(text: str) -> bytes:
    """A minimal one-page PDF (Helvetica) whose text layer is `text`."""
    safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = f"BT /F1 11 Tf 50 750 Td ({safe}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def sse_events(response: httpx.Response) -> list[tuple[str, str]]:
    """The `(event, data)` pairs of a Server-Sent Events body (comments skipped)."""
    events, name, data = [], "message", []
    for line in [*response.text.splitlines(), ""]:
        if not line:
            if data:
                events.append((name, "\n".join(data)))
            name, data = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    return events


# --- assessment 3: auth, tenants, CRM, webhooks -------------------------------------------


def admin_credentials() -> tuple[str, str]:
    """The platform admin, from PLATFORM_ADMIN_EMAIL / PLATFORM_ADMIN_PASSWORD (dev defaults)."""
    return (
        os.environ.get("PLATFORM_ADMIN_EMAIL", "admin@example.com"),
        os.environ.get("PLATFORM_ADMIN_PASSWORD", "change-me-admin"),
    )


def login(api: Api, email: str, password: str) -> str:
    """POST /api/03-saas/auth/token (JSON body); the access token."""
    __tracebackhide__ = True
    response = api.post(f"{A3}/auth/token", json={"email": email, "password": password})
    body = expect(response, 200, {"access_token": str, "token_type": str})
    return body["access_token"]


def admin_token(api: Api) -> str:
    """A platform admin's access token."""
    __tracebackhide__ = True
    return login(api, *admin_credentials())


@dataclass
class Tenant:
    id: str
    name: str
    tier: str
    webhook_secret: str
    admin_email: str
    admin_password: str
    token: str


def create_tenant(api: Api, platform_token: str | None = None, *, tier: str = "pro") -> Tenant:
    """POST /api/03-saas/tenants as the platform admin, then log its admin in."""
    __tracebackhide__ = True
    platform_token = platform_token or admin_token(api)
    name, email, password = unique("Contract Co"), unique_email("tenant-admin"), "s3cret-pass-1"
    payload = {
        "name": name,
        "subscription_tier": tier,
        "admin_email": email,
        "admin_password": password,
    }
    response = api.post(f"{A3}/tenants", json=payload, token=platform_token)
    body = expect(
        response,
        201,
        {"id": (str, int), "name": str, "subscription_tier": str, "webhook_secret": str},
    )
    token = login(api, email, password)
    return Tenant(str(body["id"]), name, tier, body["webhook_secret"], email, password, token)


def create_saas_lead(api: Api, tenant: Tenant, **fields: Any) -> dict:
    """POST /api/03-saas/leads for `tenant`; the 201 body (with `id`)."""
    __tracebackhide__ = True
    fields.setdefault("name", "Ada Lovelace")
    response = api.post(f"{A3}/leads", json=fields, token=tenant.token)
    return expect(response, 201, {"id": (str, int)})


def create_contact(api: Api, tenant: Tenant, **fields: Any) -> dict:
    """POST /api/03-saas/crm/contacts for `tenant`; the 201 body (with `id`)."""
    __tracebackhide__ = True
    fields.setdefault("name", "Grace Hopper")
    fields.setdefault("email", unique_email("contact"))
    fields.setdefault("company", "Harbor Freight Logistics")
    fields.setdefault(
        "message", "We run 40 trucks and want a demo and a quote this quarter; budget about $60k."
    )
    response = api.post(f"{A3}/crm/contacts", json=fields, token=tenant.token)
    return expect(response, 201, {"id": (str, int)})


def sign_webhook(secret: str, msg_id: str, timestamp: int | str, body: bytes | str) -> str:
    """The Standard Webhooks `webhook-signature` header value: `v1,<base64 HMAC-SHA256>`.

    The signed content is `<msg_id>.<timestamp>.<body>`, keyed by the base64-decoded part of
    the `whsec_...` secret (standardwebhooks.com).
    """
    key = base64.b64decode(secret.removeprefix("whsec_"))
    raw = body.encode() if isinstance(body, str) else body
    content = f"{msg_id}.{timestamp}.".encode() + raw
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_body(tenant_id: str, contact_id: str) -> bytes:
    payload = {"type": "contact.updated", "tenant_id": tenant_id, "data": {"id": contact_id}}
    return json.dumps(payload).encode()


def send_webhook(
    api: Api,
    tenant: Tenant,
    contact_id: str,
    *,
    msg_id: str | None = None,
    timestamp: int | None = None,
    secret: str | None = None,
    tenant_id: str | None = None,
    body: bytes | None = None,
    signature: str | None = None,
) -> httpx.Response:
    """POST a signed `contact.updated` delivery; override any part to forge a bad one
    (`signature` replaces the `webhook-signature` header as a whole)."""
    msg_id = msg_id or unique("msg")
    timestamp = int(time.time()) if timestamp is None else timestamp
    body = body if body is not None else webhook_body(tenant_id or tenant.id, str(contact_id))
    if signature is None:
        signature = sign_webhook(secret or tenant.webhook_secret, msg_id, timestamp, body)
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }
    return api.post(f"{A3}/webhooks/crm/contact.updated", content=body, headers=headers)


def jwt_claims(token: str) -> dict:
    """The (unverified) claims of a JWT: enough to check what a token says."""
    __tracebackhide__ = True
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        fail(f"the access token is not a JWT: {token[:40]!r}")
