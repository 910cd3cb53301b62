"""Train a variant of the SMAX zoo's learner into its own zoo folder: the design attempts of docs/smax.md.

    python benchmarks/train_smax_variant.py smax-5m_vs_6m NAME key=value ... [--steps N]

Each key=value overrides a SmaxPPOConfig field over the map's settings (Python literals:
recurrent=True, "hidden=(128,128)"). The zoo run (periodic evaluations, roles, 1,000-episode
evaluations, exported actors) goes to .madata-runs/zoo-NAME, never the shipped zoo; it is resumable
from .madata-runs/SCENARIO-NAME-seed0 (rerun the same command to continue). Every periodic
evaluation is printed as it happens. A variant that meets its target is promoted by putting its
settings into collectors/smax_zoo.SMAX_SETTINGS and running `madata train-behavior SCENARIO`.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
from pathlib import Path

from collectors.smax_mappo import SmaxPPOConfig
from collectors.smax_zoo import train_smax_behavior
from madatasets.errors import MadataError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario")
    parser.add_argument("name")
    parser.add_argument("overrides", nargs="*", help="SmaxPPOConfig field=value")
    parser.add_argument("--steps", type=int, default=None)
    args = parser.parse_args()
    fields = {field.name for field in dataclasses.fields(SmaxPPOConfig)}
    overrides = {}
    for item in args.overrides:
        key, _, value = item.partition("=")
        if key not in fields:
            parser.error(f"{key!r} is not a SmaxPPOConfig field; valid: {', '.join(sorted(fields))}")
        try:
            overrides[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parser.error(f"{item!r}: the value must be a Python literal (recurrent=True, \"hidden=(128,128)\")")
    run_dir = Path(".madata-runs") / f"{args.scenario}-{args.name}-seed0"
    try:
        entry = train(args, run_dir, overrides)
    except MadataError as error:
        parser.exit(2, f"train_smax_variant.py: error: {error}\n")
    for role, policy in entry["policies"].items():
        print(f"{role}: step {policy['step']}, win rate {policy['win_rate']:.3f}, return {policy['return_mean']:.3f}",
              flush=True)


def train(args: argparse.Namespace, run_dir: Path, overrides: dict) -> dict:
    """The zoo run of the variant (resumed when its run folder holds a saved run)."""
    return train_smax_behavior(args.scenario, args.steps, 0, zoo_dir=Path(".madata-runs") / f"zoo-{args.name}",
                               run_dir=run_dir, resume=(run_dir / "run.pkl").exists(), overrides=overrides,
                               progress=lambda line: print(line, flush=True),
                               command=f"python benchmarks/train_smax_variant.py {args.scenario} {args.name} "
                                       + " ".join(args.overrides))


if __name__ == "__main__":
    main()
