"""`madata` subcommands contributed by the `baselines` package: bench, evaluate, report.

One vocabulary: `--updates` counts gradient updates, `--out` is a folder,
`--workers` counts processes, `--seed S` is one seed and `--seeds N --first-seed S`
several, and every hyperparameter is a `--set key=value`. Flags of earlier
releases keep working for one release with a deprecation line on stderr.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from baselines.algorithms import ALL_ALGORITHMS, PROTOCOLS
from baselines.core.actor_critic import CRITIC_KINDS
from baselines.otc.cli import otc_options
from baselines.presets import PRESETS
from madatasets.cli import deprecated, store_option
from madatasets.errors import MadataError

COMMANDS: list[click.Command] = []




def seed_list(seed: int | None, seeds: int | None, first_seed: int | None) -> list[int]:
    """--seed S, or --seeds N --first-seed S (default 5 seeds from 0)."""
    if seed is not None:
        if seeds is not None or first_seed is not None:
            raise MadataError("--seed names one seed; use either it or --seeds/--first-seed, not both")
        return [seed]
    first = 0 if first_seed is None else first_seed
    return list(range(first, first + (5 if seeds is None else seeds)))


def update_budget(updates: int | None, steps: int | None) -> int:
    if steps is not None:
        if updates is not None:
            raise MadataError("--steps is the old name of --updates; give only --updates")
        deprecated("--steps is now --updates (gradient updates per run); --steps goes in the next release")
        return steps
    return 10_000 if updates is None else updates


@click.command()
@click.argument("algorithm", type=click.Choice(ALL_ALGORITHMS + PROTOCOLS))
@click.option("--dataset", "dataset_ids", multiple=True, required=True, metavar="ID",
              help="Dataset id, e.g. mpe-spread-3/medium-v0 (repeat for several).")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Run this one seed.")
@click.option("--seeds", type=click.IntRange(min=1), default=None,
              help="Number of seeds: first-seed .. first-seed + seeds - 1  [default: 5].")
@click.option("--first-seed", type=click.IntRange(min=0), default=None, help="First of --seeds  [default: 0].")
@click.option("--updates", type=click.IntRange(min=1), default=None,
              help="Gradient updates per run, the fixed training budget (otc: offline pre-training) "
                   "[default: 10000].")
@click.option("--steps", type=click.IntRange(min=1), default=None, hidden=True)
@click.option("--eval-every", type=click.IntRange(min=1), default=1_000, show_default=True,
              help="Evaluate every K updates (and always after the last one).")
@click.option("--eval-episodes", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--preset", type=click.Choice(PRESETS), default="paper", show_default=True,
              help="paper: the paper's values; released-code: the authors' OMAR code; defaults: config defaults.")
@click.option("--critic", type=click.Choice(CRITIC_KINDS), default="decentralized", show_default=True,
              help="centralized = MATD3-style critic on global state and joint action.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Any hyperparameter, e.g. --set tau=0.5 --set hidden=256,256; for otc also its protocol's "
                   "(--set deployments=5, --set otc.batch_size=64).")
@click.option("--no-value-deviation", is_flag=True, hidden=True)
@click.option("--no-transition-normalization", is_flag=True, hidden=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="results", show_default=True,
              help="Results folder.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes training seeds in parallel.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="torch threads per run.")
@click.option("--profile", is_flag=True,
              help="Print the time split: data loading / model pre-training / updates / evaluation.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@store_option
@otc_options
def bench(algorithm: str, dataset_ids: tuple[str, ...], seed: int | None, seeds: int | None,
          first_seed: int | None, updates: int | None, steps: int | None, eval_every: int, eval_episodes: int,
          preset: str, critic: str, overrides: tuple[str, ...], no_value_deviation: bool,
          no_transition_normalization: bool, out_dir: str, workers: int, threads: int, profile: bool, quiet: bool,
          store_path: str | None, **otc: Any) -> None:
    """Train ALGORITHM on datasets, evaluate, and write one results JSON (+ policy) per seed.

    `otc` runs the online-tuning protocol instead (docs/otc.md): --updates is then the offline
    pre-training budget, and --set also takes the protocol's keys (deployments, online_steps, ...).
    """
    from madatasets.cards import command_line
    chosen_seeds = seed_list(seed, seeds, first_seed)
    budget = update_budget(updates, steps)
    for flag, used, key in (("--no-value-deviation", no_value_deviation, "value_deviation"),
                            ("--no-transition-normalization", no_transition_normalization,
                             "transition_normalization")):
        if used:
            deprecated(f"{flag} is now --set {key}=false")
            overrides = overrides + (f"{key}=false",)
    if algorithm in PROTOCOLS:
        if workers > 1:
            raise MadataError("otc runs its seeds one after another; --workers applies to the offline algorithms")
        from baselines.otc.bench import bench_otc
        bench_otc(dataset_ids, chosen_seeds, budget, eval_episodes, preset, critic, overrides, out_dir, threads,
                  store_path, command_line(), otc, deprecated, click.echo, quiet)
        return
    from baselines.otc.cli import reject_otc_options
    reject_otc_options(otc)
    from baselines.bench import RunSpec, bench as run_bench
    specs = [RunSpec(algorithm=algorithm, dataset_id=dataset_id, seed=s, updates=budget, eval_every=eval_every,
                     eval_episodes=eval_episodes, preset=preset, critic=critic, overrides=overrides,
                     out_dir=out_dir, store=store_path, progress=not quiet, threads=threads,
                     command=command_line())
             for dataset_id in dataset_ids for s in chosen_seeds]
    for result in run_bench(specs, workers):
        final = result["final"]
        if "online_evaluation" in final:      # import-only scenario (SMAC): no online score exists
            agreement = final["offline"]["action_agreement"]
            click.echo(f"{result['label']} {result['dataset']['id']} seed {result['seed']}: no online evaluation "
                       f"(import-only scenario, training and offline metrics only); action agreement with the data "
                       f"{agreement:.3f} -> {result['path']}")
            continue
        normalized = "n/a (no reference scores)" if final["normalized"] is None else f"{final['normalized']:.1f}"
        wins = f", win rate {final['win_rate']:.3f}" if "win_rate" in final else ""   # SMAX
        click.echo(f"{result['label']} {result['dataset']['id']} seed {result['seed']}: return "
                   f"{final['mean_return']:.3f} +- {final['std_return']:.3f}, normalized {normalized}{wins} "
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
    from baselines.checkpoints import evaluate_checkpoint
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
    """Markdown table of results: mean +- std and IQM with a 95% stratified bootstrap CI across seeds.

    Each run counts once (a folder given twice too); rows never mix update budgets or configurations,
    and say how many of the requested seeds finished.
    """
    from baselines.report import markdown_report, plot_curves
    from baselines.results import load_manifests, load_results
    if plot and not plot.lower().endswith(".png"):
        raise MadataError(f"--plot must name a .png file, got {plot!r}")
    if plot and not Path(plot).absolute().parent.is_dir():
        raise MadataError(f"--plot {plot!r}: folder {Path(plot).absolute().parent} does not exist; create it first")
    results = load_results(directories)
    click.echo(markdown_report(results, reps=reps, requested=load_manifests(directories)))
    if plot:
        plot_curves(results, plot)
        click.echo(f"\nwrote {plot}")


COMMANDS.extend([bench, evaluate, report])


@click.command()
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--out", "results_dir", type=click.Path(file_okay=False), default="demo-results", show_default=True,
              help="Where the demo's training results go.")
@click.option("--no-train", is_flag=True, help="Only collect, verify and summarize the datasets.")
@store_option
def demo(seed: int, results_dir: str, no_train: bool, store_path: str | None) -> None:
    """Run the main job end to end on the default store (what `make demo` runs)."""
    from baselines.demo import run_demo
    run_demo(store_path, seed=seed, results_dir=results_dir, train=not no_train)


@click.command(name="matrix-game")
def matrix_game() -> None:
    """Print the MABCQ matrix-game tables (the paper's Tables 2-4) computed exactly."""
    from baselines.matrix_game import format_tables
    click.echo(format_tables())


COMMANDS.extend([demo, matrix_game])
