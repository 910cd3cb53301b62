"""`madata report`: tables, aggregates and plots of results folders."""

from __future__ import annotations

from pathlib import Path

import click

from madatasets.errors import MadataError

REPORT_FORMATS = ("markdown", "marl-eval", "csv", "latex")


@click.command()
@click.argument("directories", metavar="DIR...", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="Write learning curves to this PNG.")
@click.option("--reps", type=click.IntRange(min=100), default=2000, show_default=True,
              help="Bootstrap resamples for the confidence intervals.")
@click.option("--format", "output_format", type=click.Choice(REPORT_FORMATS), default="markdown",
              show_default=True, help="marl-eval: InstaDeep marl-eval's JSON; csv, latex: the per-dataset table.")
@click.option("--output", type=click.Path(dir_okay=False), default=None, help="Write the report here (default: stdout).")
@click.option("--plots", "plot_prefix", default=None, metavar="PREFIX",
              help="Write PREFIX-intervals.png (IQM, median, mean, optimality gap with CIs), PREFIX-profiles.png "
                   "(performance profiles) and PREFIX-sample-efficiency.png.")
@click.option("--improvement", nargs=2, multiple=True, metavar="X Y",
              help="Probability that configuration X improves on Y (labels as in the aggregate table, e.g. "
                   "'omar @1000' 'bc @1000'); repeatable.")
def report(directories: tuple[str, ...], plot: str | None, reps: int, output_format: str, output: str | None,
           plot_prefix: str | None, improvement: tuple[tuple[str, str], ...]) -> None:
    """Tables of results: mean +- std and IQM with 95% stratified bootstrap CIs across seeds, and across
    datasets the rliable aggregates (IQM, median, mean, optimality gap; probability of improvement).

    Each run counts once (a folder given twice too); rows never mix update budgets or configurations,
    and say how many of the requested seeds finished.
    """
    from baselines.report import markdown_report, plot_curves, summarize
    from baselines.results import load_manifests, load_results
    for path, suffix, flag in ((plot, ".png", "--plot"), (output, "", "--output"),
                               (plot_prefix and plot_prefix + ".png", ".png", "--plots")):
        if path and suffix and not path.lower().endswith(suffix):
            raise MadataError(f"{flag} must name a {suffix} file, got {path!r}")
        if path and not Path(path).absolute().parent.is_dir():
            raise MadataError(f"{flag} {path!r}: folder {Path(path).absolute().parent} does not exist; "
                              "create it first")
    results = load_results(directories)
    requested = load_manifests(directories)
    if output_format == "markdown":
        from baselines.report_aggregate import aggregate_markdown
        text = markdown_report(results, reps=reps, requested=requested) + aggregate_markdown(results, reps,
                                                                                           improvement)
    elif output_format == "marl-eval":
        from baselines.formats import marl_eval
        text = marl_eval(results)
    else:
        from baselines.formats import csv_table, latex_table
        rows = summarize(results, reps, requested)
        text = csv_table(rows) if output_format == "csv" else latex_table(rows)
    if output:
        Path(output).write_text(text if text.endswith("\n") else text + "\n")
        click.echo(f"wrote {output}")
    else:
        click.echo(text)
    if plot:
        plot_curves(results, plot)
        click.echo(f"\nwrote {plot}")
    if plot_prefix:
        from baselines.aggregate import score_matrices
        from baselines.aggregate_plots import write_plots
        matrices, _ = score_matrices(results)
        if not matrices:
            raise MadataError("--plots needs normalized scores of at least one configuration on every dataset "
                              "of the results")
        for path in write_plots(results, matrices, plot_prefix, reps):
            click.echo(f"wrote {path}")
