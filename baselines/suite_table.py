"""The table `madata bench ALGORITHM` prints for a suite: per dataset, then aggregated with rliable."""

from __future__ import annotations

from typing import Any

from baselines.aggregate import interval_estimates, score_matrices
from baselines.report import seeds_cell, summarize
from baselines.suites import Suite


def _paper_cell(suite: Suite, row: dict[str, Any], result: dict[str, Any]) -> str:
    paper = suite.paper_score(result["algorithm"], row["dataset"])
    return f"{paper[0]:.1f} ± {paper[1]:.1f}" if paper else "-"


def _best_cell(results: list[dict[str, Any]], row: dict[str, Any]) -> str:
    """Mean over seeds of each run's best evaluation: a labelled extra, never the score (model selection)."""
    best = [max(p["normalized"] for p in r["curve"]) for r in results
            if r["dataset"]["id"] == row["dataset"] and r["label"] == row["label"].split(" (")[0]
            and r["updates"] == row["updates"] and all(p["normalized"] is not None for p in r["curve"])]
    return f"{sum(best) / len(best):.1f}" if best else "-"


def suite_table(suite: Suite, results: list[dict[str, Any]], reps: int = 2000) -> str:
    """Markdown: normalized score (mean ± std), IQM [95% CI] and the paper's number per dataset and
    configuration; then IQM / median / mean / optimality gap with stratified-bootstrap CIs over the suite."""
    rows = summarize(results, reps)
    by_key = {(r["dataset"]["id"], r["label"]): r for r in results}   # a row's label is one of these + notes
    metric = suite.paper.get("metric", "normalized")
    lines = [f"suite {suite.tag()}: {suite.description}", "",
             f"| dataset | algorithm | seeds | updates | normalized score (mean ± std) | IQM [95% CI] | "
             f"paper ({metric}) | best evaluation (extra, not the score) |", "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        result = by_key[(row["dataset"], row["label"].split(" (")[0])]
        if row["normalized"]:
            score = f"{row['mean']:.1f} ± {row['std']:.1f}"
            interval = f"{row['iqm']:.1f} [{row['ci'][0]:.1f}, {row['ci'][1]:.1f}]"
        else:
            score, interval = "n/a (no reference scores)", f"{row['iqm']:.2f} (raw return)"
        lines.append(f"| {row['dataset']} | {row['label']} | {seeds_cell(row)} | {row['updates']} | {score} | "
                     f"{interval} | {_paper_cell(suite, row, result)} | {_best_cell(results, row)} |")
    matrices, tasks = score_matrices(results)
    if matrices:
        estimates = interval_estimates(matrices, reps)
        lines += ["", f"aggregate over {len(tasks)} dataset(s), 95% stratified-bootstrap CIs (rliable metrics):", "",
                  "| algorithm | runs x tasks | IQM | median | mean | optimality gap |", "|---|---|---|---|---|---|"]
        for label, values in estimates.items():
            cells = " | ".join(f"{p:.1f} [{lo:.1f}, {hi:.1f}]" for p, lo, hi in values.values())
            shape = matrices[label].shape
            lines.append(f"| {label} | {shape[0]} x {shape[1]} | {cells} |")
    if suite.paper.get("note"):
        lines += ["", f"paper: {suite.paper.get('tables', '')}; {suite.paper['note']}"]
    return "\n".join(lines)
