"""The aggregate section of `madata report`: rliable's metrics across datasets, with CIs."""

from __future__ import annotations

from typing import Any

from baselines.aggregate import interval_estimates, probability_of_improvement, score_matrices
from madatasets.errors import MadataError


def aggregate_markdown(results: list[dict[str, Any]], reps: int = 2000,
                       improvement: tuple[tuple[str, str], ...] = ()) -> str:
    """IQM / median / mean / optimality gap per configuration over every dataset it ran on, and
    P(X > Y) for the requested pairs; '' when fewer than two datasets have normalized scores."""
    matrices, tasks = score_matrices(results)
    if improvement and not matrices:
        raise MadataError("--improvement needs normalized scores of both configurations on every dataset")
    lines: list[str] = []
    if matrices and len(tasks) >= 2:
        lines += ["", "", f"Aggregates over the {len(tasks)} datasets (rliable metrics, 95% stratified-bootstrap CIs, "
                      f"{reps} resamples; optimality gap against expert = 100):", "",
                  "| algorithm | runs x datasets | IQM | median | mean | optimality gap |", "|---|---|---|---|---|---|"]
        for label, values in interval_estimates(matrices, reps).items():
            cells = " | ".join(f"{p:.1f} [{lo:.1f}, {hi:.1f}]" for p, lo, hi in values.values())
            lines.append(f"| {label} | {matrices[label].shape[0]} x {len(tasks)} | {cells} |")
    for x, y in improvement:
        for name in (x, y):
            if name not in matrices:
                raise MadataError(f"--improvement: no configuration {name!r} with scores on every dataset; "
                                  f"valid: {', '.join(repr(k) for k in matrices)}")
        point, low, high = probability_of_improvement(matrices[x], matrices[y], reps)
        lines += ["", f"P({x} > {y}) = {point:.3f} [{low:.3f}, {high:.3f}] (95% CI, {len(tasks)} datasets)"]
    return "\n".join(lines)
