"""`madata report`: aggregate results files into a markdown table and learning-curve plots.

Scores per run are the final evaluation (no model selection). Per (dataset,
configuration): mean +- std across seeds and the interquartile mean (IQM) with a
95% percentile confidence interval from a stratified bootstrap (runs resampled
with replacement within each task; with one dataset, a plain bootstrap over
seeds). Per configuration over several datasets of a scenario, the IQM pools the
tasks and the bootstrap is stratified by dataset, as in rliable (Agarwal et al.
2021). Rows never pool runs of different update budgets or configs, each run
counts once however often its folder is given, and a row says how many of the
seeds its benches requested finished (baselines/results.py). IQM is rliable's
`aggregate_iqm`; the bootstrap is our own because
`rliable.library` (its bootstrap, through the `arch` package) does not import with
the pandas installed here.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, NamedTuple

import numpy as np

from baselines.results import config_fingerprint
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


class GroupKey(NamedTuple):
    """A report row: one dataset, configuration, update budget and config (never pooled across these)."""

    dataset: str
    label: str
    updates: int
    fingerprint: str


def group_results(results: list[dict[str, Any]]) -> dict[GroupKey, list[dict[str, Any]]]:
    groups: dict[GroupKey, list[dict[str, Any]]] = defaultdict(list)
    for result in results:
        groups[GroupKey(result["dataset"]["id"], result["label"], result["updates"],
                        config_fingerprint(result))].append(result)
    return {key: sorted(runs, key=lambda r: r["seed"]) for key, runs in sorted(groups.items())}


def display_labels(keys: list[GroupKey]) -> dict[GroupKey, str]:
    """The label, plus the config fingerprint where one label has several configs at one budget."""
    counts: dict[tuple[str, str, int], int] = defaultdict(int)
    for key in keys:
        counts[(key.dataset, key.label, key.updates)] += 1
    return {key: key.label + (f" (config {key.fingerprint})" if counts[key[:3]] > 1 else "") for key in keys}


def _score(result: dict[str, Any]) -> tuple[float, bool]:
    normalized = result["final"]["normalized"]
    return (float(normalized), True) if normalized is not None else (float(result["final"]["mean_return"]), False)


def summarize(results: list[dict[str, Any]], reps: int = 2000,
              requested: dict[tuple[str, str, int], set[int]] | None = None) -> list[dict[str, Any]]:
    """One row per (dataset, configuration, budget, config); `requested` seeds come from the manifests."""
    rows = []
    groups = group_results(results)
    labels = display_labels(list(groups))
    for key, runs in groups.items():
        dataset_id, label = key.dataset, labels[key]
        seeds = [run["seed"] for run in runs]
        wanted = sorted((requested or {}).get((key.dataset, key.label, key.updates), set()) | set(seeds))
        scored = [_score(run) for run in runs]
        normalized = all(flag for _, flag in scored)
        scores = np.array([s for s, _ in scored]) if normalized else \
            np.array([run["final"]["mean_return"] for run in runs])
        returns = np.array([run["final"]["mean_return"] for run in runs])
        # Discrete (SMAX) runs evaluate the win rate too: shown where every run of the row has one.
        wins = [run["final"].get("win_rate") for run in runs]
        win_rates = np.array(wins, dtype=float) if all(w is not None for w in wins) else None
        low, high = stratified_bootstrap_ci(scores, reps=reps)
        rows.append({"dataset": dataset_id, "label": label, "runs": len(runs),
                     "seeds": seeds, "requested_seeds": wanted,
                     "updates": key.updates,
                     "normalized": normalized, "mean": float(scores.mean()), "std": float(scores.std()),
                     "iqm": iqm(scores), "ci": (low, high),
                     "return_mean": float(returns.mean()), "return_std": float(returns.std()),
                     "win_rate": None if win_rates is None else (float(win_rates.mean()), float(win_rates.std()))})
    return rows


def aggregate(results: list[dict[str, Any]], reps: int = 2000) -> list[dict[str, Any]]:
    """Per scenario, configuration and budget, IQM over all its datasets (normalized scores only)."""
    by_key: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for key, runs in group_results(results).items():
        for result in runs:
            score, normalized = _score(result)
            if normalized:
                label = f"{key.label} ({key.updates} updates)"
                by_key[(result["dataset"]["scenario"], label)][key.dataset].append(score)
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


def seeds_cell(row: dict[str, Any]) -> str:
    """"3", or "1 of 3 (incomplete)" when the manifests requested seeds that have no results."""
    if len(row["requested_seeds"]) > row["runs"]:
        return f"{row['runs']} of {len(row['requested_seeds'])} (incomplete)"
    return str(row["runs"])


def split_offline_only(results: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(runs with an online score, runs on import-only scenarios that have none)."""
    offline = [r for r in results if "online_evaluation" in r["final"]]
    return [r for r in results if "online_evaluation" not in r["final"]], offline


def offline_only_lines(results: list[dict[str, Any]]) -> list[str]:
    """Import-only scenarios (SMAC): no return to rank, only the offline action agreement."""
    lines = ["", "Runs without online evaluation (import-only scenarios: training and offline metrics only):", "",
             "| dataset | algorithm | seeds | updates | action agreement with the data (mean ± std) |",
             "|---|---|---|---|---|"]
    for key, runs in group_results(results).items():
        agreement = np.array([run["final"]["offline"]["action_agreement"] for run in runs])
        lines.append(f"| {key.dataset} | {key.label} | {len(runs)} | {key.updates} | "
                     f"{agreement.mean():.3f} ± {agreement.std():.3f} |")
    return lines


def markdown_report(results: list[dict[str, Any]], reps: int = 2000,
                    requested: dict[tuple[str, str, int], set[int]] | None = None) -> str:
    results, offline = split_offline_only(results)
    if not results:
        return "\n".join(offline_only_lines(offline)[1:])
    rows = summarize(results, reps, requested)
    with_wins = any(row["win_rate"] is not None for row in rows)
    lines = ["| dataset | algorithm | seeds | updates | normalized score (mean ± std) | IQM [95% CI] | "
             "return (mean ± std) |" + (" win rate (mean ± std) |" if with_wins else ""),
             "|---|---|---|---|---|---|---|" + ("---|" if with_wins else "")]
    for row in rows:
        updates = str(row["updates"])
        if row["normalized"]:
            score = f"{row['mean']:.1f} ± {row['std']:.1f}"
            interval = f"{row['iqm']:.1f} [{row['ci'][0]:.1f}, {row['ci'][1]:.1f}]"
        else:
            score = "n/a (no reference scores)"
            interval = f"{row['iqm']:.2f} [{row['ci'][0]:.2f}, {row['ci'][1]:.2f}] (raw return)"
        wins = "" if not with_wins else (" - |" if row["win_rate"] is None else
                                         f" {row['win_rate'][0]:.3f} ± {row['win_rate'][1]:.3f} |")
        lines.append(f"| {row['dataset']} | {row['label']} | {seeds_cell(row)} | {updates} | {score} | {interval} | "
                     f"{row['return_mean']:.2f} ± {row['return_std']:.2f} |{wins}")
    aggregated = aggregate(results, reps)
    if aggregated:
        lines += ["", "| scenario | algorithm | datasets | seeds each | mean normalized | IQM [95% stratified CI] |",
                  "|---|---|---|---|---|---|"]
        for row in aggregated:
            lines.append(f"| {row['scenario']} | {row['label']} | {row['tasks']} | {row['runs']} | {row['mean']:.1f} | "
                         f"{row['iqm']:.1f} [{row['ci'][0]:.1f}, {row['ci'][1]:.1f}] |")
    if offline:
        lines += offline_only_lines(offline)
    return "\n".join(lines)


def plot_curves(results: list[dict[str, Any]], path: str) -> None:
    """Learning curves (mean ± std across seeds) per dataset, one line per configuration."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    results, _ = split_offline_only(results)      # runs without online scores have no curve to draw
    if not results:
        raise MadataError("no run here has an online evaluation to plot (import-only scenarios only)")
    groups = group_results(results)
    labels = display_labels(list(groups))
    datasets = sorted({key.dataset for key in groups})
    columns = min(3, len(datasets))
    rows = (len(datasets) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.6 * rows), squeeze=False)
    for axis, dataset in zip(axes.flat, datasets):
        normalized_everywhere = True
        for key, runs in groups.items():
            if key.dataset != dataset:
                continue
            label = f"{labels[key]}, {key.updates} updates"
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
