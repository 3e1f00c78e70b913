"""Per-tenant rate limits by subscription tier (the `limits` library, moving window).

In memory by default; in Redis when REDIS_URL is set, so every API replica
counts against the same window. If the storage is down the limiter fails
open: an outage of the counter must not take the API down with it.
"""

from __future__ import annotations

import math
import time
import uuid

import structlog
from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from core.exceptions import RateLimitException

from .config import Tier

log = structlog.get_logger(__name__)


class TenantRateLimiter:
    def __init__(self, *, storage_uri: str, tier_limits: dict[Tier, str], login_limit: str) -> None:
        self.storage: Storage = storage_from_string(storage_uri)
        self._limiter = MovingWindowRateLimiter(self.storage)
        self._tiers: dict[Tier, RateLimitItem] = {
            tier: parse(limit) for tier, limit in tier_limits.items()
        }
        self._login = parse(login_limit)

    def limit_for(self, tier: Tier) -> RateLimitItem:
        return self._tiers[tier]

    def hit_tenant(self, tenant_id: uuid.UUID, tier: Tier) -> None:
        self._hit(self._tiers[tier], "saas-tenant", str(tenant_id), subject="tenant")

    def hit_login(self, email: str) -> None:
        self._hit(self._login, "saas-login", email.strip().lower(), subject="sign-in")

    def _hit(self, item: RateLimitItem, *key: str, subject: str) -> None:
        try:
            allowed = self._limiter.hit(item, *key)
            if allowed:
                return
            reset_at, _ = self._limiter.get_window_stats(item, *key)
        except Exception as exc:  # storage unreachable
            log.warning("rate_limiter_unavailable", error=type(exc).__name__)
            return
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise RateLimitException(
            f"Too many requests for this {subject} ({item}); retry in {retry_after}s",
            headers={"Retry-After": str(retry_after)},
            details={"limit": str(item), "retry_after_seconds": retry_after},
        )
