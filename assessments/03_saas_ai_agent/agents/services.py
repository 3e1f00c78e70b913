"""Running an agent for a tenant: quota first, then the agent, then metering and audit.

The webhook worker qualifies contacts through the same `run_agent`, so every
run counts against the same quota and appears in the same usage report.
Database work runs in the threadpool (`run_in_threadpool`): the event loop
only waits for the model, never for a database connection.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from ..audit import services as audit
from ..auth.context import RequestContext
from ..leads import services as leads
from ..runtime import SaasRuntime
from ..tenants.services import current_tenant
from ..usage import services as usage
from .base import AgentOutput, AIAgent
from .extractor import EntityExtractor
from .qualifier import LeadQualifier
from .reply import ReplyAgent
from .schemas import (
    AgentRunPublic,
    ExtractRequest,
    ExtractResponse,
    LeadProfile,
    Qualification,
    QualifyRequest,
    QualifyResponse,
    ReplyInput,
    ReplyRequest,
    ReplyResponse,
)

InputT = TypeVar("InputT")
OutputT = TypeVar("OutputT")


def qualifier(runtime: SaasRuntime) -> LeadQualifier:
    return LeadQualifier(llm=runtime.llm, model=runtime.model_for("qualify"))


def reply_agent(runtime: SaasRuntime) -> ReplyAgent:
    return ReplyAgent(llm=runtime.llm, model=runtime.model_for("reply"))


def extractor(runtime: SaasRuntime, *, default_region: str) -> EntityExtractor:
    return EntityExtractor(
        llm=runtime.llm, model=runtime.model_for("extract"), default_region=default_region
    )


async def run_agent(
    runtime: SaasRuntime,
    ctx: RequestContext,
    agent: AIAgent[InputT, OutputT],
    input: InputT,
    *,
    resource: tuple[str, object | None] = ("agent", None),
) -> AgentOutput[OutputT]:
    """Check the quota, run the agent once, and meter and audit the run."""
    await run_in_threadpool(check_quota, runtime, ctx)
    output = await agent.process(ctx, input)
    await run_in_threadpool(record_run, runtime, ctx, output, resource)
    return output


def check_quota(runtime: SaasRuntime, ctx: RequestContext) -> None:
    with runtime.tenant_db(ctx.tenant) as db:
        usage.ensure_quota(db, monthly_runs=runtime.monthly_agent_runs(ctx.subscription_tier))


def record_run(
    runtime: SaasRuntime,
    ctx: RequestContext,
    output: AgentOutput[Any],
    resource: tuple[str, object | None],
) -> None:
    tokens = output.usage
    resource_type, resource_id = resource
    with runtime.tenant_db(ctx.tenant) as db:
        usage.record_run(
            db,
            agent=output.agent,
            provider=output.provider,
            model=output.model,
            prompt_tokens=tokens.prompt_tokens if tokens else 0,
            completion_tokens=tokens.completion_tokens if tokens else 0,
            cost_usd=tokens.cost_usd if tokens else None,
        )
        audit.record(
            db,
            ctx,
            action=f"agent.{output.agent}",
            resource_type=resource_type,
            resource_id=resource_id,
            details={
                "provider": output.provider,
                "model": output.model,
                "fallback": output.fallback,
                "prompt_version": output.prompt_version,
                # What the model was asked and answered, and the values it invented.
                "llm_attempts": output.extra.get("llm_attempts", []),
                "dropped": output.extra.get("dropped", []),
            },
        )
        db.commit()


async def qualify(
    runtime: SaasRuntime, ctx: RequestContext, body: QualifyRequest
) -> QualifyResponse:
    profile = body.lead
    if body.lead_id is not None:
        profile = await run_in_threadpool(lead_profile, runtime, ctx, body.lead_id)
    assert profile is not None
    output = await run_agent(
        runtime, ctx, qualifier(runtime), profile, resource=("lead", body.lead_id)
    )
    result: Qualification = output.value
    if body.lead_id is not None:
        await run_in_threadpool(save_qualification, runtime, ctx, body.lead_id, result)
    return QualifyResponse(
        **_run_info(output),
        **result.model_dump(),
        criteria_sources=output.extra["sources"],
        lead_id=body.lead_id,
    )


async def extract(
    runtime: SaasRuntime, ctx: RequestContext, body: ExtractRequest, *, default_region: str
) -> ExtractResponse:
    """Phone numbers without a country code are read in `default_region` (Assessment 1's)."""
    agent = extractor(runtime, default_region=default_region)
    output = await run_agent(runtime, ctx, agent, body.text)
    return ExtractResponse(
        **_run_info(output),
        fields=output.value,
        field_sources=output.extra["sources"],
        notes=output.extra["notes"],
    )


async def reply(runtime: SaasRuntime, ctx: RequestContext, body: ReplyRequest) -> ReplyResponse:
    lead, sender = await run_in_threadpool(reply_context, runtime, ctx, body.lead_id)
    agent_input = ReplyInput(thread=body.thread, lead=lead, sender=sender)
    output = await run_agent(
        runtime, ctx, reply_agent(runtime), agent_input, resource=("lead", body.lead_id)
    )
    return ReplyResponse(**_run_info(output), reply=output.value, lead_id=body.lead_id)


def lead_profile(runtime: SaasRuntime, ctx: RequestContext, lead_id: uuid.UUID) -> LeadProfile:
    """What the tenant knows about one of its leads (404 for anyone else's)."""
    with runtime.tenant_db(ctx.tenant) as db:
        return LeadProfile.model_validate(leads.get_lead(db, lead_id).model_dump())


def reply_context(
    runtime: SaasRuntime, ctx: RequestContext, lead_id: uuid.UUID | None
) -> tuple[LeadProfile | None, str]:
    with runtime.tenant_db(ctx.tenant) as db:
        lead = leads.get_lead(db, lead_id) if lead_id else None
        profile = LeadProfile.model_validate(lead.model_dump()) if lead else None
        return profile, f"The {current_tenant(db).name} team"


def save_qualification(
    runtime: SaasRuntime, ctx: RequestContext, lead_id: uuid.UUID, result: Qualification
) -> None:
    with runtime.tenant_db(ctx.tenant) as db:
        lead = leads.get_lead(db, lead_id)
        leads.record_qualification(lead, score=result.score, reasons=result.reasons)
        db.session.add(lead)
        db.commit()


def _run_info(output: AgentOutput[Any]) -> dict[str, Any]:
    return AgentRunPublic.model_validate(output, from_attributes=True).model_dump()
