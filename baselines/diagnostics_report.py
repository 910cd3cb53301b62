"""Tables and plots of MABCQ's diagnostics across runs: `python -m baselines.diagnostics_report DIR... [--plot P]`."""

from __future__ import annotations

from typing import Any

import numpy as np

from baselines.report import group_results
from baselines.results import load_results
from madatasets.errors import MadataError

DIAGNOSTIC_KEYS = ("value_difference", "extrapolation_error")


def diagnostics_table(results: list[dict[str, Any]]) -> str:
    """Markdown: per (dataset, configuration) the final evaluation's diagnostics, mean +- std across seeds."""
    lines = ["| dataset | configuration | seeds | updates | max_i V_i - min_i V_i | extrapolation error "
             "| mean_i Q_i | Monte Carlo return |", "|---|---|---|---|---|---|---|---|"]

    def cell(values: list[float | None]) -> str:
        present = np.array([v for v in values if v is not None], dtype=np.float64)
        return "n/a" if present.size == 0 else f"{present.mean():.2f} ± {present.std():.2f}"

    for key, runs in group_results(results).items():
        dataset_id, label = key.dataset, key.label
        finals = [run["curve"][-1].get("diagnostics") for run in runs]
        if not any(finals):
            continue
        column = {key: [f.get(key) if f else None for f in finals]
                  for key in (*DIAGNOSTIC_KEYS, "q_estimate", "mc_return")}
        lines.append(f"| {dataset_id} | {label} | {len(runs)} | {runs[0]['updates']} | "
                     f"{cell(column['value_difference'])} | {cell(column['extrapolation_error'])} | "
                     f"{cell(column['q_estimate'])} | {cell(column['mc_return'])} |")
    return "\n".join(lines)


def plot_diagnostics(results: list[dict[str, Any]], path: str, key: str) -> None:
    """One panel per dataset: diagnostic `key` along training, mean ± std across seeds per configuration."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    groups = {group: runs for group, runs in group_results(results).items()
              if all(p.get("diagnostics") and p["diagnostics"].get(key) is not None for r in runs for p in r["curve"])}
    datasets = sorted({group.dataset for group in groups})
    figure, axes = plt.subplots(1, max(1, len(datasets)), figsize=(5 * max(1, len(datasets)), 3.4), squeeze=False)
    for axis, dataset in zip(axes.flat, datasets):
        for group, runs in groups.items():
            if group.dataset != dataset:
                continue
            label = group.label
            length = min(len(run["curve"]) for run in runs)
            updates = [point["update"] for point in runs[0]["curve"][:length]]
            values = np.array([[p["diagnostics"][key] for p in run["curve"][:length]] for run in runs])
            mean, std = values.mean(axis=0), values.std(axis=0)
            axis.plot(updates, mean, label=f"{label} ({len(runs)})")
            axis.fill_between(updates, mean - std, mean + std, alpha=0.2)
        axis.set_title(dataset, fontsize=9)
        axis.set_xlabel("updates")
        axis.set_ylabel(key.replace("_", " "))
        axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    import argparse
    parser = argparse.ArgumentParser(prog="python -m baselines.diagnostics_report",
                                     description="Diagnostics of decentralized runs: markdown table and plots.")
    parser.add_argument("directories", nargs="+", help="results directories written by `madata bench`")
    parser.add_argument("--plot", metavar="PREFIX", help="write PREFIX-value-difference.png and "
                                                         "PREFIX-extrapolation-error.png")
    args = parser.parse_args(argv)
    try:
        results = load_results(args.directories)
    except MadataError as error:
        raise SystemExit(f"error: {error}") from None    # one line, exit status 1
    print(diagnostics_table(results))
    if args.plot:
        for key in DIAGNOSTIC_KEYS:
            path = f"{args.plot}-{key.replace('_', '-')}.png"
            plot_diagnostics(results, path, key)
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
