"""`madata` subcommands contributed by the `collectors` package.

Every click command in COMMANDS is added to the top-level `madata` group.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from collectors.smax_yardsticks import smax_yardstick_command
from madatasets.cli_options import deprecated, store_option
from madatasets.errors import MadataError
from madatasets.scenarios import get_spec, scenario_names
from madatasets.store import MAX_VERSION, QUALITIES, Store

COMMANDS: list[click.Command] = []


@click.command()
@click.argument("scenario", type=click.Choice(scenario_names()))
@click.option("--quality", type=click.Choice(QUALITIES), default="random", show_default=True,
              help="Quality tier to collect.")
@click.option("--env-steps", "env_steps", type=click.IntRange(min=1), default=None,
              help="Environment steps to collect.  [default: 1000000]")
@click.option("--steps", "old_steps", type=click.IntRange(min=1), default=None, hidden=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Parallel rollout processes (the data does not depend on it).")
@click.option("--version", "dataset_version", type=click.IntRange(min=0, max=MAX_VERSION), default=None,
              help="Dataset version N in <scenario>/<quality>-vN (default: the zoo version, see docs/zoo.md).")
@click.option("--overwrite", is_flag=True, help="Replace an existing dataset with the same id.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@store_option
def collect(scenario: str, quality: str, env_steps: int | None, old_steps: int | None, seed: int, workers: int,
            dataset_version: int | None, overwrite: bool, quiet: bool, store_path: str | None) -> None:
    """Collect a dataset of SCENARIO at a quality tier into the store."""
    from collectors.collect import collect as run_collect, zoo_version_of
    if old_steps is not None:
        if env_steps is not None:
            raise MadataError("give --env-steps only (--steps is its deprecated name)")
        deprecated("collect --steps is now --env-steps (environment steps); --steps goes in the next release")
        env_steps = old_steps
    env_steps = 1_000_000 if env_steps is None else env_steps
    if dataset_version is None:
        # Zoo-made (and random) data take the zoo's version; SMAX has no zoo yet, its data are -v0.
        dataset_version = 0 if get_spec(scenario).discrete else zoo_version_of(None)
    path = run_collect(scenario, quality, steps=env_steps, seed=seed, workers=workers, store=store_path,
                       overwrite=overwrite, version=dataset_version, progress=not quiet)
    card = Store(store_path).card(f"{scenario}/{quality}-v{dataset_version}")
    click.echo(f"wrote {card['id']}: {card['total_steps']} steps, {card['total_episodes']} episodes, "
               f"mean return {card['returns']['mean']:.3f} -> {path}")


COMMANDS.append(collect)

zoo_option = click.option("--zoo", "zoo_dir", type=click.Path(file_okay=False), default=None,
                          help="Zoo directory (default: the zoo shipped in the collectors package).")


@click.command(name="train-behavior")
@click.argument("scenario", type=click.Choice(scenario_names()))
@click.option("--env-steps", "--steps", "steps", type=click.IntRange(min=1), default=None,
              help="Environment steps of training (default: the scenario's budget, see docs/zoo.md).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--algorithm", type=click.Choice(["td3", "mappo", "sb3-td3", "sac", "ppo"]), default=None,
              help="td3, mappo (MPE): the zoo's own learners (resumable); sb3-td3, sac, ppo: stable-baselines3 "
                   "(default: the scenario's budget, see docs/zoo.md).")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None,
              help="td3, mappo: folder of the resumable training state (default .madata-runs/SCENARIO-seedS, "
                   "SCENARIO-mappo-seedS for mappo).")
@click.option("--resume", is_flag=True, help="td3, mappo: continue the run saved in --run-dir.")
@click.option("--for-medium-replay", is_flag=True,
              help="Train the zoo entry's configuration with --seed only until it reaches medium, and add that "
                   "run to SCENARIO's medium-replay tier (the zoo's policies stay as they are).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@zoo_option
def train_behavior_command(scenario: str, steps: int | None, seed: int, algorithm: str, run_dir: str | None,
                           resume: bool, for_medium_replay: bool, quiet: bool, zoo_dir: str | None) -> None:
    """Train SCENARIO's behaviour policy online and store early/medium/expert checkpoints in the zoo."""
    from collectors.behavior import ZOO_DIR, default_config, train_behavior
    if not get_spec(scenario).simulator:
        from madatasets.smac import no_simulator_message
        raise MadataError(no_simulator_message(scenario))
    if get_spec(scenario).discrete:
        raise MadataError(f"{scenario} has no behaviour-policy trainer yet (SMAX: docs/smax.md); "
                          f"trainable scenarios: {', '.join(n for n in scenario_names() if not get_spec(n).discrete)}")
    if for_medium_replay:
        if algorithm or run_dir or resume:
            raise MadataError("--for-medium-replay takes the zoo entry's own configuration; drop --algorithm, "
                              "--run-dir and --resume (--env-steps caps the run)")
        from collectors.medium_replay import train_replay_run
        extra = train_replay_run(scenario, seed, Path(zoo_dir) if zoo_dir else ZOO_DIR, progress=not quiet,
                                 max_steps=steps)
        click.echo(f"{scenario}: seed {seed} reached medium ({extra['eval_mean']:.3f} >= {extra['target']:.3f}) at "
                   f"step {extra['stop_step']}; added to its medium-replay")
        return
    config = default_config(scenario, steps=steps, seed=seed, algorithm=algorithm)
    resumable = config.algorithm in ("td3", "mappo")
    if not resumable and (resume or run_dir):
        raise MadataError(f"--resume and --run-dir apply to --algorithm td3 and mappo only, not {config.algorithm}")
    command = (f"madata train-behavior {scenario} --env-steps {config.steps} --seed {seed} "
               f"--algorithm {config.algorithm}" + (f" --run-dir {run_dir} --resume" if run_dir else ""))
    from collectors.train_td3 import default_run_dir
    folder = (Path(run_dir) if run_dir else default_run_dir(config)) if resumable else None
    entry = train_behavior(config, zoo_dir=Path(zoo_dir) if zoo_dir else ZOO_DIR, progress=not quiet,
                           command=command, run_dir=folder, resume=resume)
    click.echo(f"{scenario}: {config.algorithm} {config.steps} steps in {entry['train_wall_seconds']:.0f}s")
    for checkpoint in entry["checkpoints"]:
        click.echo(f"  step {checkpoint['step']:>8}: periodic eval {checkpoint['eval_mean']:10.3f} "
                   f"+- {checkpoint['eval_std']:.3f}")
    for role, policy in entry["policies"].items():
        click.echo(f"  {role:<6} step {policy['step']:>8}: {policy['return_mean']:10.3f} +- "
                   f"{policy['return_std']:.3f} over {policy['episodes']} episodes  sha256 {policy['sha256'][:16]}")
    click.echo(f"  medium-replay buffer: {entry['medium_replay']['steps']} steps, "
               f"{entry['medium_replay']['episodes']} episodes (more seeds: --for-medium-replay)")


COMMANDS.append(train_behavior_command)


REFERENCE_POLICIES = ("random", "scripted", "expert")


def _measure_and_record(scenario: str, policy: str, episodes: int | None, workers: int, progress: bool) -> None:
    from collectors.references import default_episodes, measure_reference, save_reference
    episodes = episodes or default_episodes(scenario)
    entry = measure_reference(scenario, policy, episodes=episodes, workers=workers, progress=progress)
    random_reference = get_spec(scenario).reference_scores.get("random")
    if policy != "random" and random_reference is not None and entry["mean"] <= random_reference:
        # A normalized score needs expert > random; recording this would flip its sign.
        raise MadataError(f"{scenario}: {policy} reference NOT recorded: it scores {entry['mean']:.3f}, not above "
                          f"the random reference {random_reference:.3f}; train longer "
                          f"(`madata train-behavior {scenario} --env-steps N`)")
    entry["command"] = f"madata reference {scenario} --policy {policy} --episodes {episodes}"
    save_reference(scenario, policy, entry)
    click.echo(f"{scenario}: {policy} reference {entry['mean']:.3f} +- {entry['stderr']:.3f} (standard error) "
               f"over {entry['episodes']} episodes ({entry['policy']})")


@click.command(name="reference")
@click.argument("scenarios", metavar="SCENARIO...", nargs=-1, required=True,
                type=click.Choice(scenario_names() + ["all"]))
@click.option("--policy", type=click.Choice(REFERENCE_POLICIES), default="random", show_default=True,
              help="random: uniform random actions; scripted: the MPE yardstick controller; expert: the zoo expert.")
@click.option("--episodes", type=click.IntRange(min=100), default=None,
              help="Episodes (default 1,000 on MPE, 100 on MaMuJoCo).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def reference(scenarios: tuple[str, ...], policy: str, episodes: int | None, workers: int, quiet: bool) -> None:
    """Measure a reference score of SCENARIO (mean return, standard error) and record it."""
    from collectors.behavior import zoo_scenarios
    from collectors.yardsticks import SCRIPTED_SCENARIOS
    if "all" in scenarios:
        # Import-only scenarios (SMAC) have no simulator to measure on.
        runnable = tuple(name for name in scenario_names() if get_spec(name).simulator)
        scenarios = {"random": runnable, "scripted": SCRIPTED_SCENARIOS,
                     "expert": tuple(zoo_scenarios())}[policy]
    for scenario in scenarios:
        _measure_and_record(scenario, policy, episodes, workers, not quiet)


@click.command(name="reference-expert", hidden=True)
@click.argument("scenarios", metavar="SCENARIO...", nargs=-1, required=True,
                type=click.Choice(scenario_names() + ["all"]))
@click.option("--episodes", type=click.IntRange(min=100), default=None)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def reference_expert(scenarios: tuple[str, ...], episodes: int | None, workers: int, quiet: bool) -> None:
    """Deprecated: `madata reference SCENARIO --policy expert`."""
    from collectors.behavior import zoo_scenarios
    click.echo("madata reference-expert is deprecated; use `madata reference SCENARIO --policy expert`", err=True)
    for scenario in zoo_scenarios() if "all" in scenarios else scenarios:
        _measure_and_record(scenario, "expert", episodes, workers, not quiet)


@click.command(name="zoo")
@click.option("--json", "as_json", is_flag=True, help="Print the zoo index as JSON.")
@click.option("--verify", is_flag=True, help="Check every policy file against its sha256.")
@click.option("--markdown", is_flag=True, help="Print the docs/zoo.md tables (returns, references, commands).")
@click.option("--curves", "curves_dir", type=click.Path(file_okay=False), default=None,
              help="Write one learning-curve PNG per scenario into this folder.")
@zoo_option
def zoo_command(as_json: bool, verify: bool, markdown: bool, curves_dir: str | None, zoo_dir: str | None) -> None:
    """List the behaviour-policy zoo: checkpoints, returns and checksums."""
    from collectors.behavior import ROLES, ZOO_DIR, load_zoo_actor, read_zoo_index
    root = Path(zoo_dir) if zoo_dir else ZOO_DIR
    index = read_zoo_index(root)
    if as_json:
        click.echo(json.dumps(index, indent=2))
        return
    if not index["scenarios"]:
        click.echo(f"no behaviour policies in {root}")
        return
    if curves_dir:
        for path in plot_curves(index, Path(curves_dir)):
            click.echo(f"wrote {path}")
    if markdown:
        click.echo(zoo_markdown(index))
        return
    click.echo(f"{'scenario':<16} {'alg':<4} {'steps':>7} {'role':<7} {'at step':>7} {'return (ref. episodes)':>20}  sha256")
    for scenario, entry in index["scenarios"].items():
        for role in ROLES:
            policy = entry["policies"][role]
            if verify:
                load_zoo_actor(scenario, role, root)
            click.echo(f"{scenario:<16} {entry['algorithm']:<4} {entry['training_steps']:>7} {role:<7} "
                       f"{policy['step']:>7} {policy['return_mean']:>10.2f} +- {policy['return_std']:<7.2f}  "
                       f"{policy['sha256'][:16]}")
    if verify:
        click.echo("all policy files match their checksums")


COMMANDS += [reference, reference_expert, zoo_command]


@click.command(name="tiers")
@click.argument("scenarios", metavar="SCENARIO...", nargs=-1, required=True,
                type=click.Choice(scenario_names() + ["all"]))
@click.option("--version", "dataset_version", type=click.IntRange(min=0), default=None,
              help="Dataset version (default: the zoo version).")
@store_option
@click.option("--markdown", is_flag=True, help="A markdown table (docs/datasets.md).")
def tiers_command(scenarios: tuple[str, ...], dataset_version: int | None, store_path: str | None,
                  markdown: bool) -> None:
    """Check the tiers of SCENARIO: random < medium-replay < medium < medium-expert < expert, medium at 25-60%."""
    from collectors.behavior import ZOO_VERSION
    from collectors.tier_check import TIER_ORDER, TierReturn, check_tiers, tier_rows
    from madatasets.store import DatasetId, Store
    store = Store(store_path)
    if not store.exists:
        raise MadataError(f"no madata store at {store.root}; collect datasets first or pass --store")
    version = ZOO_VERSION if dataset_version is None else dataset_version
    failed = []
    if markdown:
        click.echo("| scenario | tier | steps | episodes | mean return (95% CI) | share of random-to-expert span | "
                   "CI apart from the next tier |")
        click.echo("|---|---|---|---|---|---|---|")
    for scenario in scenario_names() if "all" in scenarios else scenarios:
        cards = {tier: store.card(str(DatasetId(scenario, tier, version))) for tier in TIER_ORDER
                 if store.has(DatasetId(scenario, tier, version))}
        if not cards:
            continue
        references = next(iter(cards.values()))["reference_scores"]
        if not {"random", "expert"} <= references.keys():
            raise MadataError(f"{scenario}-v{version}: its cards have no random and expert reference scores")
        tiers = {tier: TierReturn.from_card(card) for tier, card in cards.items()}
        problems = check_tiers(tiers, references["random"], references["expert"])
        failed += [f"{scenario}: {problem}" for problem in problems]
        for row in tier_rows(tiers, references["random"], references["expert"]):
            card = cards[row["tier"]]
            apart = {True: "yes", False: "no"}.get(row.get("separated_from_next"), "-")
            if markdown:
                click.echo(f"| {scenario} | {row['tier']} | {card['total_steps']:,} | {row['episodes']:,} | "
                           f"{row['mean']:.2f} +- {row['ci95']:.2f} | {100 * row['share']:.1f}% | {apart} |")
            else:
                click.echo(f"{scenario:<16} {row['tier']:<14} {row['mean']:>10.2f} +- {row['ci95']:<7.2f} "
                           f"{100 * row['share']:6.1f}% of span  steps {card['total_steps']:,}")
        if not markdown:
            click.echo(f"{scenario:<16} {'ok' if not problems else '; '.join(problems)}")
    if failed:
        click.echo("tier check failed: " + " | ".join(failed), err=True)
        raise SystemExit(1)


COMMANDS.append(tiers_command)

COMMANDS.append(smax_yardstick_command)


def _steps(step: int) -> str:
    return f"{step / 1000:g}k"


def zoo_markdown(index: dict) -> str:
    """The tables of docs/zoo.md, from the zoo index and the registry's reference scores."""
    from collectors.behavior import ROLES
    from collectors.yardsticks import LITERATURE
    from madatasets.scores import normalized_score
    lines = [f"Zoo version {index.get('zoo_version', 0)}.", "",
             "| scenario | algorithm | training steps | train wall time | seed | role | at step | "
             "return (reference episodes: 100, MPE 1,000; deterministic) | normalized | sha256 (first 16) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    references = ["| scenario | random | scripted yardstick | zoo expert (reference) | expert's share of "
                  "random-to-scripted | medium-replay buffer (steps / episodes) | training command |",
                  "|---|---|---|---|---|---|---|"]
    literature = ["| scenario | yardstick | return | source |", "|---|---|---|---|"]
    curves = []
    for scenario, entry in index["scenarios"].items():
        details = get_spec(scenario).reference_details
        scores = {tier: info["mean"] for tier, info in details.items()}
        for role in ROLES:
            policy = entry["policies"][role]
            normalized = (f"{normalized_score(scenario, policy['return_mean']):.1f}"
                          if "expert" in scores and "random" in scores else "-")
            lines.append(f"| {scenario} | {entry['algorithm']} | {entry['training_steps']:,} | "
                         f"{entry['train_wall_seconds'] / 60:.1f} min | {entry['seed']} | {role} | "
                         f"{policy['step']:,} | {policy['return_mean']:.2f} +- {policy['return_std']:.2f} | "
                         f"{normalized} | `{policy['sha256'][:16]}` |")

        def shown(tier: str) -> str:
            info = details.get(tier)
            if info is None:
                return "-"
            stderr = f" +- {info['stderr']:.2f}" if "stderr" in info else ""
            return f"{info['mean']:.2f}{stderr} ({info.get('episodes', '?')} ep.)"
        share = "-"
        if {"random", "scripted", "expert"} <= scores.keys():
            share = f"{100 * (scores['expert'] - scores['random']) / (scores['scripted'] - scores['random']):.0f}%"
        replay = entry["medium_replay"]
        extra = replay.get("extra_runs", [])
        steps = replay["steps"] + sum(run["stop_step"] for run in extra)
        episodes = replay["episodes"] + sum(run["episodes"] for run in extra)
        seeds = f" (seeds {', '.join(str(s) for s in [entry['seed']] + [r['seed'] for r in extra])})" if extra else ""
        references.append(f"| {scenario} | {shown('random')} | {shown('scripted')} | {shown('expert')} | {share} | "
                          f"{steps:,} / {episodes:,}{seeds} | `{entry['command']}` |")
        for name, value, source in LITERATURE.get(scenario, []):
            literature.append(f"| {scenario} | {name} | {value:,.0f} | {source} |")
        points = ", ".join(f"{_steps(c['step'])}: {c['eval_mean']:.1f}" for c in entry["checkpoints"])
        curves.append(f"- {scenario}: {points}")
    note = ("Periodic evaluations (step: mean of the periodic evaluation episodes; a snapshot "
            "taken before the first update comes first):")
    return "\n".join(lines + [""] + references + ["", "Published figures on the same robots (perspective "
                                                  "only: other MuJoCo versions, partitions or single-agent control):",
                                                  ""] + literature + ["", note, ""] + curves)


def plot_curves(index: dict, folder: Path) -> list[Path]:
    """One PNG per scenario: periodic evaluation vs training step, with the reference lines."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for scenario, entry in index["scenarios"].items():
        figure, axis = plt.subplots(figsize=(5, 3.2), dpi=100)
        points = [c for c in entry["checkpoints"] if c.get("eval_mean") is not None]
        axis.plot([c["step"] for c in points], [c["eval_mean"] for c in points], marker=".", label="periodic eval")
        for role, marker in (("medium", "s"), ("expert", "*")):
            policy = entry["policies"][role]
            axis.plot([policy["step"]], [policy["return_mean"]], marker, markersize=9,
                      label=f"{role} ({policy.get('episodes', 100)} ep.)")
        scores = get_spec(scenario).reference_scores
        for tier, style in (("random", ":"), ("scripted", "-.")):
            if tier in scores:
                axis.axhline(scores[tier], linestyle=style, color="gray", linewidth=1, label=tier)
        axis.set_title(f"{scenario} ({entry['algorithm']}, zoo v{entry.get('zoo_version', 0)})", fontsize=9)
        axis.set_xlabel("environment steps", fontsize=8)
        axis.set_ylabel("return", fontsize=8)
        axis.tick_params(labelsize=7)
        axis.legend(fontsize=6, loc="best")
        figure.tight_layout()
        path = folder / f"{scenario}.png"
        figure.savefig(path)
        plt.close(figure)
        written.append(path)
    return written
