"""Train a variant of a zoo budget without touching the zoo: the design experiments of docs/zoo.md.

    python benchmarks/train_variant.py mpe-world-4v2 NAME key=value ... [--steps N]

Each key=value overrides a TrainConfig field of the scenario's budget (values are Python
literals: entropy_coef=0.0, actor=joint, "hidden=(128,128)"). The run is resumable from
.madata-runs/variants/SCENARIO-NAME (rerun the same command to continue); every periodic
evaluation is printed as it happens.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

from collectors.train_config import TrainConfig, default_config
from madatasets.errors import MadataError


def variant_config(scenario: str, steps: int | None, items: list[str]) -> TrainConfig:
    """The scenario's budget with each `field=value` (a Python literal, else the text) over it;
    MadataError for an invalid setting, TypeError for a field TrainConfig does not have."""
    overrides = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            overrides[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[key] = value
    return default_config(scenario, steps=steps, **overrides)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario")
    parser.add_argument("name")
    parser.add_argument("overrides", nargs="*", help="TrainConfig field=value")
    parser.add_argument("--steps", type=int, default=None)
    args = parser.parse_args()
    try:
        config = variant_config(args.scenario, args.steps, args.overrides)
    except (MadataError, TypeError) as error:     # TypeError: a field TrainConfig does not have
        parser.exit(2, f"train_variant.py: error: {error}\n")
    print(config.to_dict(), flush=True)
    run_dir = Path(".madata-runs/variants") / f"{args.scenario}-{args.name}"
    run_dir.mkdir(parents=True, exist_ok=True)
    resume = (run_dir / "trainer.pkl").exists()
    if config.algorithm == "mappo":
        from collectors.train_mappo import run_mappo as run
    else:
        from collectors.train_td3 import run_td3 as run
    checkpoints, _, _ = run(config, run_dir=run_dir, resume=resume, progress=True)
    for checkpoint in checkpoints:
        print(f"{checkpoint.step}\t{checkpoint.eval_mean}", flush=True)


if __name__ == "__main__":
    main()
