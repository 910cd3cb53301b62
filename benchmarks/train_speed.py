"""Training speed of every baseline: updates/s with agents batched vs a per-agent loop of the same update.

    python benchmarks/train_speed.py                     # mpe-spread-3 (3 agents), batch 1024
    python benchmarks/train_speed.py --agents 2,6,12     # synthetic MPE-like data with 2, 6 and 12 agents
    python benchmarks/train_speed.py --quick             # batch 256, 5 timed updates, fewer algorithms

The per-agent-loop version is the same algorithm with every stacked network
replaced by one nn.Sequential per agent run in a Python loop
(benchmarks/reference.py). Before timing, both versions train 2 updates from
the same seed (after a 2-minibatch VAE pretrain for bcq/mabcq) and their
parameters must agree to --tolerance.

Data: a small random-tier dataset collected into a temporary store (or --dataset
with --store), or with --agents an in-memory synthetic dataset per agent count:
random observations (18 per agent), actions (5 per agent), rewards, episodes of
25 steps, the state being all observations, so no simulator is needed. bcq and
mabcq train on each agent's own view of it (PerAgentReplay), as `madata bench` does.
Only `update` is timed (not minibatch sampling, which is the same for both), the
two versions alternating update by update so that load changes hit both alike;
bcq/mabcq first fit their VAEs for 2 minibatches (their pretrain runs once before
training, not per update). Single-threaded by default, and with malloc told to
keep freed memory (baselines/process.py; --default-malloc to compare).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from baselines.algorithms import ALGORITHMS  # noqa: E402
from baselines.core import networks  # noqa: E402
from baselines.process import keep_freed_memory  # noqa: E402
from benchmarks.reference import (build, compare_update, is_decentralized, loop_over_agents,  # noqa: E402
                                  make_replay, unfactored_candidates)
from madatasets.dataset import Dataset  # noqa: E402
from madatasets.scenarios import get_spec  # noqa: E402

DEFAULT_ALGORITHMS = ALGORITHMS + ("bcq", "mabcq")
QUICK_ALGORITHMS = ("bc", "itd3", "omar", "bcq")
# Synthetic data: MPE-like sizes; presets (batch, learning rates, CQL weight) are those of this dataset id.
SYNTHETIC_OBS, SYNTHETIC_ACT, SYNTHETIC_EPISODE, SYNTHETIC_STEPS = 18, 5, 25, 2000
SYNTHETIC_CONFIG_ID = "mpe-spread-3/random-v0"


def synthetic_dataset(agents: int, steps: int = SYNTHETIC_STEPS, seed: int = 0) -> Dataset:
    """A joint-layout Dataset held in memory: N agents, random data of MPE-like sizes, no environment."""
    rng = np.random.default_rng(seed)
    episodes = steps // SYNTHETIC_EPISODE
    steps = episodes * SYNTHETIC_EPISODE
    observations = rng.normal(size=(steps, agents, SYNTHETIC_OBS)).astype(np.float32)
    final_observations = rng.normal(size=(episodes, agents, SYNTHETIC_OBS)).astype(np.float32)
    ends = np.arange(1, episodes + 1, dtype=np.int64) * SYNTHETIC_EPISODE
    truncations = np.zeros((steps, agents), np.float32)
    truncations[ends - 1] = 1.0
    reward = rng.normal(size=(steps, 1)).astype(np.float32)       # shared team reward, like spread's
    arrays = {
        "observations": observations,
        "actions": rng.uniform(-1, 1, size=(steps, agents, SYNTHETIC_ACT)).astype(np.float32),
        "rewards": np.repeat(reward, agents, axis=1),
        "terminations": np.zeros((steps, agents), np.float32),
        "truncations": truncations,
        "states": observations.reshape(steps, -1),
        "behavior_ids": np.zeros((steps, agents), np.int16),
        "episode_ends": ends,
        "final_observations": final_observations,
        "final_states": final_observations.reshape(episodes, -1),
    }
    spec = dataclasses.replace(get_spec("mpe-spread-3"), name=f"synthetic-{agents}",
                               description=f"synthetic data, {agents} agents",
                               agents=tuple(f"agent_{i}" for i in range(agents)),
                               obs_sizes=(SYNTHETIC_OBS,) * agents, act_sizes=(SYNTHETIC_ACT,) * agents,
                               state_dim=SYNTHETIC_OBS * agents)
    # Dataset.__init__ looks the scenario up in the registry; this one is not registered.
    dataset = Dataset.__new__(Dataset)
    dataset.id, dataset.arrays, dataset.spec, dataset.layout = f"synthetic-{agents}/random-v0", arrays, spec, "joint"
    dataset.card = {"scenario": spec.name, "layout": "joint", "total_steps": steps, "total_episodes": episodes}
    return dataset


def prepared(name: str, dataset: Dataset, replay: Any, critic: str, batch: int, looped: bool,
             config_id: str | None) -> tuple[torch.nn.Module, torch.Generator]:
    """The algorithm (batched or looped) after its pretrain (bcq/mabcq: 2 VAE minibatches) and 2 warm-up updates."""
    algorithm, generator = build(name, dataset, replay, 0, critic, config_id, batch_size=batch, vae_updates=2)
    if looped:
        loop_over_agents(algorithm)
    algorithm.pretrain(replay, generator)
    for _ in range(2):     # warm-up: allocator, Adam state
        algorithm.update(replay.sample(batch, generator))
    return algorithm, generator


def updates_per_second(versions: list[tuple[torch.nn.Module, torch.Generator]], replay: Any, batch_size: int,
                       updates: int) -> list[float]:
    """Updates/s of each version, timed in alternation (one update each in turn) so that a change of
    machine load during the measurement affects every version alike."""
    seconds = [0.0] * len(versions)
    for _ in range(updates):
        for index, (algorithm, generator) in enumerate(versions):
            batch = replay.sample(batch_size, generator)
            start = time.perf_counter()
            algorithm.update(batch)
            seconds[index] += time.perf_counter() - start
    return [updates / s for s in seconds]


def run(dataset: Dataset, names: list[str], args: argparse.Namespace, config_id: str | None) -> list[dict[str, Any]]:
    print(f"dataset {dataset.id}: {dataset.n_agents} agents, batch {args.batch}, {args.updates} timed updates, "
          f"{args.threads} thread(s), critic {args.critic}", flush=True)
    print(f"{'algorithm':<10} {'agents':>6} {'batched upd/s':>14} {'looped upd/s':>13} {'speed-up':>9} "
          f"{'max |diff|':>11}", flush=True)
    rows = []
    replays: dict[tuple[bool, str], Any] = {}
    for name in names:
        if dataset.layout != "joint" and not is_decentralized(name):
            print(f"{name:<10} skipped: {dataset.id} has one dataset per agent, {name} trains on joint data")
            continue
        critic = "decentralized" if name == "bc" or is_decentralized(name) else args.critic
        key = (is_decentralized(name), critic)
        if key not in replays:
            replays[key] = make_replay(name, dataset, critic, config_id=config_id)
        replay = replays[key]
        difference = compare_update(name, dataset, replay, critic=critic, batch_size=64, updates=2,
                                    config_id=config_id)
        if difference > args.tolerance:
            # Recorded and reported at the end: one algorithm out of tolerance should not lose the others' rows.
            print(f"{name}: batched and looped updates differ by {difference:.2e} > tolerance {args.tolerance:.0e}")
        versions = [prepared(name, dataset, replay, critic, args.batch, looped, config_id) for looped in (False, True)]
        fast, slow = updates_per_second(versions, replay, args.batch, args.updates)
        del versions
        rows.append({"algorithm": name, "agents": dataset.n_agents, "dataset": dataset.id, "critic": critic,
                     "batched_updates_per_s": fast, "looped_updates_per_s": slow, "speedup": fast / slow,
                     "max_abs_difference": difference})
        print(f"{name:<10} {dataset.n_agents:>6} {fast:>14.2f} {slow:>13.2f} {fast / slow:>8.2f}x "
              f"{difference:>11.1e}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"batch 256, 5 timed updates, {','.join(QUICK_ALGORITHMS)} only")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--updates", type=int, default=20, help="timed updates per algorithm and version")
    parser.add_argument("--algorithms", default=",".join(DEFAULT_ALGORITHMS))
    parser.add_argument("--agents", default=None,
                        help="comma-separated agent counts: synthetic in-memory data instead of a scenario")
    parser.add_argument("--critic", default="decentralized", choices=("decentralized", "centralized"))
    parser.add_argument("--scenario", default="mpe-spread-3")
    parser.add_argument("--dataset", default=None, help="an existing dataset id (with --store)")
    parser.add_argument("--store", default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc malloc as it is (default: keep freed memory, baselines/process.py)")
    parser.add_argument("--group-bytes", type=int, default=None,
                        help="override baselines.core.networks.GROUP_BYTES (0: every stacked network in one call)")
    parser.add_argument("--no-factored-candidates", action="store_true",
                        help="batched version: build the [input, candidate] rows for critics on sampled actions "
                             "instead of computing the first layer's input part once per row "
                             "(benchmarks/reference.py: unfactored_candidates)")
    parser.add_argument("--json", dest="json_path", default=None, help="also write the results here")
    args = parser.parse_args()
    if args.quick:
        args.batch, args.updates = 256, 5
        if args.algorithms == ",".join(DEFAULT_ALGORITHMS):
            args.algorithms = ",".join(QUICK_ALGORITHMS)
    names = args.algorithms.split(",")
    torch.set_num_threads(args.threads)
    kept = False if args.default_malloc else keep_freed_memory()
    if args.group_bytes is not None:
        networks.GROUP_BYTES = args.group_bytes
    factored = not args.no_factored_candidates
    if not factored:
        unfactoring = unfactored_candidates()
        unfactoring.__enter__()        # for the whole process; it ends with it
    print(f"malloc: {'freed memory kept (keep_freed_memory)' if kept else 'default'}; "
          f"GROUP_BYTES {networks.GROUP_BYTES}; factored candidates {factored}; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    loads = [os.getloadavg()[0]]

    rows: list[dict[str, Any]] = []
    if args.agents:
        try:
            counts = [int(part) for part in args.agents.split(",") if part]
        except ValueError:
            raise SystemExit(f"--agents takes comma-separated agent counts like 2,6,12, got {args.agents!r}")
        if not counts or min(counts) < 1:
            raise SystemExit(f"--agents needs positive agent counts, got {args.agents!r}")
        for count in counts:
            rows += run(synthetic_dataset(count), names, args, SYNTHETIC_CONFIG_ID)
    else:
        from madatasets.dataset import load
        with tempfile.TemporaryDirectory() as scratch:
            if args.dataset is None:
                from collectors.collect import collect
                collect(args.scenario, "random", steps=2000, store=Path(scratch) / "store", progress=False)
                dataset = load(f"{args.scenario}/random-v0", Path(scratch) / "store")
            else:
                dataset = load(args.dataset, args.store)
            rows += run(dataset, names, args, None)
    loads.append(os.getloadavg()[0])
    print(f"load average at the end {loads[-1]:.2f}", flush=True)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps({"batch": args.batch, "updates": args.updates,
                                                    "threads": args.threads, "malloc_kept": kept,
                                                    "group_bytes": networks.GROUP_BYTES,
                                                    "factored_candidates": factored,
                                                    "load_average": loads,
                                                    "rows": rows}, indent=2))
    failed = [f"{row['algorithm']} ({row['agents']} agents)" for row in rows
              if row["max_abs_difference"] > args.tolerance]
    if failed:
        raise SystemExit(f"batched and looped updates differ beyond --tolerance {args.tolerance:.0e}: "
                         f"{', '.join(failed)}")


if __name__ == "__main__":
    main()
