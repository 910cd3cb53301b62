"""PNG plots of the rliable aggregates: interval estimates, performance profiles, sample efficiency."""

from __future__ import annotations

from typing import Any

import numpy as np

from baselines.aggregate import interval_estimates, performance_profile, sample_efficiency

TITLES = {"iqm": "IQM", "median": "Median", "mean": "Mean", "optimality_gap": "Optimality gap"}


def _pyplot() -> Any:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_intervals(estimates: dict[str, dict[str, tuple[float, float, float]]], path: str) -> None:
    """One panel per metric, one bar (point and 95% CI) per configuration."""
    plt = _pyplot()
    labels = list(estimates)
    figure, axes = plt.subplots(1, len(TITLES), figsize=(3.4 * len(TITLES), 0.6 + 0.45 * len(labels)),
                                squeeze=False)
    colors = plt.cm.tab10(np.arange(len(labels)) % 10)
    for axis, (metric, title) in zip(axes[0], TITLES.items()):
        for row, label in enumerate(labels):
            point, low, high = estimates[label][metric]
            axis.barh(row, high - low, left=low, height=0.6, color=colors[row], alpha=0.75)
            axis.vlines(point, row - 0.3, row + 0.3, color="k", linewidth=1.5)
        axis.set_yticks(range(len(labels)))
        axis.set_yticklabels(labels if axis is axes[0][0] else [""] * len(labels), fontsize=8)
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("normalized score", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_profiles(matrices: dict[str, np.ndarray], path: str, reps: int = 500) -> None:
    """Run-score distributions: fraction of runs with normalized score > tau, 95% CI bands."""
    plt = _pyplot()
    top = max(110.0, max(float(m.max()) for m in matrices.values()) + 5.0)
    bottom = min(0.0, min(float(m.min()) for m in matrices.values()) - 5.0)
    taus = np.linspace(bottom, top, 101)
    figure, axis = plt.subplots(figsize=(5.5, 3.6))
    for label, (fraction, low, high) in performance_profile(matrices, taus, reps).items():
        axis.plot(taus, fraction, label=label)
        axis.fill_between(taus, low, high, alpha=0.2)
    axis.set_xlabel("normalized score tau")
    axis.set_ylabel("fraction of runs with score > tau")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_sample_efficiency(results: list[dict[str, Any]], path: str, reps: int = 500) -> None:
    """IQM of the normalized score over runs x tasks at every evaluation, 95% CI bands."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(5.5, 3.6))
    for label, (updates, point, low, high) in sample_efficiency(results, reps).items():
        if len(updates) == 1:
            axis.errorbar(updates, point, yerr=[point - low, high - point], fmt="o", capsize=3, label=label)
        else:
            axis.plot(updates, point, label=label)
            axis.fill_between(updates, low, high, alpha=0.2)
    axis.set_xlabel("gradient updates")
    axis.set_ylabel("IQM normalized score")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_plots(results: list[dict[str, Any]], matrices: dict[str, np.ndarray], prefix: str,
                reps: int = 2000) -> list[str]:
    """<prefix>-intervals.png, -profiles.png, -sample-efficiency.png; returns the paths."""
    paths = [f"{prefix}-intervals.png", f"{prefix}-profiles.png", f"{prefix}-sample-efficiency.png"]
    plot_intervals(interval_estimates(matrices, reps), paths[0])
    plot_profiles(matrices, paths[1], min(reps, 500))
    plot_sample_efficiency(results, paths[2], min(reps, 500))
    return paths
