"""The Celery app the workers run: `celery -A backend.worker worker --concurrency 4`.

It registers every assessment's background jobs, as `backend.main` mounts their
routers; `core.tasks` runs them and names no assessment.
"""

from __future__ import annotations

from core.config import get_settings
from core.tasks import create_celery_app

# Modules whose import registers an assessment's jobs (`core.tasks.task`).
TASK_MODULES = (
    "assessments.02_rag_chatbot.tasks",
    "assessments.03_saas_ai_agent.webhooks.tasks",
)

celery_app = create_celery_app(get_settings(), include=TASK_MODULES)
