"""Per-tenant rate limits by tier (429 with Retry-After) and the monthly agent-run quota."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
import redis

from core.exceptions import RateLimitException
from tests.a3_saas.helpers import saas_module

TIGHT = {"starter": "3/minute", "pro": "5/minute", "enterprise": "100/minute"}


def test_a_tenant_over_its_rate_limit_gets_429_with_retry_after(make_sqlite_api: Any) -> None:
    api = make_sqlite_api(RATE_LIMITS=TIGHT)
    tenant = api.create_tenant(tier="starter")

    statuses = [api.get("/leads", headers=tenant.headers).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    limited = api.get("/leads", headers=tenant.headers)
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60


def test_rate_limits_are_per_tenant_and_follow_the_tier(make_sqlite_api: Any) -> None:
    api = make_sqlite_api(RATE_LIMITS=TIGHT)
    starter, pro = api.create_tenant(tier="starter"), api.create_tenant(tier="pro")

    for _ in range(3):
        api.get("/leads", headers=starter.headers)
    pro_statuses = [api.get("/leads", headers=pro.headers).status_code for _ in range(5)]

    assert api.get("/leads", headers=starter.headers).status_code == 429
    assert pro_statuses == [200] * 5
    assert api.get("/leads", headers=pro.headers).status_code == 429


def test_agent_runs_over_the_monthly_quota_are_refused_with_402(make_api: Any) -> None:
    api = make_api(MONTHLY_AGENT_RUNS={"starter": 2, "pro": 10, "enterprise": None})
    tenant = api.create_tenant(tier="starter")
    run = {"text": "Call me on +1 415 555 2671"}

    statuses = [
        api.post("/agents/extract", headers=tenant.headers, json=run).status_code for _ in range(3)
    ]

    assert statuses == [200, 200, 402]
    refused = api.post("/agents/extract", headers=tenant.headers, json=run).json()["error"]
    assert refused["code"] == "quota_exceeded"
    assert "2/2" in refused["message"]
    assert api.get("/leads", headers=tenant.headers).status_code == 200
    assert api.get("/usage", headers=tenant.headers).json()["agent_runs_this_month"] == 2


def test_repeated_failed_sign_ins_are_rate_limited(make_sqlite_api: Any) -> None:
    api = make_sqlite_api(LOGIN_RATE_LIMIT="3/minute")
    body = {"email": "victim@tenant.example", "password": "guess"}

    statuses = [api.post("/auth/token", json=body).status_code for _ in range(4)]

    assert statuses == [401, 401, 401, 429]


def _redis_url() -> str:
    url = os.environ.get("SAAS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis does not answer at {url}; CI=true requires it")
        pytest.skip(f"Redis does not answer at {url} ({type(exc).__name__})")
    return url


def test_the_limiter_counts_in_redis_when_redis_url_is_set() -> None:
    url = _redis_url()
    make = saas_module("ratelimit").TenantRateLimiter
    limits = {"starter": "2/minute", "pro": "2/minute", "enterprise": "2/minute"}
    replica_a = make(storage_uri=url, tier_limits=limits, login_limit="5/minute")
    replica_b = make(storage_uri=url, tier_limits=limits, login_limit="5/minute")
    tenant = uuid.uuid4()

    replica_a.hit_tenant(tenant, "starter")
    replica_b.hit_tenant(tenant, "starter")

    with pytest.raises(RateLimitException) as refused:
        replica_a.hit_tenant(tenant, "starter")
    assert int(refused.value.headers["Retry-After"]) >= 1


def test_an_unreachable_limiter_store_fails_open() -> None:
    limiter = saas_module("ratelimit").TenantRateLimiter(
        storage_uri="redis://127.0.0.1:1/0",
        tier_limits={"starter": "1/minute", "pro": "1/minute", "enterprise": "1/minute"},
        login_limit="1/minute",
    )

    for _ in range(3):
        limiter.hit_tenant(uuid.uuid4(), "starter")
