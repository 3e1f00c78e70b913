"""A short load check: a few concurrent clients on the two busiest endpoints.

Bounded in count (CLIENTS × REQUESTS) and in time (TIME_BUDGET_SECONDS per endpoint: clients
stop starting new requests once it is spent). Localhost only. It asserts behaviour under
concurrency (every request answered correctly, no lost or merged leads) and records p50/p99
latency for the report; SPEC §5 keeps speed targets in `bench/`, so latency is reported, not
asserted.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.contract.helpers import A1, A2, Api, describe, fail

pytestmark = pytest.mark.criterion("load")

CLIENTS = 4
REQUESTS = 25
TIME_BUDGET_SECONDS = 20.0
QUESTIONS = (
    "What year was Acme founded?",
    "Who is the CEO of Acme?",
    "How much does the Growth plan cost?",
    "What is the capital of France?",
)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _run(
    api: Api, send: Callable[[int, int], httpx.Response]
) -> tuple[list[float], list[httpx.Response], float]:
    deadline = time.monotonic() + TIME_BUDGET_SECONDS

    def client(number: int) -> list[tuple[float, httpx.Response]]:
        results = []
        for index in range(REQUESTS):
            if time.monotonic() > deadline:
                break
            started = time.perf_counter()
            response = send(number, index)
            results.append((time.perf_counter() - started, response))
        return results

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        batches = list(pool.map(client, range(CLIENTS)))
    elapsed = time.perf_counter() - started
    pairs = [pair for batch in batches for pair in batch]
    return [seconds for seconds, _ in pairs], [response for _, response in pairs], elapsed


def _record(
    grade_metric: Callable[..., None], name: str, latencies: list[float], elapsed: float
) -> None:
    detail = f"{len(latencies)} requests, {CLIENTS} clients, {len(latencies) / elapsed:.1f} req/s"
    ms = [seconds * 1000 for seconds in latencies]
    grade_metric(f"{name}_p50_ms", round(statistics.median(ms), 1), unit="ms", detail=detail)
    grade_metric(f"{name}_p99_ms", round(_percentile(ms, 0.99), 1), unit="ms", detail=detail)


@pytest.fixture(autouse=True)
def _localhost_only(is_localhost: bool) -> None:
    if not is_localhost:
        pytest.skip("the load check runs against localhost (or in-process) only")


@pytest.mark.assessment1
def test_concurrent_lead_posts_are_all_stored(api: Api, grade_metric: Callable[..., None]) -> None:
    def send(client: int, index: int) -> httpx.Response:
        message = f"Load check {client}-{index}: please send a quote for {index + 5} seats."
        return api.post(f"{A1}/leads", json={"message": message})

    latencies, responses, elapsed = _run(api, send)
    _record(grade_metric, "leads_post", latencies, elapsed)
    bad = [describe(r, 120) for r in responses if r.status_code != 201]
    if bad:
        fail(f"POST {A1}/leads under {CLIENTS} clients: {len(bad)} not 201, e.g. {bad[:3]}")
    ids = [r.json()["id"] for r in responses]
    assert len(set(ids)) == len(ids), "two concurrent posts were stored as one lead"
    assert len(responses) >= CLIENTS, "the time budget ran out before each client finished one"


@pytest.mark.assessment2
def test_concurrent_chats_all_answer(api: Api, grade_metric: Callable[..., None]) -> None:
    def send(client: int, index: int) -> httpx.Response:
        return api.post(f"{A2}/chat", json={"query": QUESTIONS[(client + index) % len(QUESTIONS)]})

    latencies, responses, elapsed = _run(api, send)
    _record(grade_metric, "chat_post", latencies, elapsed)
    bad = [describe(r, 120) for r in responses if r.status_code != 200]
    if bad:
        fail(f"POST {A2}/chat under {CLIENTS} clients: {len(bad)} not 200, e.g. {bad[:3]}")
    refusals = {r.json()["answer"] for r in responses if r.json()["refused"]}
    assert len(refusals) <= 1, f"the refusal changed under load: {refusals}"
