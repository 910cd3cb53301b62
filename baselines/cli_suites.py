"""`madata suites` (list the benchmark suites or show one) and `madata sweep` (run a sweep file)."""

from __future__ import annotations

import click

from baselines.suites import OWN_BATCH
from madatasets.errors import MadataError


@click.command()
@click.argument("name", required=False)
def suites(name: str | None) -> None:
    """List the benchmark suites, or show suite NAME's protocol and datasets (docs/suites.md)."""
    from baselines.suites import DEFAULT_SUITE, load_suite, suite_names
    if name is None:
        for each in suite_names():
            suite = load_suite(each)
            p = suite.protocol
            default = " (default)" if each == DEFAULT_SUITE else ""
            click.echo(f"{suite.tag():<16} {len(suite.datasets):>3} datasets, {p.updates:,} updates, "
                       f"{p.seeds} seeds, {p.eval_episodes} episodes{default}")
        return
    suite = load_suite(name)
    p = suite.protocol
    click.echo(f"{suite.tag()} ({suite.setting}): {suite.description}")
    click.echo(f"protocol: {p.updates:,} updates (per dataset where listed), batch "
               f"{p.batch_size or OWN_BATCH}, evaluation every {p.eval_every:,} updates on "
               f"{p.eval_episodes} episodes, seeds 0..{p.seeds - 1}, score = final policy; baselines: "
               f"{', '.join(suite.baselines) or 'none'}")
    for entry in suite.datasets:
        pinned = "checksums pinned" if entry.checksums else "checksums not pinned"
        click.echo(f"  {entry.id:<34} {suite.updates_for(entry.id):>8,} updates  collect {entry.collect_steps:,} "
                   f"steps seed {entry.collect_seed}  {pinned}")


@click.command()
@click.argument("spec_path", metavar="SPEC.yaml", type=click.Path(dir_okay=False))
@click.option("--executor", type=click.Choice(("local", "ray")), default="local", show_default=True,
              help="local: a process pool on this machine; ray: one Ray task per run.")
@click.option("--address", default=None, metavar="auto|HOST:PORT",
              help="Ray cluster to join (default: start a local one).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes of the local executor.")
@click.option("--retries", type=click.IntRange(min=0), default=None,
              help="Retries of a run whose worker died  [default: the file's, else 2].")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Added to every run's --set.")
@click.option("--dry-run", is_flag=True, help="List the runs and which are complete; run nothing.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def sweep(spec_path: str, executor: str, address: str | None, workers: int, retries: int | None,
          overrides: tuple[str, ...], dry_run: bool, quiet: bool) -> None:
    """Run algorithms x datasets x seeds (x grids) from SPEC.yaml; a re-run skips complete runs (docs/sweeps.md)."""
    from baselines.completion import completed_result
    from baselines.sweep import summary_line, make_executor, now, run_name, run_sweep
    from baselines.sweep_spec import load_sweep
    from madatasets.cards import command_line
    started = now()
    plan = load_sweep(spec_path, command_line(), overrides)
    if dry_run:
        for spec in plan.runs:
            click.echo(f"{'complete' if completed_result(spec) else 'to run  '}  {run_name(spec)}")
        return
    outcome = run_sweep(list(plan.runs), make_executor(executor, workers, address, plan.cpus, plan.gpus),
                        plan.retries if retries is None else retries, not quiet, click.echo)
    click.echo(summary_line(outcome, now() - started))
    for name, error in outcome.failed.items():
        click.echo(f"  failed: {name}: {error}")
    if outcome.failed:
        raise MadataError(f"{len(outcome.failed)} of {outcome.total} runs failed (listed above); fix the cause and "
                          "run the same command again: complete runs are skipped")
