"""What `madata bench otc` runs: one OTC run per (dataset, seed), every requested variant in each."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from baselines.otc.cli import legacy_assignments, otc_variants, route_assignments
from baselines.otc.config import BACKBONES
from baselines.otc.protocol import OTCRunSpec, run_otc
from madatasets.errors import MadataError


def bench_otc(dataset_ids: Sequence[str], seeds: Sequence[int], updates: int, eval_episodes: int, preset: str,
              critic: str, overrides: Sequence[str], out_dir: str, threads: int, store: str | None, command: str,
              options: dict[str, Any], warn: Callable[[str], None], echo: Callable[[str], None] = print,
              quiet: bool = False) -> list[dict[str, Any]]:
    """Run OTC; `options` are the OTC click options (protocol choices and the deprecated flags)."""
    if critic != "decentralized":
        raise MadataError("otc tunes decentralized agents; valid --critic: decentralized")
    backbone = options.get("backbone") or "bcq"
    if backbone not in BACKBONES:
        raise MadataError(f"unknown --backbone {backbone!r}; valid: {', '.join(BACKBONES)}")
    backbone_overrides, config = route_assignments(backbone, [*legacy_assignments(options, warn), *overrides])
    chosen = otc_variants(options)
    written = []
    for dataset_id in dataset_ids:
        for seed in seeds:
            spec = OTCRunSpec(dataset_id=dataset_id, backbone=backbone, variants=tuple(chosen), seed=seed,
                              updates=updates, eval_episodes=eval_episodes, preset=preset,
                              overrides=backbone_overrides, otc=config, out_dir=out_dir, store=store,
                              threads=threads, command=command, log=None if quiet else echo,
                              requested_seeds=tuple(seeds))
            for result in run_otc(spec):
                final, info = result["final"], result["otc"]
                normalized = "n/a (no reference scores)" if final["normalized"] is None else \
                    f"{final['normalized']:.1f}"
                echo(f"{result['label']} {dataset_id} seed {seed}: return {final['mean_return']:.3f} +- "
                     f"{final['std_return']:.3f}, normalized {normalized}, online steps {info['online_steps_used']} "
                     f"-> {result['path']}")
                written.append(result)
    return written
