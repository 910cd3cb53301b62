"""A tiny suite over tiny datasets, for the suite, report and leaderboard tests."""

from __future__ import annotations

import json
from pathlib import Path

TINY_DATASETS = ("mpe-spread-3/random-v1", "mpe-spread-3/medium-v1")


def tiny_suite(folder: Path, store: str | None = None, name: str = "tiny", seeds: int = 2,
               updates: int = 20) -> Path:
    """Write <folder>/<name>.json; with a store, pin its cards' checksums and reference scores."""
    datasets = []
    for dataset_id in TINY_DATASETS:
        entry = {"id": dataset_id, "collect_steps": 200, "collect_seed": 0}
        if store is not None:
            from madatasets.store import Store
            card = Store(store).card(dataset_id)
            entry["checksums"] = card["checksums"]
            entry["reference_scores"] = {k: card["reference_scores"][k] for k in ("random", "expert")}
        datasets.append(entry)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps({
        "schema": "madata.suite", "name": name, "version": 1, "claims_results": False,
        "description": "tests", "protocol": {"updates": updates, "batch_size": 32, "eval_every": 10,
                                             "eval_episodes": 4, "seeds": seeds},
        "baselines": ["bc"], "datasets": datasets,
        "paper": {"metric": "normalized", "scores": {"itd3": {"mpe-spread-3/random": [12.5, 1.5]}}}}))
    return path


def madata_cli():
    """`madata` with every package's commands. The leaderboard registers through its `madata.commands`
    entry point (setup.cfg); an environment installed before that entry point existed lacks it until
    `pip install -e .` (which `make test` runs when setup.cfg changes), so it is added here the way the
    entry point adds it."""
    from leaderboard.cli import COMMANDS
    from madatasets.cli import cli
    for command in COMMANDS:
        if cli.get_command(None, command.name) is None:
            cli.add_command(command)
    return cli

