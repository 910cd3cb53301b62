"""SMAX yardsticks: the win rate and return of a scripted or random policy driving the allies.

`madata smax-yardstick smax-3m --policy heuristic` measures JaxMARL's scripted micro
(`create_heuristic_policy`: attack the closest enemy in range, else advance), the
yardstick every trained SMAX expert must at least match (issue #15), and `--policy
random` the uniform-legal random policy. Whole episodes through the vectorized rollout,
seeded: the same command gives the same numbers.
"""

from __future__ import annotations

from typing import Any

import click
import numpy as np

from madatasets.errors import MadataError
from madatasets.scenarios import episode_return, get_spec, scenario_names
from madatasets.smax import SMAX_MAPS, single_thread_flags

YARDSTICK_POLICIES = ("heuristic", "random")
YARDSTICK_SEED = 1_000_003      # the reference seed of the other families (collectors/references.py)


def measure_yardstick(scenario: str, policy: str, episodes: int = 200, seed: int = YARDSTICK_SEED,
                      slots: int = 64) -> dict[str, Any]:
    spec = get_spec(scenario)
    if not spec.discrete:
        raise MadataError(f"{scenario} is not a SMAX scenario; valid: {', '.join(SMAX_MAPS)}")
    if policy not in YARDSTICK_POLICIES:
        raise MadataError(f"unknown policy {policy!r}; valid: {', '.join(YARDSTICK_POLICIES)}")
    if episodes < 1:
        raise MadataError(f"--episodes must be at least 1, got {episodes}")
    single_thread_flags()
    from madatasets.smax_vector import vector_rollout
    played = vector_rollout(SMAX_MAPS[scenario][0], policy, slots).run(seed, episodes=episodes)
    returns = np.array([episode_return(e["rewards"]) for e in played])
    wins = np.array([e["won"] for e in played], dtype=np.float64)
    return {"scenario": scenario, "scenario_version": spec.version, "policy": policy, "episodes": episodes,
            "seed": seed, "mean_return": float(returns.mean()),
            "stderr_return": float(returns.std(ddof=1) / np.sqrt(episodes)) if episodes > 1 else 0.0,
            "win_rate": float(wins.mean()), "mean_length": float(np.mean([len(e["actions"]) for e in played])),
            "package_versions": spec.package_versions()}


@click.command(name="smax-yardstick")
@click.argument("scenarios", metavar="SCENARIO...", nargs=-1, required=True,
                type=click.Choice([n for n in scenario_names() if n.startswith("smax-")]))
@click.option("--policy", type=click.Choice(YARDSTICK_POLICIES), default="heuristic", show_default=True)
@click.option("--episodes", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=YARDSTICK_SEED, show_default=True)
def smax_yardstick_command(scenarios: tuple[str, ...], policy: str, episodes: int, seed: int) -> None:
    """Win rate and return of JaxMARL's heuristic (or random) allies on SMAX maps (docs/smax.md)."""
    click.echo("| scenario | policy | episodes | win rate | mean return (stderr) | mean length |")
    click.echo("|---|---|---|---|---|---|")
    for scenario in scenarios:
        r = measure_yardstick(scenario, policy, episodes, seed)
        click.echo(f"| {scenario} | {policy} | {episodes} | {r['win_rate']:.3f} | {r['mean_return']:.3f} "
                   f"({r['stderr_return']:.3f}) | {r['mean_length']:.1f} |")
