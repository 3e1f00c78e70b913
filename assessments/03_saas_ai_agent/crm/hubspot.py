"""HubSpot as the CRM: contacts read and updated through the v3 CRM objects API.

`GET /crm/v3/objects/contacts/{id}?properties=...` and
`PATCH /crm/v3/objects/contacts/{id}` with `{"properties": {...}}`, authorised
by a private-app bearer token. The score goes to a custom contact property
(`SAAS_HUBSPOT_SCORE_PROPERTY`, created once in the HubSpot portal).

One token serves every tenant here (one portal); a product connecting each
tenant's own portal would look the token up by `tenant_id` instead.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from .client import Contact, CRMError

_FIELDS = ("firstname", "lastname", "email", "phone", "company", "message")


class HubSpotCRM:
    name = "hubspot"

    def __init__(
        self,
        *,
        token: str,
        base_url: str = "https://api.hubapi.com",
        score_property: str = "ai_score",
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.score_property = score_property
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )

    async def get_contact(self, tenant_id: uuid.UUID, contact_id: str) -> Contact | None:
        if not contact_id.isdigit():  # HubSpot ids are numeric; nothing else reaches the URL
            return None
        response = await self._send(
            "GET",
            f"/crm/v3/objects/contacts/{contact_id}",
            params={"properties": ",".join((*_FIELDS, self.score_property))},
        )
        if response.status_code == 404:
            return None
        return self._contact(response)

    async def update_contact(
        self, tenant_id: uuid.UUID, contact_id: str, properties: dict[str, Any]
    ) -> Contact:
        if not contact_id.isdigit():
            raise CRMError(f"not a HubSpot contact id: {contact_id!r}")
        response = await self._send(
            "PATCH",
            f"/crm/v3/objects/contacts/{contact_id}",
            json={"properties": self._to_hubspot(properties)},
        )
        if response.status_code == 404:
            raise CRMError(f"HubSpot contact {contact_id} not found")
        return self._contact(response)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise CRMError(f"HubSpot unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 400 and response.status_code != 404:
            # The body can echo request data; only the status leaves this function.
            raise CRMError(f"HubSpot answered {response.status_code} to {method}")
        return response

    def _contact(self, response: httpx.Response) -> Contact:
        try:
            body = response.json()
            props: dict[str, Any] = body.get("properties") or {}
            name = " ".join(p for p in (props.get("firstname"), props.get("lastname")) if p)
            score = props.get(self.score_property)
            return Contact(
                id=str(body["id"]),
                name=name or props.get("email") or f"HubSpot contact {body['id']}",
                email=props.get("email") or None,
                phone=props.get("phone") or None,
                company=props.get("company") or None,
                message=props.get("message") or None,
                ai_score=float(score) if score not in (None, "") else None,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CRMError("HubSpot answered with an unexpected body") from exc

    def _to_hubspot(self, properties: dict[str, Any]) -> dict[str, str]:
        mapped: dict[str, str] = {}
        for key, value in properties.items():
            if key == "ai_score":
                mapped[self.score_property] = str(value)
            elif key == "name":
                first, _, last = str(value).partition(" ")
                mapped["firstname"], mapped["lastname"] = first, last
            else:
                mapped[key] = "" if value is None else str(value)
        return mapped
