"""`madata` subcommands contributed by the `collectors` package.

Every click command in COMMANDS is added to the top-level `madata` group.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from madatasets.scenarios import scenario_names

COMMANDS: list[click.Command] = []

zoo_option = click.option("--zoo", "zoo_dir", type=click.Path(file_okay=False), default=None,
                          help="Zoo directory (default: the zoo shipped in the collectors package).")


@click.command(name="train-behavior")
@click.argument("scenario", type=click.Choice(scenario_names()))
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Environment steps of training (default: the scenario's budget, see docs/zoo.md).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--algorithm", type=click.Choice(["td3", "sac", "ppo"]), default=None,
              help="SB3 algorithm (default: the scenario's budget, see docs/zoo.md).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@zoo_option
def train_behavior_command(scenario: str, steps: int | None, seed: int, algorithm: str, quiet: bool,
                           zoo_dir: str | None) -> None:
    """Train SCENARIO's behaviour policy online and store early/medium/expert checkpoints in the zoo."""
    from collectors.behavior import ZOO_DIR, default_config, train_behavior
    config = default_config(scenario, steps=steps, seed=seed, algorithm=algorithm)
    command = f"madata train-behavior {scenario} --steps {config.steps} --seed {seed} --algorithm {config.algorithm}"
    entry = train_behavior(config, zoo_dir=Path(zoo_dir) if zoo_dir else ZOO_DIR, progress=not quiet,
                           command=command)
    click.echo(f"{scenario}: {config.algorithm} {config.steps} steps in {entry['train_wall_seconds']:.0f}s")
    for checkpoint in entry["checkpoints"]:
        click.echo(f"  step {checkpoint['step']:>8}: periodic eval {checkpoint['eval_mean']:10.3f} "
                   f"+- {checkpoint['eval_std']:.3f}")
    for role, policy in entry["policies"].items():
        click.echo(f"  {role:<6} step {policy['step']:>8}: {policy['return_mean']:10.3f} +- "
                   f"{policy['return_std']:.3f} over {policy['episodes']} episodes  sha256 {policy['sha256'][:16]}")
    click.echo(f"  medium-replay buffer: {entry['medium_replay']['steps']} steps, "
               f"{entry['medium_replay']['episodes']} episodes")


COMMANDS.append(train_behavior_command)


@click.command(name="reference-expert")
@click.argument("scenarios", metavar="SCENARIO...", nargs=-1, required=True,
                type=click.Choice(scenario_names() + ["all"]))
@click.option("--episodes", type=click.IntRange(min=100), default=100, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def reference_expert(scenarios: tuple[str, ...], episodes: int, workers: int, quiet: bool) -> None:
    """Measure the expert reference score of SCENARIO (zoo expert, deterministic) and record it."""
    from collectors.behavior import zoo_scenarios
    from collectors.collect import measure_expert_reference, save_reference
    from madatasets.errors import MadataError
    chosen = zoo_scenarios() if "all" in scenarios else list(scenarios)
    if not chosen:
        raise MadataError("the zoo has no trained scenario yet; run `madata train-behavior SCENARIO` first")
    from madatasets.scenarios import get_spec
    refused = []
    for scenario in chosen:
        entry = measure_expert_reference(scenario, episodes=episodes, workers=workers, progress=not quiet)
        random_reference = get_spec(scenario).reference_scores.get("random")
        if random_reference is not None and entry["mean"] <= random_reference:
            # A normalized score needs expert > random; recording this would flip its sign.
            click.echo(f"{scenario}: NOT recorded: the zoo expert scores {entry['mean']:.3f} +- {entry['std']:.3f}, "
                       f"not above the random reference {random_reference:.3f}", err=True)
            refused.append(scenario)
            continue
        entry["command"] = f"madata reference-expert {scenario} --episodes {episodes}"
        save_reference(scenario, "expert", entry)
        click.echo(f"{scenario}: expert reference {entry['mean']:.3f} +- {entry['std']:.3f} "
                   f"over {entry['episodes']} episodes ({entry['policy']})")
    if refused:
        raise MadataError(f"no expert reference recorded for {', '.join(refused)}: its zoo expert does not beat "
                          f"uniform random actions; train it longer (`madata train-behavior SCENARIO --steps N`)")


@click.command(name="zoo")
@click.option("--json", "as_json", is_flag=True, help="Print the zoo index as JSON.")
@click.option("--verify", is_flag=True, help="Check every policy file against its sha256.")
@click.option("--markdown", is_flag=True, help="Print the docs/zoo.md tables (returns, references, commands).")
@zoo_option
def zoo_command(as_json: bool, verify: bool, markdown: bool, zoo_dir: str | None) -> None:
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
    if markdown:
        click.echo(zoo_markdown(index))
        return
    click.echo(f"{'scenario':<16} {'alg':<4} {'steps':>7} {'role':<7} {'at step':>7} {'return (100 ep)':>20}  sha256")
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


COMMANDS += [reference_expert, zoo_command]


def _steps(step: int) -> str:
    return f"{step / 1000:g}k"


def zoo_markdown(index: dict) -> str:
    """The tables of docs/zoo.md, from the zoo index and the registry's reference scores."""
    from collectors.behavior import ROLES
    from madatasets.scenarios import get_spec
    from madatasets.scores import normalized_score
    lines = ["| scenario | algorithm | training steps | train wall time | seed | role | at step | "
             "return (100 episodes, deterministic) | normalized | sha256 (first 16) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    references = ["| scenario | random reference | expert reference | medium-replay buffer (steps / episodes) | "
                  "training command |", "|---|---|---|---|---|"]
    curves = []
    for scenario, entry in index["scenarios"].items():
        scores = get_spec(scenario).reference_scores
        for role in ROLES:
            policy = entry["policies"][role]
            normalized = (f"{normalized_score(scenario, policy['return_mean']):.1f}"
                          if "expert" in scores and "random" in scores else "-")
            lines.append(f"| {scenario} | {entry['algorithm']} | {entry['training_steps']:,} | "
                         f"{entry['train_wall_seconds'] / 60:.1f} min | {entry['seed']} | {role} | "
                         f"{policy['step']:,} | {policy['return_mean']:.2f} +- {policy['return_std']:.2f} | "
                         f"{normalized} | `{policy['sha256'][:16]}` |")
        expert = f"{scores['expert']:.2f}" if "expert" in scores else "none"
        random = f"{scores['random']:.2f}" if "random" in scores else "none"
        replay = entry["medium_replay"]
        references.append(f"| {scenario} | {random} | {expert} | {replay['steps']:,} / {replay['episodes']:,} | "
                          f"`{entry['command']}` |")
        points = ", ".join(f"{_steps(c['step'])}: {c['eval_mean']:.1f}" for c in entry["checkpoints"])
        curves.append(f"- {scenario}: {points}")
    note = ("Periodic evaluations (step: mean of the periodic evaluation episodes; a snapshot "
            "taken before the first update comes first):")
    return "\n".join(lines + [""] + references + ["", note, ""] + curves)
