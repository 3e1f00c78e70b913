"""POST /chat/stream: Server-Sent Events, heartbeats, and stopping when the client leaves."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator

import pytest
from fastapi.testclient import TestClient

from .helpers import API, REFUSAL, sse_events, stream_chat

streaming = importlib.import_module("assessments.02_rag_chatbot.streaming")


def test_stream_sends_tokens_then_a_done_event_with_the_full_response(
    sample_client: TestClient,
) -> None:
    headers, events = stream_chat(sample_client, query="What does the Starter plan cost per month?")

    assert headers["content-type"].startswith("text/event-stream")
    assert headers["x-accel-buffering"] == "no"
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "done" and set(kinds[:-1]) == {"token"} and len(kinds) > 2
    done = events[-1][1]
    assert "".join(data["text"] for kind, data in events if kind == "token") == done["answer"]
    assert "Plan: Starter" in done["answer"]
    assert done["sources"] and done["confidence"] > 0 and done["refused"] is False
    assert done["session_id"]


def test_streamed_turn_is_stored_like_a_chat_turn(sample_client: TestClient) -> None:
    _, events = stream_chat(sample_client, query="Who is the CEO of Acme?")
    done = events[-1][1]

    history = sample_client.get(f"{API}/sessions/{done['session_id']}/messages").json()["data"]

    assert [m["role"] for m in history] == ["user", "assistant"]
    assert history[1]["content"] == done["answer"]


def test_streamed_refusal_is_the_exact_refusal(sample_client: TestClient) -> None:
    _, events = stream_chat(sample_client, query="How do I bake sourdough bread at home?")

    done = events[-1][1]
    assert done["answer"] == REFUSAL and done["refused"] is True and done["sources"] == []


def test_stream_with_rewrite_streams_the_friendlier_answer(sample_client: TestClient) -> None:
    _, events = stream_chat(
        sample_client, query="What does the Starter plan cost per month?", rewrite=True
    )

    done = events[-1][1]
    assert done["rewritten"] is True and "Plan: Starter" in done["answer"]


def test_query_parameter_form_streams_too(sample_client: TestClient) -> None:
    with sample_client.stream(
        "POST", f"{API}/chat/stream", params={"query": "Who is the CEO of Acme?"}
    ) as response:
        response.read()
        events = sse_events(response)

    assert events[-1][0] == "done"


async def _slow_tokens(delays: list[float], closed: list[bool]) -> AsyncIterator[str]:
    try:
        for delay in delays:
            await asyncio.sleep(delay)
            yield streaming.sse_event("token", {"text": "x"})
    finally:
        closed.append(True)


@pytest.mark.anyio
async def test_heartbeat_comment_is_sent_while_the_answer_is_slow() -> None:
    closed: list[bool] = []

    async def connected() -> bool:
        return False

    relayed = [
        event
        async for event in streaming.with_heartbeat(
            _slow_tokens([0.0, 0.25], closed), is_disconnected=connected, heartbeat_seconds=0.05
        )
    ]

    assert relayed[0].startswith("event: token")
    assert streaming.HEARTBEAT in relayed
    assert relayed[-1].startswith("event: token")
    assert closed == [True]


@pytest.mark.anyio
async def test_generation_stops_when_the_client_disconnects() -> None:
    closed: list[bool] = []
    checks = 0

    async def disconnects_after_two_events() -> bool:
        nonlocal checks
        checks += 1
        return checks > 2

    relayed = [
        event
        async for event in streaming.with_heartbeat(
            _slow_tokens([0.01] * 100, closed),
            is_disconnected=disconnects_after_two_events,
            heartbeat_seconds=1,
        )
    ]

    assert len(relayed) == 2
    assert closed == [True], "the producer (the LLM stream) is closed, not left running"
