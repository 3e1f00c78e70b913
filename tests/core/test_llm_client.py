"""The real-LLM client, exercised through the real `openai` SDK over an httpx mock transport.

Nothing here reaches the network: a scripted fake of the chat completions
endpoint answers every request and records it, so each test can assert what
was sent and how many times.
"""

from __future__ import annotations

import json
from typing import Literal

import anyio
import httpx
import pytest
from pydantic import BaseModel
from structlog.testing import capture_logs

from core.config import Settings
from core.exceptions import LLMException
from core.llm_client import LLMClient, create_llm_client
from core.llm_result import estimate_cost
from tests.support import chat_completion, fake_openai_key

API_KEY = fake_openai_key()

pytestmark = [pytest.mark.core, pytest.mark.anyio]

BASE_URL = "http://llm.test/v1"
DATED_MINI = "gpt-4o-mini-2024-07-18"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class LeadIntent(BaseModel):
    intent: Literal["Sales", "Support", "Partnership"]
    confidence: float


Reply = httpx.Response | type[httpx.TransportError]


class FakeChatServer:
    """Answers chat completion requests from a script; the last reply repeats."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, type):
            raise reply("simulated transport failure", request=request)
        return reply

    def body(self, index: int) -> dict:
        return json.loads(self.requests[index].content)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "OPENAI_API_KEY": API_KEY,
        "OPENAI_BASE_URL": BASE_URL,
        "OPENAI_CHAT_MODEL": "gpt-4o-mini",
        "LLM_PROVIDER": "auto",
        "LLM_MAX_ATTEMPTS": 3,
        "LLM_RETRY_WAIT_INITIAL_SECONDS": 0,
        "LLM_RETRY_WAIT_MAX_SECONDS": 0,
        "LLM_CIRCUIT_FAILURE_THRESHOLD": 3,
        "LLM_CIRCUIT_RESET_SECONDS": 30,
        "LLM_STRUCTURED_OUTPUT": "json_schema",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def make_client(
    server: FakeChatServer, *, clock: FakeClock | None = None, **overrides: object
) -> LLMClient:
    http_client = httpx.AsyncClient(transport=httpx.MockTransport(server.handle))
    settings = make_settings(**overrides)
    return LLMClient(settings, http_client=http_client, clock=clock or FakeClock())


def chat_reply(
    content: str | None,
    *,
    model: str = DATED_MINI,
    prompt_tokens: int = 1000,
    completion_tokens: int = 200,
) -> httpx.Response:
    return chat_completion(
        content, model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
    )


def error_reply(
    status: int,
    *,
    message: str = "simulated error",
    code: str | None = None,
    type_: str = "server_error",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    error = {"message": message, "type": type_, "param": None, "code": code}
    return httpx.Response(status, json={"error": error}, headers=headers)


def sse_reply(*deltas: str, model: str = DATED_MINI) -> httpx.Response:
    def chunk(choices: list, usage: dict | None = None) -> str:
        payload = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": model,
            "choices": choices,
            "usage": usage,
        }
        return f"data: {json.dumps(payload)}\n\n"

    events = [chunk([{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}])]
    events += [
        chunk([{"index": 0, "delta": {"content": d}, "finish_reason": None}]) for d in deltas
    ]
    events.append(chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    events.append(chunk([], {"prompt_tokens": 50, "completion_tokens": 3, "total_tokens": 53}))
    events.append("data: [DONE]\n\n")
    return httpx.Response(
        200, content="".join(events).encode(), headers={"content-type": "text/event-stream"}
    )


GOOD_JSON = '{"intent": "Sales", "confidence": 0.92}'


async def classify(client: LLMClient):
    return await client.complete_json(
        system="Classify the lead's intent.",
        user="Hi, I'm Jane (jane@example.com), we'd like a quote for 50 seats.",
        schema=LeadIntent,
    )


async def test_complete_json_parses_answer_into_model_with_usage_and_cost():
    server = FakeChatServer(chat_reply(GOOD_JSON))

    result = await classify(make_client(server))

    assert result.value == LeadIntent(intent="Sales", confidence=0.92)
    assert result.raw == GOOD_JSON
    assert result.model == DATED_MINI
    assert result.provider == "openai"
    assert (result.attempts, result.repaired) == (1, False)
    assert result.usage.prompt_tokens == 1000
    assert result.usage.completion_tokens == 200
    assert result.usage.total_tokens == 1200
    assert result.usage.cost_usd == pytest.approx((1000 * 0.15 + 200 * 0.60) / 1_000_000)


async def test_complete_json_sends_json_schema_structured_output_request():
    server = FakeChatServer(chat_reply(GOOD_JSON))

    await classify(make_client(server))

    request = server.requests[0]
    assert str(request.url) == f"{BASE_URL}/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    body = server.body(0)
    assert body["model"] == "gpt-4o-mini"
    assert body["temperature"] == 0.0
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "LeadIntent",
            "schema": LeadIntent.model_json_schema(),
            "strict": False,
        },
    }


async def test_rate_limited_request_is_retried_then_succeeds():
    server = FakeChatServer(error_reply(429, code="rate_limit_exceeded"), chat_reply(GOOD_JSON))

    result = await classify(make_client(server))

    assert len(server.requests) == 2
    assert result.attempts == 2
    assert result.value.intent == "Sales"


async def test_retry_after_header_is_capped_by_the_max_wait():
    server = FakeChatServer(
        error_reply(429, code="rate_limit_exceeded", headers={"retry-after": "3600"}),
        chat_reply(GOOD_JSON),
    )

    with anyio.fail_after(5):
        result = await classify(make_client(server))

    assert result.attempts == 2


async def test_server_errors_exhaust_retries_and_raise_llm_unavailable():
    server = FakeChatServer(error_reply(500))

    with pytest.raises(LLMException) as caught:
        await classify(make_client(server, LLM_MAX_ATTEMPTS=4))

    assert len(server.requests) == 4
    assert caught.value.code == "llm_unavailable"
    assert caught.value.details["error_type"] == "InternalServerError"
    assert caught.value.details["status_code"] == 500
    assert caught.value.details["attempts"] == 4


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "llm_bad_request"),
        (401, "llm_auth_failed"),
        (403, "llm_auth_failed"),
        (404, "llm_bad_request"),
    ],
)
async def test_client_errors_are_not_retried(status: int, code: str):
    server = FakeChatServer(error_reply(status, type_="invalid_request_error"))

    with pytest.raises(LLMException) as caught:
        await classify(make_client(server))

    assert len(server.requests) == 1
    assert caught.value.code == code


async def test_auth_failure_never_exposes_the_api_key():
    server = FakeChatServer(
        error_reply(401, message=f"Incorrect API key provided: {API_KEY}.", code="invalid_api_key")
    )

    with pytest.raises(LLMException) as caught:
        await classify(make_client(server))

    assert API_KEY not in caught.value.message
    assert API_KEY not in json.dumps(caught.value.details)
    assert caught.value.details["provider_code"] == "invalid_api_key"


async def test_insufficient_quota_is_not_retried():
    server = FakeChatServer(
        error_reply(429, code="insufficient_quota", type_="insufficient_quota"),
        chat_reply(GOOD_JSON),
    )

    with pytest.raises(LLMException) as caught:
        await classify(make_client(server))

    assert len(server.requests) == 1
    assert caught.value.code == "llm_quota_exceeded"


@pytest.mark.parametrize(
    ("failure", "code", "error_type"),
    [
        (httpx.ReadTimeout, "llm_timeout", "APITimeoutError"),
        (httpx.ConnectError, "llm_unavailable", "APIConnectionError"),
    ],
)
async def test_transport_failures_are_retried_then_raise(
    failure: type[httpx.TransportError], code: str, error_type: str
):
    server = FakeChatServer(failure)

    with pytest.raises(LLMException) as caught:
        await classify(make_client(server))

    assert len(server.requests) == 3
    assert caught.value.code == code
    assert caught.value.details["error_type"] == error_type


async def test_timeout_then_success_returns_the_answer():
    server = FakeChatServer(httpx.ReadTimeout, chat_reply(GOOD_JSON))

    result = await classify(make_client(server))

    assert len(server.requests) == 2
    assert result.value.confidence == 0.92


async def test_invalid_json_is_repaired_with_one_more_request():
    bad = '{"intent": "Sales", "confidence": '
    server = FakeChatServer(chat_reply(bad), chat_reply(GOOD_JSON))

    result = await classify(make_client(server))

    assert len(server.requests) == 2
    assert result.repaired is True
    assert result.attempts == 2
    assert result.value == LeadIntent(intent="Sales", confidence=0.92)
    assert result.usage.total_tokens == 2400
    repair_messages = server.body(1)["messages"]
    assert repair_messages[-2] == {"role": "assistant", "content": bad}
    assert repair_messages[-1]["role"] == "user"
    assert "JSON" in repair_messages[-1]["content"]
    assert server.body(1)["response_format"]["type"] == "json_schema"


async def test_schema_violation_is_repaired_with_the_validation_error():
    server = FakeChatServer(
        chat_reply('{"intent": "Shopping", "confidence": 0.5}'), chat_reply(GOOD_JSON)
    )

    result = await classify(make_client(server))

    assert result.repaired is True
    assert "intent" in server.body(1)["messages"][-1]["content"]


async def test_invalid_output_twice_raises_llm_invalid_output():
    server = FakeChatServer(chat_reply("not json at all"), chat_reply('{"intent": "Sales"}'))

    with pytest.raises(LLMException) as caught:
        await classify(make_client(server))

    assert len(server.requests) == 2
    assert caught.value.code == "llm_invalid_output"


# What real servers answer to `response_format: {"type": "json_schema"}` when they lack it.
LLAMA_CPP_PYTHON_REFUSAL = (
    "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
    "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema', "
    "'ctx': {'expected': \"'text' or 'json_object'\"}}"
)
JSON_SCHEMA_REFUSALS = {
    # llama-cpp-python's server: its route handler turns the request model's error into a 500.
    "llama-cpp-python 500": lambda: error_reply(
        500, message=LLAMA_CPP_PYTHON_REFUSAL, type_="internal_server_error"
    ),
    "the same 500 with only the message": lambda: httpx.Response(
        500, text="Input should be 'text' or 'json_object'"
    ),
    "an OpenAI-style 400": lambda: error_reply(
        400,
        message="response_format type 'json_schema' is not supported by this server",
        type_="invalid_request_error",
    ),
    "a FastAPI 422": lambda: httpx.Response(
        422,
        json={
            "detail": [
                {
                    "type": "literal_error",
                    "loc": ["body", "response_format", "type"],
                    "msg": "Input should be 'text' or 'json_object'",
                }
            ]
        },
    ),
}


@pytest.mark.parametrize("refusal", JSON_SCHEMA_REFUSALS.values(), ids=list(JSON_SCHEMA_REFUSALS))
async def test_json_schema_refusal_is_asked_again_at_once_in_json_mode(refusal):
    server = FakeChatServer(refusal(), chat_reply(GOOD_JSON))
    client = make_client(server, LLM_CIRCUIT_FAILURE_THRESHOLD=1)

    result = await classify(client)

    assert result.value == LeadIntent(intent="Sales", confidence=0.92)
    assert [server.body(i)["response_format"]["type"] for i in range(2)] == [
        "json_schema",
        "json_object",
    ]
    # JSON mode carries no schema, so the system prompt must.
    assert '"confidence"' in server.body(1)["messages"][0]["content"]
    assert client.structured_output == "json_object"
    assert client.circuit.state == "closed"
    assert [(a["mode"], a["outcome"]) for a in result.attempt_log] == [
        ("json_schema", "refused"),
        ("json_object", "ok"),
    ]


async def test_the_refusal_is_remembered_per_server_by_every_client():
    server = FakeChatServer(JSON_SCHEMA_REFUSALS["llama-cpp-python 500"](), chat_reply(GOOD_JSON))
    other_server = FakeChatServer(chat_reply(GOOD_JSON))
    await classify(make_client(server))

    await classify(make_client(server))
    await classify(make_client(other_server, OPENAI_BASE_URL="http://other-llm.test/v1"))

    assert [server.body(i)["response_format"]["type"] for i in range(3)] == [
        "json_schema",
        "json_object",
        "json_object",
    ]
    assert other_server.body(0)["response_format"]["type"] == "json_schema"


async def test_a_server_refusing_json_mode_too_is_a_bad_request_not_an_outage():
    server = FakeChatServer(JSON_SCHEMA_REFUSALS["llama-cpp-python 500"]())
    client = make_client(server, LLM_CIRCUIT_FAILURE_THRESHOLD=1)

    with pytest.raises(LLMException) as caught:
        await classify(client)

    assert caught.value.code == "llm_bad_request"
    assert len(server.requests) == 2
    assert client.circuit.state == "closed"
    assert [a["outcome"] for a in caught.value.attempt_log] == ["refused", "refused"]


async def test_a_server_error_that_names_no_response_format_is_still_retried():
    server = FakeChatServer(error_reply(500, message="CUDA out of memory"), chat_reply(GOOD_JSON))

    result = await classify(make_client(server))

    assert len(server.requests) == 2
    assert [server.body(i)["response_format"]["type"] for i in range(2)] == ["json_schema"] * 2
    assert [a["outcome"] for a in result.attempt_log] == ["failed", "ok"]
    assert result.attempt_log[0]["status_code"] == 500


async def test_answer_missing_a_field_is_asked_again_with_the_pydantic_error():
    server = FakeChatServer(chat_reply('{"intent": "Sales"}'), chat_reply(GOOD_JSON))

    result = await classify(make_client(server))

    assert result.value == LeadIntent(intent="Sales", confidence=0.92)
    assert result.repaired is True
    reask = server.body(1)["messages"][-1]["content"]
    assert "confidence: Field required" in reask
    first, second = result.attempt_log
    assert (first["outcome"], first["error"]) == ("invalid", "confidence: Field required")
    assert first["raw"] == '{"intent": "Sales"}'
    assert second["outcome"] == "ok"


async def test_two_invalid_answers_raise_with_both_attempts_recorded():
    server = FakeChatServer(chat_reply('{"intent": "Sales"}'))

    with pytest.raises(LLMException) as caught:
        await classify(make_client(server))

    assert caught.value.code == "llm_invalid_output"
    assert len(server.requests) == 2
    assert [a["outcome"] for a in caught.value.attempt_log] == ["invalid", "invalid"]


async def test_prose_around_the_json_object_is_ignored():
    server = FakeChatServer(chat_reply(f"Here is the JSON you asked for:\n{GOOD_JSON}\nThanks!"))

    result = await classify(make_client(server))

    assert result.value.intent == "Sales"
    assert len(server.requests) == 1


async def test_requests_use_a_short_connect_and_a_long_read_timeout():
    server = FakeChatServer(chat_reply(GOOD_JSON))
    client = make_client(server, LLM_CONNECT_TIMEOUT_SECONDS=3, LLM_READ_TIMEOUT_SECONDS=300)

    await classify(client)

    timeout = server.requests[0].extensions["timeout"]
    assert (timeout["connect"], timeout["read"]) == (3.0, 300.0)


def test_the_old_timeout_setting_still_sets_the_read_timeout():
    assert make_settings(LLM_TIMEOUT_SECONDS=240).LLM_READ_TIMEOUT_SECONDS == 240
    assert make_settings().LLM_CONNECT_TIMEOUT_SECONDS < make_settings().LLM_READ_TIMEOUT_SECONDS


async def test_text_request_refused_for_its_response_format_is_a_plain_bad_request():
    refusal = error_reply(
        400, message="Unknown field response_format", type_="invalid_request_error"
    )
    server = FakeChatServer(refusal)

    with pytest.raises(LLMException) as caught:
        await make_client(server).complete_text(system="s", user="u")

    assert caught.value.code == "llm_bad_request"
    assert len(server.requests) == 1


async def test_json_object_setting_uses_json_mode_directly():
    server = FakeChatServer(chat_reply(GOOD_JSON))

    await classify(make_client(server, LLM_STRUCTURED_OUTPUT="json_object"))

    assert server.body(0)["response_format"] == {"type": "json_object"}
    assert "JSON" in server.body(0)["messages"][0]["content"]


async def test_circuit_opens_after_consecutive_failures_and_skips_the_network():
    server = FakeChatServer(error_reply(503))
    client = make_client(server, LLM_MAX_ATTEMPTS=2, LLM_CIRCUIT_FAILURE_THRESHOLD=2)

    for _ in range(2):
        with pytest.raises(LLMException):
            await classify(client)
    with pytest.raises(LLMException) as caught:
        await classify(client)

    assert client.circuit.state == "open"
    assert caught.value.code == "llm_circuit_open"
    assert len(server.requests) == 4


async def test_circuit_half_opens_after_cool_down_and_closes_on_success():
    clock = FakeClock()
    server = FakeChatServer(error_reply(503), chat_reply(GOOD_JSON))
    client = make_client(server, clock=clock, LLM_MAX_ATTEMPTS=1, LLM_CIRCUIT_FAILURE_THRESHOLD=1)
    with pytest.raises(LLMException):
        await classify(client)
    assert client.circuit.state == "open"

    clock.now += 30
    assert client.circuit.state == "half_open"
    result = await classify(client)

    assert result.value.intent == "Sales"
    assert client.circuit.state == "closed"
    assert len(server.requests) == 2


async def test_failed_half_open_trial_reopens_the_circuit():
    clock = FakeClock()
    server = FakeChatServer(error_reply(503))
    client = make_client(server, clock=clock, LLM_MAX_ATTEMPTS=1, LLM_CIRCUIT_FAILURE_THRESHOLD=2)
    for _ in range(2):
        with pytest.raises(LLMException):
            await classify(client)

    clock.now += 30
    with pytest.raises(LLMException) as trial:
        await classify(client)
    with pytest.raises(LLMException) as after:
        await classify(client)

    assert trial.value.code == "llm_unavailable"
    assert after.value.code == "llm_circuit_open"
    assert client.circuit.state == "open"
    assert len(server.requests) == 3


async def test_refused_requests_do_not_open_the_circuit():
    server = FakeChatServer(error_reply(400, type_="invalid_request_error"))
    client = make_client(server, LLM_CIRCUIT_FAILURE_THRESHOLD=2)

    for _ in range(3):
        with pytest.raises(LLMException):
            await classify(client)

    assert client.circuit.state == "closed"
    assert len(server.requests) == 3


async def test_complete_text_returns_the_answer_with_usage():
    server = FakeChatServer(chat_reply("Thanks Jane, a colleague will call you today."))

    result = await make_client(server).complete_text(system="Be kind.", user="Call me back.")

    assert result.value == "Thanks Jane, a colleague will call you today."
    assert result.usage.total_tokens == 1200
    assert "response_format" not in server.body(0)
    assert server.body(0)["temperature"] == 0.2


async def test_stream_text_yields_deltas_from_server_sent_events():
    server = FakeChatServer(sse_reply("Hel", "lo", " world"))
    client = make_client(server)

    deltas = [d async for d in client.stream_text(system="Be brief.", user="Say hello.")]

    assert deltas == ["Hel", "lo", " world"]
    assert server.body(0)["stream"] is True
    assert len(server.requests) == 1


async def test_stream_text_retries_before_the_first_token():
    server = FakeChatServer(error_reply(503), sse_reply("Hi"))
    client = make_client(server)

    deltas = [d async for d in client.stream_text(system="Be brief.", user="Say hi.")]

    assert deltas == ["Hi"]
    assert len(server.requests) == 2


class _BrokenAfterFirstEvent(httpx.AsyncByteStream):
    def __init__(self, first_event: bytes) -> None:
        self.first_event = first_event

    async def __aiter__(self):
        yield self.first_event
        raise httpx.ReadTimeout("simulated read timeout mid-stream")


async def test_stream_failure_after_the_first_token_is_not_retried():
    first_event = sse_reply("Hel").content.split(b"\n\n")[1] + b"\n\n"
    broken = httpx.Response(
        200,
        stream=_BrokenAfterFirstEvent(first_event),
        headers={"content-type": "text/event-stream"},
    )
    server = FakeChatServer(broken, sse_reply("never", "sent"))
    client = make_client(server)
    received: list[str] = []

    with pytest.raises(LLMException) as caught:
        async for delta in client.stream_text(system="Be brief.", user="Say hello."):
            received.append(delta)

    assert received == ["Hel"]
    assert caught.value.code == "llm_timeout"
    assert len(server.requests) == 1
    assert caught.value.attempt_log[-1]["outcome"] == "interrupted"


async def test_stream_read_timeout_before_the_first_token_is_retried():
    server = FakeChatServer(httpx.ReadTimeout, sse_reply("Hi"))

    deltas = [d async for d in make_client(server).stream_text(system="s", user="Say hi.")]

    assert deltas == ["Hi"]
    assert len(server.requests) == 2


async def test_stream_text_failure_raises_llm_exception():
    server = FakeChatServer(error_reply(500))
    client = make_client(server)

    with pytest.raises(LLMException) as caught:
        async for _ in client.stream_text(system="Be brief.", user="Say hi."):
            pass

    assert caught.value.code == "llm_unavailable"
    assert len(server.requests) == 3


async def test_one_log_line_per_call_without_prompt_or_answer():
    server = FakeChatServer(chat_reply(GOOD_JSON))

    with capture_logs() as logs:
        await classify(make_client(server))

    calls = [entry for entry in logs if entry["event"] == "llm_call"]
    assert len(calls) == 1
    line = calls[0]
    assert line["operation"] == "complete_json"
    assert line["model"] == DATED_MINI
    assert line["attempts"] == 1
    assert line["usage"] == {"prompt": 1000, "completion": 200, "total": 1200}
    assert line["outcome"] == "ok"
    assert line["latency_ms"] >= 0
    logged = json.dumps(logs, default=str)
    assert "jane@example.com" not in logged
    assert "Sales" not in logged
    assert API_KEY not in logged


async def test_base_url_without_api_key_uses_a_placeholder_key():
    server = FakeChatServer(chat_reply("ok", model="llama3.1:8b"))
    client = make_client(server, OPENAI_API_KEY=None)

    result = await client.complete_text(system="s", user="u")

    assert server.requests[0].headers["authorization"] == "Bearer not-needed"
    assert result.model == "llama3.1:8b"
    assert result.usage.cost_usd is None


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o-mini", 0.15 + 0.60),
        ("gpt-4o-mini-2024-07-18", 0.15 + 0.60),
        ("gpt-4o", 2.50 + 10.00),
        ("gpt-4o-2024-08-06", 2.50 + 10.00),
        ("gpt-4.1-nano-2025-04-14", 0.10 + 0.40),
        ("llama3.1:8b", None),
    ],
)
def test_estimate_cost_uses_the_price_per_million_tokens(model: str, expected: float | None):
    cost = estimate_cost(model=model, prompt_tokens=1_000_000, completion_tokens=1_000_000)

    assert cost == (pytest.approx(expected) if expected is not None else None)


def test_create_llm_client_returns_none_for_the_local_provider():
    assert create_llm_client(make_settings(LLM_PROVIDER="local")) is None
    assert create_llm_client(make_settings(OPENAI_API_KEY=None, OPENAI_BASE_URL=None)) is None


async def test_create_llm_client_returns_a_client_when_openai_is_configured():
    client = create_llm_client(make_settings())

    assert isinstance(client, LLMClient)
    assert client.model == "gpt-4o-mini"
    await client.aclose()
