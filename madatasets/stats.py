"""Summaries of a dataset's returns and action coverage (`madata stats`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from madatasets.dataset import Dataset


def summary(dataset: Dataset) -> dict[str, Any]:
    returns = dataset.episode_returns()
    references = dataset.card.get("reference_scores", {})   # the references it was made with
    normalized = "-"
    if {"random", "expert"} <= references.keys() and returns.size:
        span = references["expert"] - references["random"]
        normalized = f"{100.0 * (returns.mean() - references['random']) / span:.1f}"
    return {"episodes": int(returns.size), "mean": float(returns.mean()), "std": float(returns.std()),
            "min": float(returns.min()), "median": float(np.median(returns)), "max": float(returns.max()),
            "normalized": normalized}


def action_coverage(dataset: Dataset, bins: int = 10) -> list[float]:
    """Per agent: fraction of the `bins` equal bins of [-1, 1] visited, averaged over real action dims.

    Discrete scenarios: the fraction of the A actions each agent took at least once.
    """
    coverage = []
    if dataset.spec.discrete:
        for i in range(dataset.n_agents):
            coverage.append(np.unique(dataset.agent(i).actions).size / dataset.spec.act_dim)
        return coverage
    for i in range(dataset.n_agents):
        actions = dataset.agent(i).actions[:, : dataset.spec.act_sizes[i]]
        index = np.clip(((actions + 1.0) * 0.5 * bins).astype(np.int64), 0, bins - 1)
        visited = [np.unique(index[:, d]).size / bins for d in range(index.shape[1])]
        coverage.append(float(np.mean(visited)))
    return coverage


def behavior_mix(dataset: Dataset) -> list[dict[str, float]]:
    """Per agent: fraction of its steps produced by each behaviour policy (ids from the card)."""
    names = [p["id"] for p in dataset.card["behavior_policies"]]
    mix = []
    for i in range(dataset.n_agents):
        ids = dataset.agent(i).behavior_ids
        counts = np.bincount(ids.astype(np.int64), minlength=len(names))
        mix.append({name: float(c) / max(ids.size, 1) for name, c in zip(names, counts)})
    return mix


def plot_returns(datasets: list[Dataset], path: str) -> None:
    """Side-by-side episode-return distributions: one panel per scenario, one violin per dataset."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_scenario: dict[str, list[Dataset]] = {}
    for dataset in datasets:
        by_scenario.setdefault(dataset.spec.name, []).append(dataset)
    figure, axes = plt.subplots(1, len(by_scenario), figsize=(1.0 + 2.2 * len(datasets), 4.5), squeeze=False)
    for axis, (scenario, group) in zip(axes[0], by_scenario.items()):
        returns = [d.episode_returns() for d in group]
        positions = np.arange(1, len(group) + 1)
        axis.violinplot(returns, positions=positions, showmedians=True, widths=0.8)
        rng = np.random.default_rng(0)   # fixed jitter: the same plot for the same data
        for position, values in zip(positions, returns):
            shown = values if values.size <= 300 else rng.choice(values, 300, replace=False)  # keep it legible
            axis.scatter(position + rng.uniform(-0.15, 0.15, shown.size), shown, s=3, alpha=0.3, color="k")
        axis.set_xticks(positions)
        axis.set_xticklabels([f"{d.id.split('/')[1]}\n(n={r.size})" for d, r in zip(group, returns)], fontsize=8)
        references = group[0].card.get("reference_scores", {})
        for tier, style in (("random", ":"), ("expert", "--")):
            if tier in references:
                axis.axhline(references[tier], linestyle=style, color="gray", linewidth=1, label=f"{tier} reference")
        if references:
            axis.legend(fontsize=7)
        axis.set_title(scenario, fontsize=9)
        axis.set_ylabel("episode return (sum over steps of mean agent reward)", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
