"""`madata` subcommands contributed by the `baselines` package: each click command in COMMANDS is added
to the top-level `madata` group.

`bench` and `evaluate` are in baselines/cli_bench.py, `report` in baselines/cli_report.py, `suites` and
`sweep` in baselines/cli_suites.py; `demo` and `matrix-game` here.

One vocabulary: `--updates` counts gradient updates, `--out` is a folder,
`--workers` counts processes, `--seed S` is one seed and `--seeds N --first-seed S`
several, and every hyperparameter is a `--set key=value`. Flags of earlier
releases keep working for one release with a deprecation line on stderr.
"""

from __future__ import annotations

import click

from baselines.cli_bench import bench, evaluate
from baselines.cli_report import report
from baselines.cli_suites import suites, sweep
from madatasets.cli_options import store_option


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
    from baselines.matrix_game_tables import format_tables
    click.echo(format_tables())



COMMANDS: list[click.Command] = [bench, evaluate, report, suites, sweep, demo, matrix_game]
