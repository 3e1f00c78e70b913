"""Prometheus metrics shared by the whole app, exposed at `GET /metrics`."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
AI_STEP_RUNS = Counter(
    "ai_step_runs_total",
    "AI step executions by step, provider and outcome",
    ["step", "provider", "outcome"],
)
LLM_TOKENS = Counter("llm_tokens_total", "Tokens used by real LLM calls", ["model", "kind"])
LLM_COST = Counter("llm_cost_usd_total", "Estimated LLM cost in USD", ["model"])
VECTOR_SEARCH_LATENCY = Histogram(
    "vector_search_duration_seconds",
    "Vector-store similarity search latency",
    ["store"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
