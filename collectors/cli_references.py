"""`madata reference`: measure a scenario's reference score (random, scripted or expert) and record it."""

from __future__ import annotations

import click

from madatasets.errors import MadataError
from madatasets.scenarios import get_spec, scenario_names


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
