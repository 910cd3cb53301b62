"""Training speed of every baseline: updates/s with agents batched vs a per-agent loop of the same update.

    python benchmarks/train_speed.py            # batch 1024, 20 timed updates per algorithm
    python benchmarks/train_speed.py --quick    # batch 256, 5 timed updates, fewer algorithms

The per-agent-loop version is the same algorithm with every stacked network
replaced by one nn.Sequential per agent run in a Python loop
(baselines/core/reference.py). Before timing, both versions train 2 updates from
the same seed and their parameters must agree to --tolerance.
Uses a small random-tier dataset collected into a temporary store unless --dataset
and --store name an existing one. Single-threaded by default (--threads).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from baselines.algorithms import ALGORITHMS  # noqa: E402
from baselines.core.reference import build, compare_update, loop_over_agents  # noqa: E402
from baselines.core.replay import OfflineReplay  # noqa: E402


def updates_per_second(algorithm, generator, replay: OfflineReplay, batch_size: int, updates: int) -> float:
    for _ in range(2):     # warm-up: allocator, Adam state
        algorithm.update(replay.sample(batch_size, generator))
    start = time.perf_counter()
    for _ in range(updates):
        algorithm.update(replay.sample(batch_size, generator, algorithm.config.independent_batches))
    return updates / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="batch 256, 5 timed updates, bc/itd3/omar only")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--updates", type=int, default=20, help="timed updates per algorithm and version")
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS))
    parser.add_argument("--critic", default="decentralized", choices=("decentralized", "centralized"))
    parser.add_argument("--scenario", default="mpe-spread-3")
    parser.add_argument("--dataset", default=None, help="an existing dataset id (with --store)")
    parser.add_argument("--store", default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--json", dest="json_path", default=None, help="also write the results here")
    args = parser.parse_args()
    if args.quick:
        args.batch, args.updates = 256, 5
        if args.algorithms == ",".join(ALGORITHMS):
            args.algorithms = "bc,itd3,omar"
    torch.set_num_threads(args.threads)

    from madatasets.dataset import load
    with tempfile.TemporaryDirectory() as scratch:
        if args.dataset is None:
            from collectors.collect import collect
            collect(args.scenario, "random", steps=2000, store=Path(scratch) / "store", progress=False)
            dataset = load(f"{args.scenario}/random-v0", Path(scratch) / "store")
        else:
            dataset = load(args.dataset, args.store)
        replay = OfflineReplay.from_dataset(dataset, joint=True)
        critic = args.critic
        print(f"dataset {dataset.id}: {dataset.n_agents} agents, batch {args.batch}, {args.updates} timed updates, "
              f"{args.threads} thread(s), critic {critic}")
        print(f"{'algorithm':<10} {'batched upd/s':>14} {'looped upd/s':>13} {'speed-up':>9} {'max |diff|':>11}")
        rows = []
        for name in args.algorithms.split(","):
            this_critic = "decentralized" if name == "bc" else critic
            difference = compare_update(name, dataset, replay, critic=this_critic, batch_size=64, updates=2)
            if difference > args.tolerance:
                raise SystemExit(f"{name}: batched and looped updates differ by {difference:.2e} "
                                 f"> tolerance {args.tolerance:.0e}")
            batched, generator = build(name, dataset, replay, 0, this_critic, batch_size=args.batch)
            fast = updates_per_second(batched, generator, replay, args.batch, args.updates)
            looped, generator = build(name, dataset, replay, 0, this_critic, batch_size=args.batch)
            slow = updates_per_second(loop_over_agents(looped), generator, replay, args.batch, args.updates)
            rows.append({"algorithm": name, "critic": this_critic, "batched_updates_per_s": fast,
                         "looped_updates_per_s": slow, "speedup": fast / slow, "max_abs_difference": difference})
            print(f"{name:<10} {fast:>14.1f} {slow:>13.1f} {fast / slow:>8.2f}x {difference:>11.1e}")
        if args.json_path:
            Path(args.json_path).write_text(json.dumps({"batch": args.batch, "updates": args.updates,
                                                        "threads": args.threads, "dataset": dataset.id,
                                                        "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
