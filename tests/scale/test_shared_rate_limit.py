"""Two API processes (uvicorn, separate ports) sharing one Redis: a tenant's limit holds across
both, because the moving window lives in Redis, not in either process."""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import redis

from tests.contract.helpers import A3, Api, create_tenant
from tests.processes import api_server, process_env
from tests.services import redis_url

LIMIT = 10


def test_two_api_processes_share_one_tenant_limit_through_redis(tmp_path: Path) -> None:
    shared_redis = redis_url()
    env = process_env(
        tmp_path,
        DATABASE_URL=f"sqlite:///{tmp_path / 'shared.db'}",
        REDIS_URL=shared_redis,
        SAAS_RATE_LIMITS=json.dumps(dict.fromkeys(("starter", "pro", "enterprise"), "10/minute")),
        SAAS_LOGIN_RATE_LIMIT="1000/minute",
        SAAS_WEBHOOK_WORKER_ENABLED="false",
        LOG_LEVEL="WARNING",
    )
    tenant_id = ""
    with ExitStack() as servers:
        # One after the other: both create the same tables at start.
        first = servers.enter_context(api_server(env, tmp_path / "api-1.log")).url
        second = servers.enter_context(api_server(env, tmp_path / "api-2.log")).url
        try:
            # Created through one process; its admin then reads through both.
            with httpx.Client(base_url=first, timeout=30) as client:
                tenant = create_tenant(Api(client, first, in_process=False), tier="starter")
            tenant_id, headers = tenant.id, {"Authorization": f"Bearer {tenant.token}"}
            targets = [first, second] * 8

            def read_leads(url: str) -> httpx.Response:
                return httpx.get(f"{url}{A3}/leads", headers=headers, timeout=30)

            with ThreadPoolExecutor(max_workers=len(targets)) as pool:
                responses = list(pool.map(read_leads, targets))
        finally:
            _forget_tenant(shared_redis, tenant_id)

    statuses = Counter(response.status_code for response in responses)
    assert statuses == Counter({200: LIMIT, 429: len(targets) - LIMIT})
    for response in responses:
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1
            assert response.json()["error"]["code"]


def _forget_tenant(url: str, tenant_id: str) -> None:
    if not tenant_id:
        return
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"*{tenant_id}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
