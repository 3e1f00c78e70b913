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


def test_every_page_tells_the_whole_count_and_a_page_past_the_end_does_too(api: Api) -> None:
    tenant = api.create_tenant()
    for number in range(5):
        lead = {"name": f"Lead {number}", "message": "Interested in a quote."}
        assert api.post("/leads", headers=tenant.headers, json=lead).status_code == 201

    pages = {
        offset: api.get(
            "/leads", headers=tenant.headers, params={"limit": 2, "offset": offset}
        ).json()
        for offset in (0, 2, 4, 5, 10)
    }

    assert {offset: len(page["data"]) for offset, page in pages.items()} == {
        0: 2,
        2: 2,
        4: 1,
        5: 0,
        10: 0,
    }
    assert {page["count"] for page in pages.values()} == {5}
    names = [lead["name"] for offset in (0, 2, 4) for lead in pages[offset]["data"]]
    assert sorted(names) == [f"Lead {number}" for number in range(5)]
