"""Timing helper shared by the benchmark scripts."""

from __future__ import annotations

import time
from typing import Callable


def best_of(repeats: int, function: Callable[[], object]) -> float:
    """Seconds of the fastest of `repeats` calls (the least disturbed by other load)."""
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        timings.append(time.perf_counter() - start)
    return min(timings)
