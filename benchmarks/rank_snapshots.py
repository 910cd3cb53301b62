"""Re-evaluate the best periodic snapshots of a saved MAPPO/TD3 zoo run on selection episodes,
without training or touching the zoo: where a long run stands (docs/zoo.md, world attempt 12).

    python benchmarks/rank_snapshots.py mpe-world-4v2 RUN_DIR --steps 12000000 [--candidates 10] [--episodes 200] \\
        [key=value ...]

RUN_DIR holds the run's trainer.pkl (copy it first if the run is still training); --steps is at
least its saved step (and no more, or the run trains on); key=value are the TrainConfig fields the
run was started with beyond the scenario's budget (as benchmarks/train_variant.py takes them).
Prints step, periodic mean, selection mean and its standard error, best periodic first.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from collectors.actors import SELECTION_EVAL_SEED
from collectors.behavior import evaluate_actor
from madatasets.errors import MadataError
from train_variant import variant_config  # benchmarks/train_variant.py (the script directory is on sys.path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("overrides", nargs="*", help="TrainConfig field=value")
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--candidates", type=int, default=10)
    parser.add_argument("--episodes", type=int, default=200)
    args = parser.parse_args()
    if not (args.run_dir / "trainer.pkl").is_file():
        parser.exit(2, f"rank_snapshots.py: error: {args.run_dir} holds no trainer.pkl\n")
    try:
        config = variant_config(args.scenario, args.steps, args.overrides)
        if config.algorithm == "mappo":
            from collectors.train_mappo import run_mappo as run
        else:
            from collectors.train_td3 import run_td3 as run
        checkpoints, _, _ = run(config, evaluate=False, progress=False, run_dir=args.run_dir, resume=True)
    except (MadataError, TypeError) as error:     # TypeError: a field TrainConfig does not have
        parser.exit(2, f"rank_snapshots.py: error: {error}\n")
    # a snapshot taken here at the saved step (evaluate=False) has no periodic figure to rank by
    trained = [c for c in checkpoints if not c.before_updates and c.eval_mean is not None]
    for checkpoint in sorted(trained, key=lambda c: c.eval_mean, reverse=True)[: args.candidates]:
        returns = evaluate_actor(args.scenario, checkpoint.actor, args.episodes, SELECTION_EVAL_SEED)
        print(f"{checkpoint.step}\t{checkpoint.eval_mean:.2f}\t{returns.mean():.2f}\t"
              f"{returns.std() / np.sqrt(len(returns)):.2f}", flush=True)


if __name__ == "__main__":
    main()
