"""Up-front resource check: refuse a collection that cannot fit on disk before rolling it out.

Every collection streams to the store shard by shard (memory holds a shard per array
whatever the budget), and writes at most the raw bytes (the codecs only shrink them,
docs/performance.md), so the disk it needs is known from the scenario's shapes and the
step budget before the first step.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from madatasets.errors import MadataError
from madatasets.scenarios import ScenarioSpec

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


def check_collection_fits(spec: ScenarioSpec, total_steps: int, store_root: Path, flag: str = "--env-steps") -> None:
    """Raise a one-line MadataError when `total_steps` cannot fit on disk."""
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
