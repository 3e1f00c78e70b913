"""The assessments this backend serves: each package and the prefix its router is mounted at.

The one list: the app mounts these routers (`backend.main`), the schema tools import them
for their table models (`backend.migrate`).
"""

from __future__ import annotations

ASSESSMENTS: dict[str, str] = {
    "assessments.01_workflow_automation": "/api/01-workflow",
    "assessments.02_rag_chatbot": "/api/02-rag",
    "assessments.03_saas_ai_agent": "/api/03-saas",
}
