"""`madata leaderboard submit | build | verify | new` (docs/leaderboard.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from madatasets.errors import MadataError

COMMANDS: list[click.Command] = []
# The accepted submissions that ship with madata (our own baselines first).
ENTRIES = Path(__file__).with_name("entries")
SUITES_OPTION = click.option("--suites", "suite_dirs", multiple=True, type=click.Path(file_okay=False),
                             help="A folder of extra suite files (searched before the packaged suites).")


def _entries(folder: str) -> list[Path]:
    root = Path(folder)
    if not root.is_dir():
        raise MadataError(f"no submissions folder at {root}")
    return sorted(p for p in root.iterdir() if (p / "submission.json").is_file())


@click.group()
def leaderboard() -> None:
    """Validate submissions, build the static leaderboard site, verify claims by re-running them."""


@leaderboard.command()
@click.argument("path", type=click.Path())
@click.option("--accept", is_flag=True, help="Copy a valid submission into --entries.")
@click.option("--entries", "entries_dir", type=click.Path(file_okay=False), default=str(ENTRIES),
              show_default=True, help="The accepted submissions.")
@SUITES_OPTION
def submit(path: str, accept: bool, entries_dir: str, suite_dirs: tuple[str, ...]) -> None:
    """Validate the submission folder PATH: one line per problem, exit 2 on any."""
    from leaderboard.submission import check_submission
    submission, problems = check_submission(path, suite_dirs)
    if problems:
        for line in problems:
            click.echo(f"madata: error: {line}", err=True)
        raise SystemExit(2)
    assert submission is not None
    runs = len(submission.results)
    click.echo(f"{path}: valid submission {submission.manifest['name']} to suite {submission.suite.tag()} "
               f"({runs} runs, every score recomputed from its episode returns)")
    if accept:
        target = Path(entries_dir) / submission.manifest["name"]
        if target.exists():
            raise MadataError(f"{target} exists: an entry of that name was accepted already; rename the submission")
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(path, staging)
        staging.rename(target)
        click.echo(f"accepted into {target}")


@leaderboard.command()
@click.option("--entries", "entries_dir", type=click.Path(file_okay=False), default=str(ENTRIES),
              show_default=True, help="The accepted submissions.")
@click.option("--out", type=click.Path(file_okay=False), default="site", show_default=True)
@click.option("--reps", type=click.IntRange(min=100), default=2000, show_default=True,
              help="Bootstrap resamples for the confidence intervals.")
@SUITES_OPTION
def build(entries_dir: str, out: str, reps: int, suite_dirs: tuple[str, ...]) -> None:
    """Render the accepted submissions as markdown and a static HTML site in OUT (open OUT/index.html)."""
    from leaderboard.site import build_site
    from leaderboard.submission import check_submission
    entries = []
    for path in _entries(entries_dir):
        submission, problems = check_submission(path, suite_dirs)
        if problems:
            raise MadataError(f"{path} is not a valid submission ({problems[0]}); check it with "
                              f"`madata leaderboard submit {path}`")
        entries.append(submission)
    site = build_site(entries, out, reps)
    click.echo(f"wrote {site}/index.html ({len(entries)} entries)")


@leaderboard.command(name="verify")
@click.argument("path", type=click.Path())
@click.option("--seeds", type=click.IntRange(min=1), default=1, show_default=True,
              help="Re-run this many of the submission's seeds (its first ones) on every dataset.")
@click.option("--tolerance", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="Largest accepted difference of the final normalized score, in points.")
@click.option("--store", "store_path", type=click.Path(file_okay=False), default=None,
              help="Store with the suite's datasets (missing ones are collected into it).")
@SUITES_OPTION
def verify_command(path: str, seeds: int, tolerance: float, store_path: str | None,
                   suite_dirs: tuple[str, ...]) -> None:
    """Re-run seeds of the submission PATH from its manifest and check them against its claim."""
    from leaderboard.submission import check_submission
    from leaderboard.verify import verify
    submission, problems = check_submission(path, suite_dirs)
    if problems:
        raise MadataError(f"{path} is not a valid submission ({problems[0]}); see `madata leaderboard submit`")
    assert submission is not None
    failures = verify(submission, seeds, tolerance, store_path, click.echo)
    if failures:
        raise MadataError(f"{len(failures)} re-run(s) disagree with the claim: {failures[0]}")
    click.echo(f"verified {submission.manifest['name']}: every re-run within {tolerance} normalized points")


@leaderboard.command(name="new")
@click.argument("results_dir", type=click.Path(file_okay=False))
@click.option("--label", required=True, help="The configuration to submit, e.g. omar.")
@click.option("--suite", "suite_name", required=True)
@click.option("--name", required=True, help="The entry's id, e.g. madata-omar-quick.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="The new submission folder.")
@click.option("--author", "authors", multiple=True, required=True)
@click.option("--code-url", required=True,
              help="Where the code is, e.g. https://github.com/you/algo (file:. for this checkout).")
@click.option("--hardware", default="", help="Hardware description (default: from the results).")
@SUITES_OPTION
def new(results_dir: str, label: str, suite_name: str, name: str, out: str, authors: tuple[str, ...],
        code_url: str, hardware: str, suite_dirs: tuple[str, ...]) -> None:
    """Make a submission folder from a `madata bench --suite` results folder."""
    from leaderboard.package import new_submission
    path = new_submission(results_dir, label, suite_name, out, name, list(authors), code_url, hardware, suite_dirs)
    click.echo(f"wrote {path}; check it with `madata leaderboard submit {path}`")


COMMANDS.append(leaderboard)
