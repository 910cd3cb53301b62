"""`madata bench` (train and evaluate an algorithm or a suite on datasets) and `madata evaluate` (re-run a
saved policy), with the seed and update-budget flags they share."""

from __future__ import annotations

import json
from typing import Any

import click

from baselines.algorithms import ALL_ALGORITHMS, PROTOCOLS
from baselines.core.actor_critic import CRITIC_KINDS
from baselines.otc.cli import otc_options
from baselines.presets import PRESETS
from madatasets.cli_options import deprecated, store_option
from madatasets.errors import MadataError


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
@click.option("--dataset", "dataset_ids", multiple=True, metavar="ID",
              help="Dataset id, e.g. mpe-spread-3/medium-v0 (repeat for several). Without it (or with --suite) "
                   "the suite's datasets.")
@click.option("--suite", "suite_name", default=None, metavar="NAME",
              help="Run a benchmark suite's protocol, BC included (docs/suites.md): quick (the default when no "
                   "--dataset is given), omar-paper, mabcq-paper, otc-paper, smax, full, or a suite .json file.")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Run this one seed.")
@click.option("--seeds", type=click.IntRange(min=1), default=None,
              help="Number of seeds: first-seed .. first-seed + seeds - 1  [default: 5].")
@click.option("--first-seed", type=click.IntRange(min=0), default=None, help="First of --seeds  [default: 0].")
@click.option("--updates", type=click.IntRange(min=1), default=None,
              help="Gradient updates per run, the fixed training budget (otc: offline pre-training) "
                   "[default: 10000].")
@click.option("--steps", type=click.IntRange(min=1), default=None, hidden=True)
@click.option("--eval-every", type=click.IntRange(min=1), default=None,
              help="Evaluate every K updates (and always after the last one)  [default: 1000, or the suite's].")
@click.option("--eval-episodes", type=click.IntRange(min=1), default=None,
              help="Episodes per evaluation  [default: 32, or the suite's].")
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
def bench(algorithm: str, dataset_ids: tuple[str, ...], suite_name: str | None, seed: int | None,
          seeds: int | None, first_seed: int | None, updates: int | None, steps: int | None,
          eval_every: int | None, eval_episodes: int | None,
          preset: str, critic: str, overrides: tuple[str, ...], no_value_deviation: bool,
          no_transition_normalization: bool, out_dir: str, workers: int, threads: int, profile: bool, quiet: bool,
          store_path: str | None, **otc: Any) -> None:
    """Train ALGORITHM on datasets, evaluate, and write one results JSON (+ policy) per seed.

    `otc` runs the online-tuning protocol instead (docs/otc.md): --updates is then the offline
    pre-training budget, and --set also takes the protocol's keys (deployments, online_steps, ...).

    Without --dataset, or with --suite, it runs a suite (default: quick): collects the datasets the
    store lacks, skips complete runs, trains ALGORITHM and BC, and prints the normalized-score table
    with IQM and CIs (the paper's numbers beside ours where they exist). Flags that change the
    suite's protocol label the runs off-protocol.
    """
    from madatasets.cards import command_line
    if suite_name is not None or not dataset_ids:
        if algorithm in PROTOCOLS:
            raise MadataError("otc runs on datasets: give --dataset ID (the otc-paper suite lists its ids: "
                              "`madata suites otc-paper`)")
        _bench_suite(algorithm, suite_name, dataset_ids, seed, seeds, first_seed,
                     None if updates is None and steps is None else update_budget(updates, steps), eval_every,
                     eval_episodes, preset, critic, overrides, out_dir, workers, threads, quiet, store_path,
                     otc, command_line())
        return
    eval_every = 1_000 if eval_every is None else eval_every
    eval_episodes = 32 if eval_episodes is None else eval_episodes
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


def _bench_suite(algorithm: str, suite_name: str | None, dataset_ids: tuple[str, ...], seed: int | None,
                 seeds: int | None, first_seed: int | None, updates: int | None, eval_every: int | None,
                 eval_episodes: int | None, preset: str, critic: str, overrides: tuple[str, ...], out_dir: str,
                 workers: int, threads: int, quiet: bool, store_path: str | None, otc: dict[str, Any],
                 command: str) -> None:
    from baselines.otc.cli import reject_otc_options
    from baselines.suite_bench import bench_suite, ensure_datasets, suite_specs
    from baselines.suite_table import suite_table
    from baselines.suites import DEFAULT_SUITE, load_suite
    reject_otc_options(otc)
    suite = load_suite(suite_name or DEFAULT_SUITE)
    ids = list(dataset_ids) or suite.dataset_ids
    if seed is None and seeds is None and first_seed is None:
        chosen = suite.protocol.seed_list()
    else:
        chosen = seed_list(seed, seeds, first_seed)
    algorithms = [algorithm] + [name for name in suite.baselines if name != algorithm]
    unpinned = ensure_datasets(suite, ids, store_path, click.echo, strict=False)
    specs = suite_specs(suite, algorithms, ids, chosen, updates, eval_every, eval_episodes, preset, critic,
                        overrides, out_dir, store_path, not quiet, threads, command, unpinned)
    results = bench_suite(suite, specs, workers, click.echo)
    if not specs[0].suite["on_protocol"]:
        click.echo(f"[suite {suite.tag()}] off-protocol: {'; '.join(specs[0].suite['deviations'])}")
    click.echo("")
    click.echo(suite_table(suite, results))


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
