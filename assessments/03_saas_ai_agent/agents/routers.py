"""The three agents, run on the caller's input (SPEC §4.3)."""

from __future__ import annotations

import importlib

from fastapi import APIRouter

from ..dependencies import CanRunAgents, RuntimeDep
from . import services
from .schemas import (
    ExtractRequest,
    ExtractResponse,
    QualifyRequest,
    QualifyResponse,
    ReplyRequest,
    ReplyResponse,
)

# The extractor is Assessment 1's, and so is the phone region it reads numbers in.
WorkflowSettingsDep = importlib.import_module(
    "assessments.01_workflow_automation"
).WorkflowSettingsDep

router = APIRouter(prefix="/agents", tags=["A3 · agents"])


@router.post("/qualify")
async def qualify_lead(
    body: QualifyRequest, ctx: CanRunAgents, runtime: RuntimeDep
) -> QualifyResponse:
    """Score a lead 0..1 with reasons; with `lead_id` the score is saved on the lead."""
    return await services.qualify(runtime, ctx, body)


@router.post("/extract")
async def extract_entities(
    body: ExtractRequest, ctx: CanRunAgents, runtime: RuntimeDep, workflow: WorkflowSettingsDep
) -> ExtractResponse:
    """Find name, email, phone (E.164) and budget in a text."""
    return await services.extract(runtime, ctx, body, default_region=workflow.PHONE_DEFAULT_REGION)


@router.post("/reply")
async def generate_reply(
    body: ReplyRequest, ctx: CanRunAgents, runtime: RuntimeDep
) -> ReplyResponse:
    """Draft a reply to an email thread, using what the tenant knows about the lead."""
    return await services.reply(runtime, ctx, body)
