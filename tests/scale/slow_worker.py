"""The Celery app as `celery -A backend.worker` loads it, with an embedded CRM that answers after
`SLOW_CRM_SECONDS`: a worker started on it is busy inside a job long enough to be killed there.

Test-only: `celery -A tests.scale.slow_worker worker ...`.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import uuid
from typing import Any

from backend.worker import celery_app

__all__ = ["celery_app"]

_embedded = importlib.import_module("assessments.03_saas_ai_agent.crm.embedded")
_get_contact = _embedded.EmbeddedCRM.get_contact
_DELAY_SECONDS = float(os.environ["SLOW_CRM_SECONDS"])


async def _slow_get_contact(self: Any, tenant_id: uuid.UUID, contact_id: str) -> Any:
    await asyncio.sleep(_DELAY_SECONDS)
    return await _get_contact(self, tenant_id, contact_id)


_embedded.EmbeddedCRM.get_contact = _slow_get_contact
