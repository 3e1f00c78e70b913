"""This assessment's settings: safe defaults per environment, and limits that must parse."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.a3_saas.helpers import saas_module

SaasSettings = saas_module("config").SaasSettings


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ("test", "cheapest"),
        ("development", "rfc_9106_low_memory"),
        ("production", "rfc_9106_low_memory"),
    ],
)
def test_password_hashing_is_cheap_only_in_tests(environment: str, expected: str) -> None:
    assert SaasSettings(_env_file=None).password_hash_profile(environment) == expected


def test_the_cheapest_password_hashing_is_refused_in_production() -> None:
    settings = SaasSettings(_env_file=None, PASSWORD_HASH_PROFILE="cheapest")

    with pytest.raises(ValueError, match="tests only"):
        settings.password_hash_profile("production")


@pytest.mark.parametrize(
    "limits",
    [
        {"starter": "60/minute", "pro": "300/minute"},
        {"starter": "sixty a minute", "pro": "300/minute", "enterprise": "1/second"},
    ],
)
def test_rate_limits_need_every_tier_and_must_parse(limits: dict) -> None:
    with pytest.raises(ValidationError):
        SaasSettings(_env_file=None, RATE_LIMITS=limits)


def test_settings_come_from_saas_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAAS_QUALIFY_MODEL", "gpt-4.1-mini")
    monkeypatch.setenv("SAAS_MONTHLY_AGENT_RUNS", '{"starter": 5, "pro": 50, "enterprise": null}')

    settings = SaasSettings(_env_file=None)

    assert settings.QUALIFY_MODEL == "gpt-4.1-mini"
    assert settings.MONTHLY_AGENT_RUNS == {"starter": 5, "pro": 50, "enterprise": None}
