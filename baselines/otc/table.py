"""Learning curves over deployments: `python -m baselines.otc DIR...` prints a markdown table."""

from __future__ import annotations

import sys
from collections import defaultdict
from typing import Any

import numpy as np

from baselines.results import load_results
from madatasets.errors import MadataError


def deployment_table(results: list[dict[str, Any]]) -> str:
    """Markdown: per dataset and OTC configuration, the score after each deployment (mean ± std over seeds).

    The score is the normalized score where the scenario has both reference scores, else the raw return.
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for result in results:
        if result.get("algorithm") == "otc":
            groups[(result["dataset"]["id"], result["label"])].append(result)
    if not groups:
        raise MadataError("no OTC results files among the given directories; run `madata bench otc` first")
    width = max(len(runs[0]["curve"]) for runs in groups.values())
    header = "| dataset | configuration | seeds | score | " + " | ".join(f"k={k}" for k in range(width)) + " |"
    lines = [header, "|" + "---|" * (width + 4)]
    for (dataset_id, label), runs in sorted(groups.items()):
        normalized = all(p["normalized"] is not None for run in runs for p in run["curve"])
        key = "normalized" if normalized else "mean_return"
        length = min(len(run["curve"]) for run in runs)
        values = np.array([[p[key] for p in run["curve"][:length]] for run in runs])
        cells = [f"{m:.1f} ± {s:.1f}" for m, s in zip(values.mean(axis=0), values.std(axis=0))]
        cells += [""] * (width - length)
        lines.append(f"| {dataset_id} | {label} | {len(runs)} | {'normalized' if normalized else 'return'} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    try:
        print(deployment_table(load_results(argv or ["results"])))
    except MadataError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
