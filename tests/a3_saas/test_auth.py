"""Sign-in and tokens: JSON and form sign-in, and every kind of bad token is refused."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import jwt
import pytest
from fastapi.testclient import TestClient

from tests.a3_saas.helpers import PREFIX, Api, saas_module

tokens = saas_module("auth.tokens")
config = saas_module("config")
DEV_ADMIN_EMAIL, DEV_ADMIN_PASSWORD = config.DEV_ADMIN_EMAIL, config.DEV_ADMIN_PASSWORD


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _claims(headers: dict[str, str]) -> dict:
    token = headers["Authorization"].removeprefix("Bearer ")
    return jwt.decode(token, options={"verify_signature": False})


def _signing(api: Api) -> dict:
    """What `create_access_token` signs with: the app's auth settings and data dir."""
    return {"auth": api.runtime.auth, "data_dir": api.runtime.settings.DATA_DIR}


def _secret(api: Api) -> str:
    secret, _ = api.runtime.auth.jwt_secret(api.runtime.settings.DATA_DIR)
    return secret


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_platform_admin_signs_in_with_default_settings(client: TestClient) -> None:
    response = client.post(
        f"{PREFIX}/auth/token", json={"email": DEV_ADMIN_EMAIL, "password": DEV_ADMIN_PASSWORD}
    )

    assert response.status_code == 200
    assert response.json()["token_type"] == "bearer"


def test_json_sign_in_returns_a_bearer_token_with_the_seed_claims(api: Api) -> None:
    tenant = api.create_tenant()

    response = api.post(
        "/auth/token", json={"email": tenant.admin_email, "password": tenant.admin_password}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["tenant"] == tenant.id
    assert set(claims) >= {"sub", "tenant", "iat", "exp"}
    assert claims["exp"] - claims["iat"] == 8 * 3600
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "HS256"


def test_oauth2_password_form_sign_in_works_too(sqlite_api: Api) -> None:
    tenant = sqlite_api.create_tenant()

    response = sqlite_api.post(
        "/auth/token",
        data={"username": tenant.admin_email, "password": tenant.admin_password},
    )

    assert response.status_code == 200
    assert (
        sqlite_api.get("/tenants/me", headers=_bearer(response.json()["access_token"])).json()["id"]
        == tenant.id
    )


@pytest.mark.parametrize("email_known", [True, False])
def test_wrong_credentials_answer_401_without_saying_which_part(
    api: Api, email_known: bool
) -> None:
    tenant = api.create_tenant()
    email = tenant.admin_email if email_known else "nobody@tenant.example"

    response = api.post("/auth/token", json={"email": email, "password": "wrong-password"})

    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Incorrect email or password"


def test_sign_in_without_credentials_is_a_validation_error(sqlite_api: Api) -> None:
    assert sqlite_api.post("/auth/token", json={"email": "a@b.example"}).status_code == 422
    assert (
        sqlite_api.post(
            "/auth/token", content=b"x", headers={"content-type": "text/plain"}
        ).status_code
        == 415
    )


def test_request_without_token_is_401_with_bearer_challenge(sqlite_api: Api) -> None:
    response = sqlite_api.get("/leads")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_expired_token_is_refused(sqlite_api: Api) -> None:
    tenant = sqlite_api.create_tenant()
    user_id = uuid.UUID(_claims(tenant.headers)["sub"])
    issued = datetime.now(UTC) - timedelta(hours=9)
    expired = tokens.create_access_token(
        user_id, uuid.UUID(tenant.id), **_signing(sqlite_api), now=issued
    )

    response = sqlite_api.get("/leads", headers=_bearer(expired))

    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


def test_a_token_accepted_before_is_refused_once_it_has_expired(
    sqlite_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verified tokens are remembered by their text; their expiry is still checked each time."""
    tenant = sqlite_api.create_tenant()
    expires = _claims(tenant.headers)["exp"]
    assert sqlite_api.get("/leads", headers=tenant.headers).status_code == 200

    monkeypatch.setattr(tokens, "time", SimpleNamespace(time=lambda: expires + 1))
    response = sqlite_api.get("/leads", headers=tenant.headers)

    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


def test_unsigned_alg_none_token_is_refused(sqlite_api: Api) -> None:
    tenant = sqlite_api.create_tenant()
    claims = _claims(tenant.headers)
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."

    assert sqlite_api.get("/leads", headers=_bearer(unsigned)).status_code == 401


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_token_with_another_algorithm_is_refused_even_with_the_right_key(sqlite_api: Api) -> None:
    tenant = sqlite_api.create_tenant()
    secret = _secret(sqlite_api)
    hs512 = jwt.encode(_claims(tenant.headers), secret, algorithm="HS512")

    assert sqlite_api.get("/leads", headers=_bearer(hs512)).status_code == 401


def test_token_signed_with_another_key_is_refused(sqlite_api: Api) -> None:
    tenant = sqlite_api.create_tenant()
    forged = jwt.encode(_claims(tenant.headers), "not-the-server-key-" + "y" * 32, "HS256")

    assert sqlite_api.get("/leads", headers=_bearer(forged)).status_code == 401


def test_token_without_tenant_claim_is_refused(sqlite_api: Api) -> None:
    tenant = sqlite_api.create_tenant()
    claims = _claims(tenant.headers)
    del claims["tenant"]
    secret = _secret(sqlite_api)

    response = sqlite_api.get("/leads", headers=_bearer(jwt.encode(claims, secret, "HS256")))

    assert response.status_code == 401


def test_tampered_tenant_claim_breaks_the_signature(api: Api) -> None:
    tenant_a, tenant_b = api.create_tenant(), api.create_tenant()
    header, _, signature = tenant_a.headers["Authorization"].removeprefix("Bearer ").split(".")
    claims = {**_claims(tenant_a.headers), "tenant": tenant_b.id}

    response = api.get("/leads", headers=_bearer(f"{header}.{_b64(claims)}.{signature}"))

    assert response.status_code == 401


def test_validly_signed_token_naming_a_tenant_the_user_is_not_in_is_refused(api: Api) -> None:
    tenant_a, tenant_b = api.create_tenant(), api.create_tenant()
    api.create_lead(tenant_b, name="Only in B")
    user_a = uuid.UUID(_claims(tenant_a.headers)["sub"])
    crossed = tokens.create_access_token(user_a, uuid.UUID(tenant_b.id), **_signing(api))

    response = api.get("/leads", headers=_bearer(crossed))

    assert response.status_code == 401


def test_platform_admin_token_has_null_tenant_and_no_tenant_data_access(sqlite_api: Api) -> None:
    admin = sqlite_api.platform_admin()

    assert _claims(admin)["tenant"] is None
    assert sqlite_api.get("/leads", headers=admin).status_code == 403
    assert sqlite_api.get("/tenants/me", headers=admin).status_code == 403
