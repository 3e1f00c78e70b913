"""The live suite's timing of each AI step, printed at the end of the run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    step: str
    seconds: float
    provider: str


TIMINGS: list[Timing] = []


@contextmanager
def timed(step: str) -> Iterator[dict[str, str]]:
    """Time one AI step; set `["provider"]` on the yielded dict to say who answered."""
    seen = {"provider": "?"}
    started = time.perf_counter()
    try:
        yield seen
    finally:
        TIMINGS.append(Timing(step, time.perf_counter() - started, seen["provider"]))
