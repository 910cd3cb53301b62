"""`madata` subcommands contributed by the `collectors` package.

Every click command in COMMANDS is added to the top-level `madata` group: `collect` and `tiers`
here, the zoo's in collectors/cli_zoo.py, `reference` in collectors/cli_references.py and
`smax-yardstick` in collectors/smax_yardsticks.py.
"""

from __future__ import annotations

import click

from collectors.cli_references import reference, reference_expert
from collectors.cli_zoo import train_behavior_command, zoo_command
from collectors.smax_yardsticks import smax_yardstick_command
from madatasets.cli_options import deprecated, store_option
from madatasets.errors import MadataError
from madatasets.scenarios import get_spec, scenario_names
from madatasets.store import MAX_VERSION, QUALITIES, Store


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
        # Zoo-made (and random) data take the zoo's version; SMAX random data stay -v0 (the smax
        # suite's), its zoo tiers take the zoo's version (`--version 1` makes a random-v1 beside them).
        dataset_version = 0 if get_spec(scenario).discrete and quality == "random" else zoo_version_of(None)
    path = run_collect(scenario, quality, steps=env_steps, seed=seed, workers=workers, store=store_path,
                       overwrite=overwrite, version=dataset_version, progress=not quiet)
    card = Store(store_path).card(f"{scenario}/{quality}-v{dataset_version}")
    click.echo(f"wrote {card['id']}: {card['total_steps']} steps, {card['total_episodes']} episodes, "
               f"mean return {card['returns']['mean']:.3f} -> {path}")



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



COMMANDS: list[click.Command] = [collect, train_behavior_command, reference, reference_expert, zoo_command,
                                 tiers_command, smax_yardstick_command]
