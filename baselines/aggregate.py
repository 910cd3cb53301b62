"""Aggregate statistics across tasks through rliable (Agarwal et al., 2021): `madata report`.

Point estimates are rliable's (`rliable.metrics`: aggregate IQM, median, mean,
optimality gap, probability of improvement). The stratified bootstrap that gives
their 95% CIs is ours: rliable's own (`rliable.library`, through the `arch`
package) does not import with pandas 3, which is installed here. It resamples
runs with replacement within each task, as rliable's `StratifiedBootstrap` does.

Scores are normalized (0 = random, 100 = expert); the optimality gap is taken
against 100 (expert). Score matrices are (runs, tasks); a configuration whose
tasks have unequal run counts uses the smallest count (the first seeds of each).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable

import numpy as np
from rliable import metrics

METRICS: dict[str, Callable[[np.ndarray], float]] = {
    "iqm": metrics.aggregate_iqm,
    "median": metrics.aggregate_median,
    "mean": metrics.aggregate_mean,
    # rliable's gap is against 1 (its scores are fractions of the reference): ours are percentages.
    "optimality_gap": lambda scores: 100.0 * metrics.aggregate_optimality_gap(np.asarray(scores) / 100.0, 1.0),
}


def run_label(result: dict[str, Any]) -> str:
    """The configuration name reports use (a suite run off its protocol has `off-protocol` in it)."""
    return str(result["label"])


def score_matrices(results: list[dict[str, Any]]) -> tuple[dict[str, np.ndarray], list[str]]:
    """{configuration (with its budget): (runs, tasks) normalized final scores}, the task (dataset) ids.

    Only configurations that have runs on every task of the results enter (a missing task would bias
    an aggregate); runs without normalized scores are left out.
    """
    table: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for result in sorted(results, key=lambda r: r["seed"]):
        if result["final"]["normalized"] is None:
            continue
        label = f"{run_label(result)} @{result['updates']}"
        table[label][result["dataset"]["id"]].append(float(result["final"]["normalized"]))
    tasks = sorted({task for scores in table.values() for task in scores})
    matrices = {}
    for label, scores in sorted(table.items()):
        if set(scores) != set(tasks):
            continue
        runs = min(len(values) for values in scores.values())
        matrices[label] = np.array([scores[task][:runs] for task in tasks]).T
    return matrices, tasks


def _resample(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    runs, tasks = scores.shape
    rows = rng.integers(0, runs, size=(runs, tasks))
    return np.take_along_axis(scores, rows, axis=0)


def interval_estimates(matrices: dict[str, np.ndarray], reps: int = 2000, confidence: float = 0.95,
                       seed: int = 0) -> dict[str, dict[str, tuple[float, float, float]]]:
    """{configuration: {metric: (point, low, high)}} with stratified-bootstrap percentile CIs."""
    tail = (1.0 - confidence) / 2.0 * 100.0
    estimates = {}
    for label, scores in matrices.items():
        rng = np.random.default_rng(seed)
        samples = [_resample(scores, rng) for _ in range(reps)]
        estimates[label] = {}
        for name, function in METRICS.items():
            values = np.array([function(sample) for sample in samples])
            low, high = np.percentile(values, [tail, 100.0 - tail])
            estimates[label][name] = (float(function(scores)), float(low), float(high))
    return estimates


def probability_of_improvement(x: np.ndarray, y: np.ndarray, reps: int = 2000, confidence: float = 0.95,
                               seed: int = 0) -> tuple[float, float, float]:
    """P(X > Y) averaged over tasks (rliable's), with a CI resampling X's and Y's runs per task."""
    rng = np.random.default_rng(seed)
    values = np.array([metrics.probability_of_improvement(_resample(x, rng), _resample(y, rng))
                       for _ in range(reps)])
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(metrics.probability_of_improvement(x, y)), float(low), float(high)


def performance_profile(matrices: dict[str, np.ndarray], taus: np.ndarray, reps: int = 500,
                        seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """{configuration: (fraction of runs scoring above each tau, CI low, CI high)} (run-score profile)."""
    profiles = {}
    for label, scores in matrices.items():
        rng = np.random.default_rng(seed)

        def profile(sample: np.ndarray) -> np.ndarray:
            return (sample.reshape(-1)[:, None] > taus[None, :]).mean(axis=0)
        boot = np.array([profile(_resample(scores, rng)) for _ in range(reps)])
        low, high = np.percentile(boot, [2.5, 97.5], axis=0)
        profiles[label] = (profile(scores), low, high)
    return profiles


def sample_efficiency(results: list[dict[str, Any]], reps: int = 500,
                      seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """{configuration: (updates, IQM over runs x tasks at each evaluation, CI low, CI high)}."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for result in results:
        if all(point["normalized"] is not None for point in result["curve"]):
            grouped[f"{run_label(result)} @{result['updates']}"].append(result)
    curves = {}
    for label, runs in sorted(grouped.items()):
        length = min(len(run["curve"]) for run in runs)
        updates = np.array([point["update"] for point in runs[0]["curve"][:length]])
        tasks: dict[str, list[list[float]]] = defaultdict(list)
        for run in runs:
            tasks[run["dataset"]["id"]].append([p["normalized"] for p in run["curve"][:length]])
        count = min(len(v) for v in tasks.values())
        cube = np.array([values[:count] for _, values in sorted(tasks.items())])   # (tasks, runs, points)
        points, lows, highs = [], [], []
        for k in range(length):
            matrix = cube[:, :, k].T
            rng = np.random.default_rng(seed)
            boot = [metrics.aggregate_iqm(_resample(matrix, rng)) for _ in range(reps)]
            points.append(metrics.aggregate_iqm(matrix))
            low, high = np.percentile(boot, [2.5, 97.5])
            lows.append(low)
            highs.append(high)
        curves[label] = (updates, np.array(points), np.array(lows), np.array(highs))
    return curves
