"""`madata demo`: the main job end to end on the default store.

1. collect small datasets (random, and medium from the committed behaviour-policy
   zoo), skipping any that already exist;
2. verify their checksums and print their cards and return summaries;
3. train OMAR and MA-CQL briefly on the medium spread dataset and print the
   normalized-score table.

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
# Batch 256 rather than the paper's 1024 keeps the demo to a few minutes on two CPU cores.
DEMO_TRAINING = {"dataset": "mpe-spread-3/medium", "algorithms": ("omar", "macql"), "steps": 300,
                 "seeds": 2, "eval_every": 150, "eval_episodes": 8, "batch_size": 256}


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
    training = DEMO_TRAINING
    out = Path(results_dir)
    for algorithm in training["algorithms"]:
        _madata(["bench", algorithm, "--dataset", f"{training['dataset']}-v{version}",
                 "--updates", str(training["steps"]),
                 "--seeds", str(training["seeds"]), "--eval-every", str(training["eval_every"]),
                 "--eval-episodes", str(training["eval_episodes"]), "--set", f"batch_size={training['batch_size']}",
                 "--out", str(out), "--quiet",
                 *store_arguments])
    click.echo("")
    click.echo(f"[demo] normalized scores after {training['steps']} updates at batch {training['batch_size']} "
               f"(a brief demo budget, not a benchmark result; see docs/results.md)")
    _madata(["report", str(out)])
