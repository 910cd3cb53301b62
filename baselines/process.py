"""Process-wide CPU memory settings that make batched (agent-stacked) training faster (the harness sets them).

A stacked update allocates activations of N agents at once, e.g. (2N, B*K, 64)
floats for twin critics on K sampled actions: tens of MB per tensor. glibc's
malloc serves blocks that large with a fresh mmap and unmaps them on free, so
every such tensor is first-touched page by page again (thousands of page faults
per update, each expensive in a VM), and that cost grows with N. A per-agent loop
allocates N times smaller tensors, which malloc keeps reusing from its heap.
Keeping freed memory in the heap removes that penalty; it changes no numbers.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# glibc mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4


def keep_freed_memory() -> bool:
    """Serve large tensors from malloc's heap and never return freed memory to the OS; True if applied.

    Only glibc (Linux) supports this; elsewhere it does nothing and returns False.
    The process keeps its peak memory reserved afterwards, which a training
    process reaches in its first updates anyway.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False                    # not glibc (e.g. musl has no mallopt)
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    applied = mallopt(_M_MMAP_MAX, 0)                       # no mmap-per-allocation: reuse heap blocks
    applied &= mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)        # never shrink the heap on free
    applied &= mallopt(_M_TOP_PAD, 64 << 20)                # grow it in 64 MiB steps
    return bool(applied)
