"""Retries with exponential backoff for transient network errors.

Transient: timeouts, dropped connections, HTTP 5xx and 429, S3 throttling. Anything
else (404, 403, a refused index) is permanent and reported at once as one line.
Tuned by `$MADATA_RETRIES` (attempts, default 5), `$MADATA_BACKOFF` (first wait in
seconds, default 1, doubled each time, at most 30) and `$MADATA_TIMEOUT` (seconds a
connection or a read may stall, default 30).
"""

from __future__ import annotations

import os
import random
import time
from typing import Callable, TypeVar

from madatasets.errors import MadataError

T = TypeVar("T")


class TransientError(MadataError):
    """A failure worth retrying (the next attempt resumes where this one stopped). A
    MadataError too, so that one escaping a retry loop is still one line, not a traceback."""


def _number(name: str, default: float, minimum: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise MadataError(f"${name}={raw!r} is not a number; valid: a number >= {minimum:g}") from None
    if value < minimum:
        raise MadataError(f"${name}={raw!r} is below {minimum:g}")
    return value


def timeout() -> float:
    return _number("MADATA_TIMEOUT", 30.0, 0.01)


def attempts() -> int:
    return int(_number("MADATA_RETRIES", 5, 1))


def with_retries(action: Callable[[], T], what: str, hint: str = "") -> T:
    """`action()`, retried on TransientError with backoff; MadataError after the last attempt
    ('<what>: <error> (gave up after N attempts<hint>)')."""
    first_wait = _number("MADATA_BACKOFF", 1.0, 0.0)
    tries = attempts()
    for attempt in range(tries):
        try:
            return action()
        except TransientError as error:
            if attempt == tries - 1:
                plural = "s" if tries > 1 else ""
                raise MadataError(f"{what}: {error} (gave up after {tries} attempt{plural}{hint})") from None
            # Jitter keeps many clients from retrying in lockstep against a struggling server.
            time.sleep(min(30.0, first_wait * 2 ** attempt) * (0.5 + random.random() / 2))
    raise AssertionError("unreachable")
