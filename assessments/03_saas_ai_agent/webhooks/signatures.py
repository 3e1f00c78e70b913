"""Standard Webhooks signatures (standardwebhooks.com), with the maintained `standardwebhooks`.

`webhook-signature: v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">`,
keyed by the tenant's `whsec_…` secret; compared in constant time; timestamps
more than 5 minutes from now are refused, which bounds replays of a captured
delivery to that window (and the inbox's unique webhook-id closes it).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

MAX_EVENT_ID_LENGTH = 200


class InvalidSignature(Exception):
    """Why a delivery failed verification; logged, never sent back."""


def verify_signature(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    event_id = headers.get("webhook-id", "")
    if not 0 < len(event_id) <= MAX_EVENT_ID_LENGTH:
        raise InvalidSignature("missing or oversized webhook-id")
    try:
        Webhook(secret).verify(body, dict(headers), json_parse=False)
    except (WebhookVerificationError, ValueError) as exc:  # ValueError: malformed base64 or body
        raise InvalidSignature(str(exc) or type(exc).__name__) from None


def sign(
    secret: str, *, event_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The three headers a sender adds; used by tests, the demo app and the README."""
    sent_at = int(time.time()) if timestamp is None else timestamp
    signature = Webhook(secret).sign(
        msg_id=event_id, timestamp=datetime.fromtimestamp(sent_at, UTC), data=body.decode()
    )
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(sent_at),
        "webhook-signature": signature,
    }
