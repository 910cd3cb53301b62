"""The `madata` commands of the behaviour-policy zoo: `train-behavior` (train and store a scenario's
policies) and `zoo` (list, verify and tabulate them)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from collectors.zoo_report import plot_curves, zoo_markdown
from madatasets.errors import MadataError
from madatasets.scenarios import get_spec, scenario_names


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
        if algorithm not in (None, "mappo"):
            raise MadataError("SMAX scenarios train with the zoo's JAX MAPPO (collectors/smax_mappo.py) only; "
                              "drop --algorithm")
        if for_medium_replay:
            from collectors.smax_zoo import train_replay_run as train_smax_replay_run
            root = Path(zoo_dir) if zoo_dir else ZOO_DIR
            extra = train_smax_replay_run(scenario, seed, root)
            click.echo(f"{scenario}: seed {seed} reached medium ({extra['eval_mean']:.3f} >= {extra['target']:.3f}) "
                       f"at step {extra['stop_step']}; added to its medium-replay")
            return
        return _train_smax(scenario, steps, seed, run_dir, resume, quiet, zoo_dir)
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


def _train_smax(scenario: str, steps: int | None, seed: int, run_dir: str | None, resume: bool, quiet: bool,
                zoo_dir: str | None) -> None:
    from collectors.smax_zoo import SMAX_BUDGETS, DEFAULT_BUDGET, train_smax_behavior
    from collectors.zoo_index import ZOO_DIR
    steps = steps or SMAX_BUDGETS.get(scenario, DEFAULT_BUDGET)
    folder = Path(run_dir) if run_dir else Path(".madata-runs") / f"{scenario}-smax-mappo-seed{seed}"
    command = f"madata train-behavior {scenario} --env-steps {steps} --seed {seed}"
    entry = train_smax_behavior(scenario, steps, seed, Path(zoo_dir) if zoo_dir else ZOO_DIR, folder, resume,
                                progress=None if quiet else (lambda line: click.echo(line, err=True)),
                                command=command)
    click.echo(f"{scenario}: smax-mappo {steps} steps in {entry['train_wall_seconds']:.0f}s")
    for role, policy in entry["policies"].items():
        click.echo(f"  {role:<6} step {policy['step']:>8}: win rate {policy['win_rate']:.3f}, return "
                   f"{policy['return_mean']:.3f} +- {policy['return_std']:.3f} over {policy['episodes']} episodes  "
                   f"sha256 {policy['sha256'][:16]}")


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
