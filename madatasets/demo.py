"""`madata demo`: the main job end to end on the default store.

Collects small datasets (skipping any that already exist), verifies them, and
prints their cards and return summaries.
"""

from __future__ import annotations

import click

from madatasets.cards import render_card_markdown
from madatasets.dataset import load
from madatasets.stats import summary
from madatasets.store import DatasetId, Store

DEMO_DATASETS = [("mpe-spread-3", "random", 20_000), ("halfcheetah-2x3", "random", 20_000)]


def run_demo(store_path: str | None = None, seed: int = 0) -> None:
    from collectors.collect import collect

    store = Store(store_path, create=True)
    ids = []
    for scenario, quality, steps in DEMO_DATASETS:
        dataset_id = DatasetId(scenario, quality, 0)
        ids.append(str(dataset_id))
        if store.has(dataset_id):
            click.echo(f"[demo] {dataset_id} already in {store.root}, not collecting again")
            continue
        click.echo(f"[demo] collecting {dataset_id} ({steps} steps) into {store.root}")
        collect(scenario, quality, steps=steps, seed=seed, store=store)
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
