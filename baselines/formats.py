"""`madata report --format`: marl-eval JSON, CSV and LaTeX tables of the same rows as the markdown."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from baselines.aggregate import run_label


def marl_eval(results: list[dict[str, Any]]) -> str:
    """InstaDeep marl-eval's raw layout: {env: {task: {algo: {run: {step_k: ..., absolute_metrics: ...}}}}}.

    env = scenario, task = `<quality>-v<N>`, algo = the configuration label (commas, which marl-eval
    does not allow in names, become ';'), run = `seed_<s>`. step_k holds each evaluation's mean return
    and normalized score; absolute_metrics the final policy's per-episode returns (and their normalized
    scores). marl-eval wants the same runs and steps for every algorithm of a task: compare runs of
    one budget and schedule.
    """
    tree: dict[str, Any] = {}
    for result in sorted(results, key=lambda r: (r["dataset"]["id"], r["label"], r["seed"])):
        scenario, task = result["dataset"]["id"].split("/")
        algo = f"{run_label(result)}@{result['updates']}".replace(",", ";")
        run: dict[str, Any] = {}
        for k, point in enumerate(result["curve"]):
            run[f"step_{k}"] = {"step_count": int(point["update"]), "mean_episode_return": [point["mean_return"]],
                                **({"normalized_return": [point["normalized"]]}
                                   if point["normalized"] is not None else {})}
        final = result["final"]
        absolute: dict[str, Any] = {"return": list(final.get("returns", [final["mean_return"]]))}
        references = result.get("reference_scores", {})
        if {"random", "expert"} <= references.keys():
            span = references["expert"] - references["random"]
            absolute["normalized_return"] = [100.0 * (r - references["random"]) / span for r in absolute["return"]]
        run["absolute_metrics"] = absolute
        tree.setdefault(scenario, {}).setdefault(task, {}).setdefault(algo, {})[f"seed_{result['seed']}"] = run
    return json.dumps(tree, indent=1)


COLUMNS = ("dataset", "algorithm", "updates", "seeds", "normalized_mean", "normalized_std", "iqm", "iqm_low",
           "iqm_high", "return_mean", "return_std")


def _cells(row: dict[str, Any]) -> list[Any]:
    normalized = row["normalized"]
    nan = float("nan")
    return [row["dataset"], row["label"], row["updates"], row["runs"],
            row["mean"] if normalized else nan, row["std"] if normalized else nan,
            row["iqm"] if normalized else nan, row["ci"][0] if normalized else nan,
            row["ci"][1] if normalized else nan, row["return_mean"], row["return_std"]]


def csv_table(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(["" if isinstance(c, float) and math.isnan(c) else
                         (f"{c:.4f}" if isinstance(c, float) else c) for c in _cells(row)])
    return buffer.getvalue()


def _tex(text: str) -> str:
    text = text.replace("\\", "\x00")     # backslashes first, so the escapes below are not escaped again
    for char, escaped in (("_", r"\_"), ("&", r"\&"), ("%", r"\%"), ("#", r"\#"), ("{", r"\{"), ("}", r"\}"),
                          ("$", r"\$")):
        text = text.replace(char, escaped)
    return text.replace("\x00", r"\textbackslash{}")


def latex_table(rows: list[dict[str, Any]]) -> str:
    """A booktabs table: normalized score mean $\\pm$ std and IQM [95% CI] per dataset and configuration."""
    lines = [r"\begin{tabular}{llrrll}", r"\toprule",
             r"dataset & algorithm & updates & seeds & normalized (mean $\pm$ std) & IQM [95\% CI] \\", r"\midrule"]
    for row in rows:
        if row["normalized"]:
            score = f"{row['mean']:.1f} $\\pm$ {row['std']:.1f}"
            interval = f"{row['iqm']:.1f} [{row['ci'][0]:.1f}, {row['ci'][1]:.1f}]"
        else:
            score, interval = "n/a", f"{row['iqm']:.2f} (raw return)"
        lines.append(f"{_tex(row['dataset'])} & {_tex(row['label'])} & {row['updates']} & {row['runs']} & "
                     f"{score} & {interval} \\\\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"
