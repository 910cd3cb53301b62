"""Summaries of a dataset's returns and action coverage (`madata stats`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from madatasets.dataset import Dataset


def summary(dataset: Dataset) -> dict[str, Any]:
    returns = dataset.episode_returns()
    references = dataset.spec.reference_scores
    normalized = "-"
    if {"random", "expert"} <= references.keys() and returns.size:
        span = references["expert"] - references["random"]
        normalized = f"{100.0 * (returns.mean() - references['random']) / span:.1f}"
    return {"episodes": int(returns.size), "mean": float(returns.mean()), "std": float(returns.std()),
            "min": float(returns.min()), "median": float(np.median(returns)), "max": float(returns.max()),
            "normalized": normalized}


def action_coverage(dataset: Dataset, bins: int = 10) -> list[float]:
    """Per agent: fraction of the `bins` equal bins of [-1, 1] visited, averaged over real action dims."""
    coverage = []
    for i in range(dataset.n_agents):
        actions = dataset.agent(i).actions[:, : dataset.spec.act_sizes[i]]
        index = np.clip(((actions + 1.0) * 0.5 * bins).astype(np.int64), 0, bins - 1)
        visited = [np.unique(index[:, d]).size / bins for d in range(index.shape[1])]
        coverage.append(float(np.mean(visited)))
    return coverage


def plot_returns(datasets: list[Dataset], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    all_returns = [d.episode_returns() for d in datasets]
    low = min(r.min() for r in all_returns)
    high = max(r.max() for r in all_returns)
    edges = np.linspace(low, high if high > low else low + 1.0, 41)
    for dataset, returns in zip(datasets, all_returns):
        axis.hist(returns, bins=edges, alpha=0.5, label=f"{dataset.id} (n={returns.size})")
    axis.set_xlabel("episode return (sum over steps of the mean reward over agents)")
    axis.set_ylabel("episodes")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
