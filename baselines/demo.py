"""`madata demo`: the main job end to end on the default store.

1. collect small datasets (random, and medium from the committed behaviour-policy
   zoo), skipping any that already exist;
2. verify their checksums and print their cards and return summaries;
3. run `madata bench omar` (the `quick` suite: OMAR and BC on the spread datasets,
   3 seeds) and print its normalized-score table with IQM and confidence intervals.

Each step prints the `madata` command that does the same, so a user can re-run
any part at full size.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import click

from collectors.collect import zoo_version_of
from madatasets.cards import render_card_markdown
from madatasets.dataset import load
from madatasets.errors import MadataError
from madatasets.stats import summary
from madatasets.store import DatasetId, Store

DEMO_DATASETS = [("mpe-spread-3", "random", 20_000), ("mpe-spread-3", "medium", 20_000),
                 ("halfcheetah-2x3", "random", 20_000)]
# The demo trains what a user's first `madata bench omar` trains: the `quick` suite
# (baselines/suites/quick.json: OMAR and BC on the two spread datasets above, 1,000 updates
# at batch 256, 3 seeds, final-policy score on 32 episodes; docs/suites.md).
DEMO_BENCH = ["bench", "omar"]


def _madata(arguments: list[str]) -> None:
    click.echo(f"[demo] $ madata {shlex.join(arguments)}")
    result = subprocess.run([sys.executable, "-m", "madatasets.cli", *arguments])
    if result.returncode != 0:
        raise MadataError(f"demo step failed: madata {shlex.join(arguments)} (exit {result.returncode})")


def run_demo(store_path: str | None = None, seed: int = 0, results_dir: str = "demo-results",
             train: bool = True) -> None:
    version = zoo_version_of(None)   # datasets take the shipped zoo's version
    store = Store(store_path, create=True)
    store_arguments = ["--store", str(store.root)]
    ids = []
    for scenario, quality, steps in DEMO_DATASETS:
        dataset_id = DatasetId(scenario, quality, version)
        ids.append(str(dataset_id))
        if store.has(dataset_id):
            click.echo(f"[demo] {dataset_id} already in {store.root}, not collecting again")
            continue
        _madata(["collect", scenario, "--quality", quality, "--env-steps", str(steps), "--seed", str(seed),
                 "--quiet", *store_arguments])
    for dataset_id in ids:
        store.verify(dataset_id)
        click.echo(f"[demo] verified {dataset_id}: every array matches its sha256")
    for dataset_id in ids:
        click.echo("")
        click.echo(render_card_markdown(store.card(dataset_id)))
    click.echo("[demo] return summary (sum over steps of the mean reward over agents)")
    click.echo(f"{'id':<32} {'episodes':>8} {'mean':>10} {'std':>9} {'normalized':>10}")
    for dataset_id in ids:
        row = summary(load(dataset_id, store))
        click.echo(f"{dataset_id:<32} {row['episodes']:>8} {row['mean']:>10.3f} {row['std']:>9.3f} "
                   f"{row['normalized']:>10}")
    if not train:
        return
    click.echo("")
    out = Path(results_dir)
    _madata([*DEMO_BENCH, "--out", str(out), "--quiet", *store_arguments])
    click.echo("")
    click.echo("[demo] the quick suite is a CPU-minutes budget for trying things, not a benchmark result "
               "(docs/suites.md, docs/results.md)")
