"""Timing helper shared by the benchmark scripts."""

from __future__ import annotations

import argparse
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


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1 (a one-line usage error otherwise)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value
