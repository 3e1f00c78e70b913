"""A circuit breaker: stop calling a provider that keeps failing, try again after a cool-down."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from core.exceptions import LLMException

CircuitState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Closed → open after N consecutive failed calls → half-open after a cool-down.

    Half-open lets one trial call through: success closes, failure re-opens.
    """

    def __init__(
        self, *, failure_threshold: int, reset_seconds: float, clock: Callable[[], float]
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> CircuitState:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.reset_seconds:
            return "half_open"
        return "open"

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def before_call(self) -> None:
        state = self.state
        if state == "open" or (state == "half_open" and self._trial_running):
            retry_in = max(0.0, self.reset_seconds - (self._clock() - (self._opened_at or 0.0)))
            raise LLMException(
                "The LLM provider is failing; calls are paused for a cool-down",
                code="llm_circuit_open",
                status_code=503,
                details={"retry_in_seconds": round(retry_in, 3)},
            )
        if state == "half_open":
            self._trial_running = True

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_running = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._trial_running or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
        self._trial_running = False

    def release(self) -> None:
        """End a call that neither succeeded nor failed (e.g. cancelled)."""
        self._trial_running = False
