"""`madata report`: aggregate results files into a markdown table and learning-curve plots.

Scores per run are the final evaluation (no model selection). Per (dataset,
configuration): mean +- std across seeds and the interquartile mean (IQM) with a
95% percentile confidence interval from a stratified bootstrap (runs resampled
with replacement within each task; with one dataset, a plain bootstrap over
seeds). Per configuration over several datasets of a scenario, the IQM pools the
tasks and the bootstrap is stratified by dataset, as in rliable (Agarwal et al.
2021). IQM is rliable's `aggregate_iqm`; the bootstrap is our own because
`rliable.library` (its bootstrap, through the `arch` package) does not import with
the pandas installed here.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from madatasets.errors import MadataError

try:
    from rliable.metrics import aggregate_iqm as _rliable_iqm
except ImportError:     # pragma: no cover - rliable is a dependency; keep report usable without it
    _rliable_iqm = None


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean of all entries (25% trimmed from each end)."""
    scores = np.asarray(scores, dtype=np.float64)
    if _rliable_iqm is not None:
        return float(_rliable_iqm(scores))
    from scipy.stats import trim_mean
    return float(trim_mean(scores.reshape(-1), 0.25))


def stratified_bootstrap_ci(scores: np.ndarray, reps: int = 2000, confidence: float = 0.95,
                            seed: int = 0) -> tuple[float, float]:
    """Percentile CI of the IQM of scores (runs, tasks), resampling runs independently within each task."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:
        scores = scores[:, None]
    runs, tasks = scores.shape
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, runs, size=(reps, runs, tasks))
    resampled = np.take_along_axis(scores[None].repeat(reps, axis=0), rows, axis=1)
    estimates = np.array([iqm(sample) for sample in resampled])
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(estimates, [tail, 100.0 - tail])
    return float(low), float(high)


def load_results(directories: list[str] | tuple[str, ...]) -> list[dict[str, Any]]:
    """Every results file (schema madata.results) under the directories."""
    from baselines.bench import RESULTS_SCHEMA, RESULTS_SCHEMA_VERSION
    results = []
    for directory in directories:
        root = Path(directory)
        if not root.is_dir():
            raise MadataError(f"no results directory at {root}")
        for path in sorted(root.rglob("*.json")):
            try:
                data = json.loads(path.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                continue                # not a results file (other JSON may live beside them)
            if not isinstance(data, dict) or data.get("schema") != RESULTS_SCHEMA:
                continue
            if data.get("schema_version") != RESULTS_SCHEMA_VERSION:
                raise MadataError(f"{path} has results schema version {data.get('schema_version')}; "
                                  f"this madata reads version {RESULTS_SCHEMA_VERSION}")
            _check_fields(path, data)
            data["path"] = str(path)
            results.append(data)
    if not results:
        raise MadataError(f"no madata results files under {', '.join(directories)}; run `madata bench` first")
    return results


# The fields the report reads: a file that claims the schema but lacks one is damaged.
_REQUIRED = {"label": str, "seed": int, "updates": int, "dataset": dict, "final": dict, "curve": list}


def _check_fields(path: Path, data: dict[str, Any]) -> None:
    for key, kind in _REQUIRED.items():
        if not isinstance(data.get(key), kind):
            raise MadataError(f"{path} claims the madata results schema but its {key!r} is missing or not "
                              f"a {kind.__name__}; re-run `madata bench` or remove the file")
    if not isinstance(data["dataset"].get("id"), str):
        raise MadataError(f"{path}: its dataset has no 'id'; re-run `madata bench` or remove the file")
    final = data["final"]
    if not isinstance(final.get("mean_return"), (int, float)) or \
            not isinstance(final.get("normalized"), (int, float, type(None))):
        raise MadataError(f"{path}: its 'final' lacks a numeric mean_return/normalized; "
                          f"re-run `madata bench` or remove the file")
    for point in data["curve"]:
        if not isinstance(point, dict) or not {"update", "mean_return", "normalized"} <= point.keys():
            raise MadataError(f"{path}: a 'curve' point lacks update/mean_return/normalized; "
                              f"re-run `madata bench` or remove the file")


def group_results(results: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for result in results:
        groups[(result["dataset"]["id"], result["label"])].append(result)
    return {key: sorted(runs, key=lambda r: r["seed"]) for key, runs in sorted(groups.items())}


def _score(result: dict[str, Any]) -> tuple[float, bool]:
    normalized = result["final"]["normalized"]
    return (float(normalized), True) if normalized is not None else (float(result["final"]["mean_return"]), False)


def summarize(results: list[dict[str, Any]], reps: int = 2000) -> list[dict[str, Any]]:
    """One row per (dataset, configuration)."""
    rows = []
    for (dataset_id, label), runs in group_results(results).items():
        scored = [_score(run) for run in runs]
        normalized = all(flag for _, flag in scored)
        scores = np.array([s for s, _ in scored]) if normalized else \
            np.array([run["final"]["mean_return"] for run in runs])
        returns = np.array([run["final"]["mean_return"] for run in runs])
        low, high = stratified_bootstrap_ci(scores, reps=reps)
        rows.append({"dataset": dataset_id, "label": label, "runs": len(runs),
                     "seeds": [run["seed"] for run in runs],
                     "updates": sorted({run["updates"] for run in runs}),
                     "normalized": normalized, "mean": float(scores.mean()), "std": float(scores.std()),
                     "iqm": iqm(scores), "ci": (low, high),
                     "return_mean": float(returns.mean()), "return_std": float(returns.std())})
    return rows


def aggregate(results: list[dict[str, Any]], reps: int = 2000) -> list[dict[str, Any]]:
    """Per scenario and configuration, IQM over all its datasets (normalized scores only)."""
    by_key: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for result in results:
        score, normalized = _score(result)
        if normalized:
            by_key[(result["dataset"]["scenario"], result["label"])][result["dataset"]["id"]].append(score)
    rows = []
    for (scenario, label), tasks in sorted(by_key.items()):
        if len(tasks) < 2:
            continue
        runs = min(len(scores) for scores in tasks.values())
        matrix = np.array([scores[:runs] for _, scores in sorted(tasks.items())]).T      # (runs, tasks)
        low, high = stratified_bootstrap_ci(matrix, reps=reps)
        rows.append({"scenario": scenario, "label": label, "tasks": len(tasks), "runs": runs,
                     "iqm": iqm(matrix), "ci": (low, high), "mean": float(matrix.mean())})
    return rows


def markdown_report(results: list[dict[str, Any]], reps: int = 2000) -> str:
    lines = ["| dataset | algorithm | seeds | updates | normalized score (mean ± std) | IQM [95% CI] | "
             "return (mean ± std) |", "|---|---|---|---|---|---|---|"]
    for row in summarize(results, reps):
        updates = "/".join(str(u) for u in row["updates"])
        if row["normalized"]:
            score = f"{row['mean']:.1f} ± {row['std']:.1f}"
            interval = f"{row['iqm']:.1f} [{row['ci'][0]:.1f}, {row['ci'][1]:.1f}]"
        else:
            score = "n/a (no reference scores)"
            interval = f"{row['iqm']:.2f} [{row['ci'][0]:.2f}, {row['ci'][1]:.2f}] (raw return)"
        lines.append(f"| {row['dataset']} | {row['label']} | {row['runs']} | {updates} | {score} | {interval} | "
                     f"{row['return_mean']:.2f} ± {row['return_std']:.2f} |")
    aggregated = aggregate(results, reps)
    if aggregated:
        lines += ["", "| scenario | algorithm | datasets | seeds each | mean normalized | IQM [95% stratified CI] |",
                  "|---|---|---|---|---|---|"]
        for row in aggregated:
            lines.append(f"| {row['scenario']} | {row['label']} | {row['tasks']} | {row['runs']} | {row['mean']:.1f} | "
                         f"{row['iqm']:.1f} [{row['ci'][0]:.1f}, {row['ci'][1]:.1f}] |")
    return "\n".join(lines)


def plot_curves(results: list[dict[str, Any]], path: str) -> None:
    """Learning curves (mean ± std across seeds) per dataset, one line per configuration."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    groups = group_results(results)
    datasets = sorted({dataset for dataset, _ in groups})
    columns = min(3, len(datasets))
    rows = (len(datasets) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.6 * rows), squeeze=False)
    for axis, dataset in zip(axes.flat, datasets):
        normalized_everywhere = True
        for (group_dataset, label), runs in groups.items():
            if group_dataset != dataset:
                continue
            length = min(len(run["curve"]) for run in runs)
            updates = [point["update"] for point in runs[0]["curve"][:length]]
            normalized = all(point["normalized"] is not None for run in runs for point in run["curve"][:length])
            normalized_everywhere &= normalized
            key = "normalized" if normalized else "mean_return"
            values = np.array([[point[key] for point in run["curve"][:length]] for run in runs])
            mean, std = values.mean(axis=0), values.std(axis=0)
            if len(updates) == 1:    # a run evaluated only at the end: a point with an error bar
                axis.errorbar(updates, mean, yerr=std, fmt="o", capsize=3, label=f"{label} ({len(runs)})")
            else:
                axis.plot(updates, mean, label=f"{label} ({len(runs)})")
                axis.fill_between(updates, mean - std, mean + std, alpha=0.2)
        axis.set_title(dataset, fontsize=9)
        axis.set_xlabel("updates")
        axis.set_ylabel("normalized score" if normalized_everywhere else "return")
        axis.legend(fontsize=7)
    for axis in list(axes.flat)[len(datasets):]:
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
