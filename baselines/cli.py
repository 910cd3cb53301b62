"""`madata` subcommands contributed by the `baselines` package.

Every click command in COMMANDS is added to the top-level `madata` group.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from baselines.algorithms import ALL_ALGORITHMS, PROTOCOLS
from baselines.core.config import CRITIC_KINDS
from baselines.otc import otc_options
from baselines.presets import PRESETS

COMMANDS: list[click.Command] = []


@click.command()
@click.argument("algorithm", type=click.Choice(ALL_ALGORITHMS + PROTOCOLS))
@click.option("--dataset", "dataset_ids", multiple=True, required=True, metavar="ID",
              help="Dataset id, e.g. mpe-spread-3/medium-v0 (repeat for several).")
@click.option("--seeds", type=click.IntRange(min=1), default=5, show_default=True,
              help="Number of seeds: runs use seeds first-seed .. first-seed + seeds - 1.")
@click.option("--first-seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--steps", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Gradient updates per run (the fixed training budget).")
@click.option("--eval-every", type=click.IntRange(min=1), default=1_000, show_default=True,
              help="Evaluate every K updates (and always after the last one).")
@click.option("--eval-episodes", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--preset", type=click.Choice(PRESETS), default="paper", show_default=True,
              help="paper: OMAR appendix B.1; released-code: the authors' code; defaults: config defaults.")
@click.option("--critic", type=click.Choice(CRITIC_KINDS), default="decentralized", show_default=True,
              help="centralized = MATD3-style critic on global state and joint action.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override any hyperparameter, e.g. --set tau=0.5 --set hidden=256,256.")
@click.option("--no-value-deviation", is_flag=True,
              help="mabcq ablation without lambda_vd (same as --set value_deviation=false).")
@click.option("--no-transition-normalization", is_flag=True,
              help="mabcq ablation without lambda_tn (same as --set transition_normalization=false).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="results", show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Seeds trained in parallel processes.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="torch threads per run.")
@click.option("--profile", is_flag=True,
              help="Print the time split: data loading / model pre-training / updates / evaluation.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--store", "store_path", type=click.Path(file_okay=False), default=None,
              help="Store directory (default: $MADATA_HOME or ./madata-store).")
@otc_options
def bench(algorithm: str, dataset_ids: tuple[str, ...], seeds: int, first_seed: int, steps: int, eval_every: int,
          eval_episodes: int, preset: str, critic: str, overrides: tuple[str, ...], out_dir: str, workers: int,
          threads: int, profile: bool, quiet: bool, store_path: str | None, no_value_deviation: bool = False,
          no_transition_normalization: bool = False, **otc: Any) -> None:
    """Train ALGORITHM on datasets, evaluate, and write one results JSON (+ policy) per seed.

    `otc` runs the online-tuning protocol instead (docs/otc.md): --steps is then the offline
    pre-training budget and the OTC options set the deployments.
    """
    from baselines.otc import bench_otc
    from madatasets.cards import command_line as _command_line
    # Runs `otc`; for any other algorithm it only rejects the OTC options.
    bench_otc(algorithm, dataset_ids, seeds, first_seed, steps, eval_episodes, preset, critic, overrides, out_dir,
              threads, store_path, _command_line(), otc, click.echo, quiet)
    if algorithm in PROTOCOLS:
        return
    overrides = overrides + (("value_deviation=false",) if no_value_deviation else ()) + \
        (("transition_normalization=false",) if no_transition_normalization else ())
    from baselines.bench import RunSpec, bench as run_bench
    from madatasets.cards import command_line
    specs = [RunSpec(algorithm=algorithm, dataset_id=dataset_id, seed=seed, steps=steps, eval_every=eval_every,
                     eval_episodes=eval_episodes, preset=preset, critic=critic, overrides=overrides,
                     out_dir=out_dir, store=store_path, progress=not quiet, threads=threads,
                     command=command_line())
             for dataset_id in dataset_ids for seed in range(first_seed, first_seed + seeds)]
    for result in run_bench(specs, workers):
        final = result["final"]
        normalized = "n/a (no reference scores)" if final["normalized"] is None else f"{final['normalized']:.1f}"
        click.echo(f"{result['label']} {result['dataset']['id']} seed {result['seed']}: return "
                   f"{final['mean_return']:.3f} +- {final['std_return']:.3f}, normalized {normalized} "
                   f"-> {result['path']}")
        if profile:
            split = result["profile"]
            pretrain = f", model pre-training {split['pretrain_s']:.1f}s" if split.get("pretrain_s", 0) >= 0.05 else ""
            click.echo(f"  time: data loading {split['load_s']:.1f}s{pretrain}, updates {split['updates_s']:.1f}s "
                       f"({split['updates_per_s']:.1f}/s), evaluation {split['evaluation_s']:.1f}s, "
                       f"total {result['wall_time_s']:.1f}s")


@click.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--episodes", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Evaluation seed (default: the run's training seed, i.e. its final evaluation's episodes).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def evaluate(checkpoint: str, episodes: int, seed: int | None, as_json: bool) -> None:
    """Re-run the saved policy CHECKPOINT (a seed_<n>.pt written by `madata bench`)."""
    from baselines.bench import evaluate_checkpoint
    result = evaluate_checkpoint(checkpoint, episodes, seed)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    normalized = "n/a (no reference scores)" if result["normalized"] is None else f"{result['normalized']:.1f}"
    click.echo(f"{result['algorithm']} on {result['dataset_id']}: return {result['mean_return']:.3f} +- "
               f"{result['std_return']:.3f} over {episodes} episodes (seed {result['seed']}), "
               f"normalized {normalized}")


@click.command()
@click.argument("directories", metavar="DIR...", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="Write learning curves to this PNG.")
@click.option("--reps", type=click.IntRange(min=100), default=2000, show_default=True,
              help="Bootstrap resamples for the IQM confidence intervals.")
def report(directories: tuple[str, ...], plot: str | None, reps: int) -> None:
    """Markdown table of results: mean +- std and IQM with a 95% stratified bootstrap CI across seeds."""
    from baselines.report import load_results, markdown_report, plot_curves
    from madatasets.errors import MadataError
    if plot and not plot.lower().endswith(".png"):
        raise MadataError(f"--plot must name a .png file, got {plot!r}")
    if plot and not Path(plot).absolute().parent.is_dir():
        raise MadataError(f"--plot {plot!r}: folder {Path(plot).absolute().parent} does not exist; create it first")
    results = load_results(directories)
    click.echo(markdown_report(results, reps=reps))
    if plot:
        plot_curves(results, plot)
        click.echo(f"\nwrote {plot}")


COMMANDS.extend([bench, evaluate, report])
