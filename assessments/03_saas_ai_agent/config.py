"""Settings of this assessment: `SaasSettings` (`SAAS_*` variables) and `AuthSettings`
(`JWT_*`, `ACCESS_TOKEN_EXPIRE_MINUTES`, `PLATFORM_ADMIN_*`, no prefix), both read from
the environment and `.env`.

The shared settings (`core.config.Settings`: ENVIRONMENT, DATA_DIR, REDIS_URL,
DATABASE_URL, OpenAI) stay there; what only this assessment needs lives here so the
package stands on its own. Both classes are built in the assessment's lifespan
(`routers.py`), which runs `AuthSettings.refuse_unsafe_production` before anything
else. A Celery worker issues and checks no tokens, so it never builds `AuthSettings`.
Every field is in the README.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from limits import parse
from pydantic import Field, SecretStr, field_validator
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

    # Threads for the tenant work that leaves the event loop (`dependencies.TenantWork`), and
    # for webhook intake on PostgreSQL (`webhooks.routers`).
    # Against PostgreSQL on the same 2-core machine, 20 clients reading leads: 2–4 threads
    # cost 2.8–3.5 ms of CPU a request and p99 84–108 ms, anyio's shared 40 cost 3.2–3.9 ms
    # and p99 107–125 ms (`bench_saas.py`-style runs, 3 rounds). With the database a network
    # hop away each thread waits out its round trips: raise it there.
    DB_THREADS: int = Field(4, ge=1, le=200)

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


DEV_ADMIN_EMAIL = "admin@example.com"
DEV_ADMIN_PASSWORD = "change-me-admin"


class AuthSettings(BaseSettings):
    """Access tokens and the platform admin, under their unprefixed names (`JWT_SECRET`, ...)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True)

    JWT_SECRET: SecretStr | None = None
    JWT_ALGORITHM: Literal["HS256"] = "HS256"
    ACCESS_TOKEN_EXPIRE_MINUTES: int = 8 * 60
    PLATFORM_ADMIN_EMAIL: str = DEV_ADMIN_EMAIL
    PLATFORM_ADMIN_PASSWORD: SecretStr = SecretStr(DEV_ADMIN_PASSWORD)

    def refuse_unsafe_production(self, environment: str) -> None:
        """Raise when production would run on a missing or short secret or the dev password."""
        if environment != "production":
            return
        if self.JWT_SECRET is None or len(self.JWT_SECRET.get_secret_value()) < 32:
            raise ValueError("JWT_SECRET (32+ characters) is required when ENVIRONMENT=production")
        if self.PLATFORM_ADMIN_PASSWORD.get_secret_value() == DEV_ADMIN_PASSWORD:
            raise ValueError("PLATFORM_ADMIN_PASSWORD must be changed when ENVIRONMENT=production")

    def jwt_secret(self, data_dir: Path) -> tuple[str, bool]:
        """The signing secret, and whether it is a generated development one.

        Without JWT_SECRET, development installs get a random secret kept in
        `<DATA_DIR>/.jwt_secret`, so tokens survive restarts but no two installs
        share a key.
        """
        if self.JWT_SECRET is not None:
            return self.JWT_SECRET.get_secret_value(), False
        return _generated_secret(data_dir / ".jwt_secret"), True


@lru_cache
def _generated_secret(path: Path) -> str:
    """Read once per process: every authenticated request signs or checks a token with it.

    Written whole under another name, then linked into place: of processes starting
    together (`uvicorn --workers 2`) the first link wins and the others read its secret,
    where two plain writes could each keep their own and refuse the other's tokens."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f"{path.name}.{os.getpid()}.new")
        draft.write_text(secrets.token_urlsafe(48))
        draft.chmod(0o600)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()
