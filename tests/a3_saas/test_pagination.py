"""Every list endpoint bounds `limit` and `offset`: a 64-bit overflow is a 422, never a 500."""

from __future__ import annotations

import pytest

from tests.a3_saas.helpers import Api

LISTS = ["/users", "/leads", "/crm/contacts", "/webhooks/events", "/audit"]


@pytest.mark.parametrize("path", LISTS)
def test_an_offset_of_2_to_the_63_is_422_and_one_less_is_an_empty_page(api: Api, path: str) -> None:
    tenant = api.create_tenant()

    too_far = api.get(path, headers=tenant.headers, params={"offset": 2**63})
    farthest = api.get(path, headers=tenant.headers, params={"offset": 2**63 - 1})

    assert too_far.status_code == 422
    error = too_far.json()["error"]
    assert error["code"] == "validation_error"
    assert error["message"].startswith("query.offset:")
    assert error["request_id"] == too_far.headers["x-request-id"]
    assert farthest.status_code == 200
    assert farthest.json()["data"] == []


@pytest.mark.parametrize("limit", [0, 201, 2**63])
def test_a_limit_outside_1_to_200_is_422(sqlite_api: Api, limit: int) -> None:
    tenant = sqlite_api.create_tenant()

    response = sqlite_api.get("/audit", headers=tenant.headers, params={"limit": limit})

    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("query.limit:")
