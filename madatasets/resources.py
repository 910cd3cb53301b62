"""Up-front resource checks: refuse a collection that cannot fit before rolling it out.

A collection holds its episodes and then the assembled arrays in memory (about
twice the raw bytes at the peak) and writes at most the raw bytes to disk (the
codecs only shrink them, docs/performance.md), so both are known from the
scenario's shapes and the step budget before the first step.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from madatasets.errors import MadataError
from madatasets.scenarios import ScenarioSpec

# Episodes, then their concatenation, live at once while a collection is assembled.
MEMORY_COPIES = 2


def raw_bytes_per_step(spec: ScenarioSpec) -> int:
    """Bytes of every stored array per environment step (final rows counted once per step:
    an upper bound for episodes of one step)."""
    n = spec.n_agents
    per_step = 4 * n * spec.obs_dim + 4 * n * spec.act_dim + 4 * n + 2 * n + 4 * spec.state_dim + 2 * n
    per_episode = 8 + 4 * n * spec.obs_dim + 4 * spec.state_dim
    if spec.discrete:
        # Masks are bools (T, N, A), within the 4 n A counted for actions; finals add masks and `won`.
        per_episode += n * spec.act_dim + 1
    return per_step + per_episode


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.1f} GiB"


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo, in bytes (None where there is none)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_collection_fits(spec: ScenarioSpec, total_steps: int, store_root: Path, flag: str = "--env-steps",
                          memory: bool = True) -> None:
    """Raise a one-line MadataError when `total_steps` cannot fit on disk (or, with
    `memory`, for a collection assembled in memory, in memory)."""
    per_step = raw_bytes_per_step(spec)
    needed_disk = total_steps * per_step
    existing = store_root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    if needed_disk > free:
        raise MadataError(f"{flag} {total_steps:,} needs up to {_gib(needed_disk)} on disk for {spec.name} "
                          f"({per_step} bytes per step); {existing} has {_gib(free)} free: collect at most "
                          f"{free // per_step:,} steps or free some space")
    if not memory:
        return
    available = available_memory()
    needed_memory = MEMORY_COPIES * total_steps * per_step
    if available is not None and needed_memory > available:
        raise MadataError(f"{flag} {total_steps:,} needs about {_gib(needed_memory)} of memory to collect "
                          f"{spec.name}; {_gib(available)} is available: collect at most "
                          f"{available // (MEMORY_COPIES * per_step):,} steps per dataset")
