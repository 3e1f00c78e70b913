"""Settings of this assessment, read from the environment and `.env` like `core.config`.

The variable names have no prefix (`INTENT_CONFIDENCE_THRESHOLD`, ...): they are the
names existing `.env` files use. Every field is in the README's "Settings" table.
"""

from __future__ import annotations

from typing import Annotated

import phonenumbers
from fastapi import Depends, Request
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class WorkflowSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True)

    # Above it, the confident path (LLM extraction); otherwise the rules.
    INTENT_CONFIDENCE_THRESHOLD: float = Field(0.7, ge=0, le=1)
    # The region of a phone number written without a country code.
    PHONE_DEFAULT_REGION: str = "US"

    @field_validator("PHONE_DEFAULT_REGION")
    @classmethod
    def _known_phone_region(cls, value: str) -> str:
        region = value.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(
                f"PHONE_DEFAULT_REGION must be an ISO region code such as US or GB; got {value!r}"
            )
        return region


async def get_workflow_settings(request: Request) -> WorkflowSettings:
    """The settings the lifespan put on `app.state` (`async`: no threadpool hop)."""
    return request.app.state.workflow_settings  # type: ignore[no-any-return]


WorkflowSettingsDep = Annotated[WorkflowSettings, Depends(get_workflow_settings)]
