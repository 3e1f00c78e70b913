"""Settings of this assessment, read from `SAAS_*` environment variables (and `.env`).

The shared settings (`core.config.Settings`: JWT, platform admin, REDIS_URL,
DATABASE_URL, OpenAI) stay where they are; what only this assessment needs
lives here so the package stands on its own. Every field is in the README.
"""

from __future__ import annotations

from typing import Literal

from limits import parse
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Tier = Literal["starter", "pro", "enterprise"]
TIERS: tuple[Tier, ...] = ("starter", "pro", "enterprise")
PasswordHashProfile = Literal["rfc_9106_low_memory", "rfc_9106_high_memory", "cheapest"]


class SaasSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SAAS_", env_file=".env", extra="ignore", case_sensitive=True
    )

    # Agents: the model each agent asks for on the openai provider (unset = OPENAI_CHAT_MODEL).
    REPLY_MODEL: str | None = None
    QUALIFY_MODEL: str | None = None
    EXTRACT_MODEL: str | None = None

    # Limits per subscription tier ("<n>/<second|minute|hour|day>", moving window).
    RATE_LIMITS: dict[Tier, str] = {
        "starter": "60/minute",
        "pro": "300/minute",
        "enterprise": "1200/minute",
    }
    # Agent runs per calendar month (UTC); null = unlimited.
    MONTHLY_AGENT_RUNS: dict[Tier, int | None] = {
        "starter": 1_000,
        "pro": 20_000,
        "enterprise": None,
    }
    LOGIN_RATE_LIMIT: str = "10/minute"

    # Webhook intake: larger bodies are refused (413) before they are verified or stored.
    WEBHOOK_MAX_BODY_BYTES: int = Field(256 * 1024, ge=1)
    # Webhook inbox worker.
    WEBHOOK_WORKER_ENABLED: bool = True
    WEBHOOK_POLL_SECONDS: float = Field(1.0, gt=0)
    WEBHOOK_BATCH_SIZE: int = Field(20, ge=1)
    WEBHOOK_CONCURRENCY: int = Field(4, ge=1)
    WEBHOOK_MAX_ATTEMPTS: int = Field(5, ge=1)
    WEBHOOK_RETRY_BASE_SECONDS: float = Field(2.0, ge=0)
    WEBHOOK_RETRY_MAX_SECONDS: float = Field(300.0, ge=0)
    WEBHOOK_LEASE_SECONDS: float = Field(120.0, gt=0)

    # CRM backend the webhook pipeline reads from and writes scores back to.
    CRM_BACKEND: Literal["embedded", "hubspot"] = "embedded"
    HUBSPOT_TOKEN: str | None = None
    HUBSPOT_BASE_URL: str = "https://api.hubapi.com"
    HUBSPOT_SCORE_PROPERTY: str = "ai_score"
    HUBSPOT_TIMEOUT_SECONDS: float = 10.0

    # PostgreSQL: the role tenant traffic runs as (subject to row-level security).
    DB_APP_ROLE: str = Field("saas_app", pattern=r"^[a-z_][a-z0-9_]{0,62}$")

    # Unset: RFC 9106 low-memory, or the cheapest profile when ENVIRONMENT=test.
    PASSWORD_HASH_PROFILE: PasswordHashProfile | None = None
    LOAD_DEMO_TENANTS: bool = True

    @field_validator("RATE_LIMITS")
    @classmethod
    def _rate_limits_parse(cls, value: dict[Tier, str]) -> dict[Tier, str]:
        missing = set(TIERS) - set(value)
        if missing:
            raise ValueError(f"RATE_LIMITS needs every tier; missing {sorted(missing)}")
        for limit in value.values():
            parse(limit)
        return value

    @field_validator("LOGIN_RATE_LIMIT")
    @classmethod
    def _login_limit_parses(cls, value: str) -> str:
        parse(value)
        return value

    @field_validator("MONTHLY_AGENT_RUNS")
    @classmethod
    def _quota_for_every_tier(cls, value: dict[Tier, int | None]) -> dict[Tier, int | None]:
        missing = set(TIERS) - set(value)
        if missing:
            raise ValueError(f"MONTHLY_AGENT_RUNS needs every tier; missing {sorted(missing)}")
        return value

    def password_hash_profile(self, environment: str) -> PasswordHashProfile:
        if self.PASSWORD_HASH_PROFILE == "cheapest" and environment == "production":
            raise ValueError("SAAS_PASSWORD_HASH_PROFILE=cheapest is for tests only")
        if self.PASSWORD_HASH_PROFILE is not None:
            return self.PASSWORD_HASH_PROFILE
        return "cheapest" if environment == "test" else "rfc_9106_low_memory"
