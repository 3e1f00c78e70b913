"""The auth settings (JWT_*, ACCESS_TOKEN_EXPIRE_MINUTES, PLATFORM_ADMIN_*): the production
check, the generated development secret, and an API that refuses to start in production."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from backend.main import create_app
from tests.a3_saas.helpers import saas_module
from tests.support import assessment_settings, make_app, make_settings

config = saas_module("config")
AuthSettings = config.AuthSettings
STRONG_SECRET = "s" * 40
STRONG_PASSWORD = "a-strong-password-1"


def _auth(**values: object) -> object:
    return AuthSettings(_env_file=None, **values)


def test_production_refuses_to_start_without_jwt_secret() -> None:
    auth = _auth(JWT_SECRET=None, PLATFORM_ADMIN_PASSWORD=STRONG_PASSWORD)

    with pytest.raises(ValueError, match="JWT_SECRET"):
        auth.refuse_unsafe_production("production")


def test_production_refuses_a_short_jwt_secret() -> None:
    auth = _auth(JWT_SECRET="s" * 31, PLATFORM_ADMIN_PASSWORD=STRONG_PASSWORD)

    with pytest.raises(ValueError, match=r"JWT_SECRET \(32\+ characters\)"):
        auth.refuse_unsafe_production("production")


def test_production_refuses_the_dev_admin_password() -> None:
    auth = _auth(JWT_SECRET=STRONG_SECRET)

    with pytest.raises(ValueError, match="PLATFORM_ADMIN_PASSWORD"):
        auth.refuse_unsafe_production("production")


def test_safe_production_settings_and_other_environments_pass() -> None:
    _auth(
        JWT_SECRET=STRONG_SECRET, PLATFORM_ADMIN_PASSWORD=STRONG_PASSWORD
    ).refuse_unsafe_production("production")
    for environment in ("development", "test"):
        _auth(JWT_SECRET=None).refuse_unsafe_production(environment)


def test_the_variable_names_have_no_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", STRONG_SECRET)
    monkeypatch.setenv("ACCESS_TOKEN_EXPIRE_MINUTES", "15")
    monkeypatch.setenv("PLATFORM_ADMIN_EMAIL", "ops@example.com")
    monkeypatch.setenv("PLATFORM_ADMIN_PASSWORD", STRONG_PASSWORD)

    auth = _auth()

    assert auth.JWT_SECRET.get_secret_value() == STRONG_SECRET
    assert auth.ACCESS_TOKEN_EXPIRE_MINUTES == 15
    assert auth.PLATFORM_ADMIN_EMAIL == "ops@example.com"
    assert auth.PLATFORM_ADMIN_PASSWORD.get_secret_value() == STRONG_PASSWORD


def test_dev_jwt_secret_is_random_per_install_and_stable(tmp_path) -> None:
    first, generated = _auth(JWT_SECRET=None).jwt_secret(tmp_path)
    again, _ = _auth(JWT_SECRET=None).jwt_secret(tmp_path)
    other, _ = _auth(JWT_SECRET=None).jwt_secret(tmp_path / "other")

    assert generated is True
    assert first == again
    assert first != other and len(first) >= 32
    assert _auth(JWT_SECRET=STRONG_SECRET).jwt_secret(tmp_path) == (STRONG_SECRET, False)


def test_a_dev_secret_written_by_another_process_first_is_the_one_kept(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers starting together both find no secret file; the second to write keeps
    the first one's secret, so tokens one worker signs pass at the other."""
    path = tmp_path / ".jwt_secret"
    path.write_text("the-first-workers-secret")
    monkeypatch.setattr(type(path), "exists", lambda self: False)  # it looked before the write

    secret = config._generated_secret(path)

    assert secret == "the-first-workers-secret"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".jwt_secret"]


def test_the_test_helpers_give_auth_overrides_to_auth_settings(tmp_path) -> None:
    with pytest.raises(TypeError, match="JWT_SECRET"):
        make_settings(tmp_path, JWT_SECRET=STRONG_SECRET)
    with pytest.raises(TypeError, match="PLATFORM_ADMIN_EMAIL"):
        make_settings(tmp_path, PLATFORM_ADMIN_EMAIL="ops@example.com")

    auth = assessment_settings(ACCESS_TOKEN_EXPIRE_MINUTES=5)["auth_settings"]
    app = make_app(make_settings(tmp_path), PLATFORM_ADMIN_EMAIL="ops@example.com")

    assert auth.ACCESS_TOKEN_EXPIRE_MINUTES == 5
    assert app.state.auth_settings.PLATFORM_ADMIN_EMAIL == "ops@example.com"


def test_a_production_api_without_jwt_secret_refuses_to_start(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Settings as an operator gives them: the environment (no `.env` in this directory).
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JWT_SECRET", raising=False)
    monkeypatch.setenv("PLATFORM_ADMIN_PASSWORD", STRONG_PASSWORD)
    app = create_app(make_settings(tmp_path, ENVIRONMENT="production", LOAD_SAMPLE_DATA=True))

    with pytest.raises(ValueError, match="JWT_SECRET"), TestClient(app):
        pass

    # Refused before the start touched anything: no database, no sample data, no runtime.
    assert not hasattr(app.state, "saas")
    assert not hasattr(app.state, "engine")
    assert not (tmp_path / "app.db").exists()
    assert not (tmp_path / ".jwt_secret").exists()


def test_a_generated_dev_secret_is_logged_at_start(tmp_path) -> None:
    app = make_app(make_settings(tmp_path), JWT_SECRET=None)

    with capture_logs() as logs, TestClient(app):
        pass

    assert any(entry["event"] == "jwt_secret_generated" for entry in logs)
    assert (tmp_path / ".jwt_secret").exists()
