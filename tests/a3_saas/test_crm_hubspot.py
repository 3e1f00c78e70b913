"""The HubSpot CRM client over an httpx mock transport, alone and inside the webhook pipeline."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tests.a3_saas.helpers import Api, saas_module

HubSpotCRM = saas_module("crm.hubspot").HubSpotCRM
CRMError = saas_module("crm.client").CRMError
pytestmark = pytest.mark.anyio
TENANT = uuid.uuid4()


class FakeHubSpot:
    """A tiny stand-in for HubSpot's contacts API, recording what it was sent."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.contacts = {
            "501": {
                "firstname": "Lena",
                "lastname": "Fischer",
                "email": "lena@fabrikam.example",
                "company": "Fabrikam",
                "message": "Head of Sales; we need this ASAP, budget 40k.",
                "ai_score": None,
            }
        }
        self.fail_with: int | None = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail_with:
            return httpx.Response(self.fail_with, json={"message": "nope"})
        contact_id = request.url.path.rsplit("/", 1)[-1]
        if contact_id not in self.contacts:
            return httpx.Response(404, json={"status": "error", "message": "not found"})
        if request.method == "PATCH":
            self.contacts[contact_id].update(json.loads(request.content)["properties"])
        return httpx.Response(200, json={"id": contact_id, "properties": self.contacts[contact_id]})

    def client(self) -> object:
        return HubSpotCRM(
            token="pat-test",
            base_url="https://api.hubapi.test",
            transport=httpx.MockTransport(self.handle),
        )


async def test_get_contact_reads_the_v3_contacts_api_with_the_bearer_token() -> None:
    hubspot = FakeHubSpot()

    contact = await hubspot.client().get_contact(TENANT, "501")

    request = hubspot.requests[0]
    assert request.method == "GET"
    assert request.url.path == "/crm/v3/objects/contacts/501"
    assert "ai_score" in request.url.params["properties"].split(",")
    assert request.headers["authorization"] == "Bearer pat-test"
    assert (contact.id, contact.name, contact.company) == ("501", "Lena Fischer", "Fabrikam")


async def test_update_contact_patches_the_score_property() -> None:
    hubspot = FakeHubSpot()

    contact = await hubspot.client().update_contact(TENANT, "501", {"ai_score": 0.82})

    request = hubspot.requests[0]
    assert request.method == "PATCH"
    assert json.loads(request.content) == {"properties": {"ai_score": "0.82"}}
    assert contact.ai_score == 0.82


async def test_a_missing_contact_is_none_and_a_non_numeric_id_never_reaches_hubspot() -> None:
    hubspot = FakeHubSpot()
    client = hubspot.client()

    assert await client.get_contact(TENANT, "999") is None
    assert await client.get_contact(TENANT, "../../owners") is None
    assert len(hubspot.requests) == 1


@pytest.mark.parametrize("status", [429, 500])
async def test_hubspot_errors_become_crm_errors_for_the_worker_to_retry(status: int) -> None:
    hubspot = FakeHubSpot()
    hubspot.fail_with = status

    with pytest.raises(CRMError):
        await hubspot.client().get_contact(TENANT, "501")


def test_the_webhook_pipeline_scores_a_hubspot_contact_and_mirrors_it_as_a_lead(api: Api) -> None:
    hubspot = FakeHubSpot()
    api.runtime.crm = hubspot.client()
    tenant = api.create_tenant()

    assert api.send_webhook(tenant, "501").status_code == 202
    api.drain()

    assert 0.5 <= float(hubspot.contacts["501"]["ai_score"]) <= 1
    [lead] = api.get("/leads", headers=tenant.headers).json()["data"]
    assert (lead["name"], lead["crm_contact_id"]) == ("Lena Fischer", "501")
    assert lead["ai_score"] == float(hubspot.contacts["501"]["ai_score"])
