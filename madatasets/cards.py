"""Dataset cards: provenance, checksums and reference scores of one dataset.

A card is a plain JSON-able dict kept in the Zarr group's attributes (the
machine-readable copy) and rendered to DATASET_CARD.md beside it (for people).
"""

from __future__ import annotations

import datetime as _dt
import platform
import shlex
import sys
from typing import Any

import numpy as np

CARD_FORMAT = 1


def return_statistics(episode_returns: np.ndarray) -> dict[str, float]:
    returns = np.asarray(episode_returns, dtype=np.float64)
    if returns.size == 0:
        return {"episodes": 0, "mean": float("nan"), "std": float("nan"), "min": float("nan"), "max": float("nan")}
    return {"episodes": int(returns.size), "mean": float(returns.mean()), "std": float(returns.std()),
            "min": float(returns.min()), "max": float(returns.max())}


def command_line() -> str:
    argv = list(sys.argv)
    if argv and argv[0].endswith("madata"):
        argv[0] = "madata"
    return shlex.join(argv)


def build_card(*, dataset_id: str, spec_dict: dict[str, Any], quality: str, version: int,
               behavior_policies: list[dict[str, Any]], seed: int, total_steps: int,
               total_episodes: int, returns: dict[str, float], reference_scores: dict[str, float],
               layout: str, collection: dict[str, Any]) -> dict[str, Any]:
    from madatasets import __version__
    card: dict[str, Any] = {
        "card_format": CARD_FORMAT,
        "id": dataset_id,
        "version": version,
        "scenario": spec_dict["name"],
        "scenario_version": spec_dict["version"],
        "scenario_spec": {k: v for k, v in spec_dict.items() if k not in ("name", "version", "package_versions")},
        "package_versions": spec_dict["package_versions"],
        "quality": quality,
        "layout": layout,
        "behavior_policies": behavior_policies,
        "seed": seed,
        "total_steps": total_steps,
        "total_episodes": total_episodes,
        "returns": returns,
        "reference_scores": reference_scores,
        "collection": collection,
        "madata_version": __version__,
        "python_version": platform.python_version(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command_line(),
    }
    if spec_dict.get("simulator") is False:
        # Import-only scenarios (SMAC on StarCraft II): nothing here can run the policy.
        card["online_evaluation"] = False
        card["usage"] = ("training and offline metrics only: the scenario has no simulator here "
                         "(StarCraft II is not available), so no policy trained on it can be evaluated online")
    if {"random", "expert"} <= reference_scores.keys() and returns.get("episodes"):
        span = reference_scores["expert"] - reference_scores["random"]
        card["normalized_return_mean"] = 100.0 * (returns["mean"] - reference_scores["random"]) / span
    return card


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_card_markdown(card: dict[str, Any]) -> str:
    lines = [f"# Dataset card: {card['id']}", ""]
    rows = [
        ("scenario", f"{card['scenario']} (scenario version {card['scenario_version']})"),
        ("quality", card["quality"]),
        ("layout", card["layout"]),
        ("total steps", card["total_steps"]),
        ("total episodes", card["total_episodes"]),
        ("seed", card["seed"]),
        ("madata version", card["madata_version"]),
        ("created", card["created"]),
        ("command", f"`{card['command']}`"),
    ]
    lines += ["| field | value |", "|---|---|"] + [f"| {k} | {_fmt(v)} |" for k, v in rows]
    if card.get("online_evaluation") is False:
        lines += ["", f"**No online evaluation.** This dataset is for {card['usage']}."]
    lines += ["", "## Returns (sum over steps of the mean reward over agents)", "",
              "| episodes | mean | std | min | max |", "|---|---|---|---|---|"]
    r = card["returns"]
    lines.append(f"| {r['episodes']} | {_fmt(r['mean'])} | {_fmt(r['std'])} | {_fmt(r['min'])} | {_fmt(r['max'])} |")
    if card.get("win_rate") is not None:
        lines.append(f"\nWin rate (episodes not cut by the step budget): {card['win_rate']:.3f}")
    lines += ["", "## Reference scores", ""]
    if card["reference_scores"]:
        lines += [f"- {k}: {_fmt(v)}" for k, v in sorted(card["reference_scores"].items())]
        if "normalized_return_mean" in card:
            lines.append(f"- normalized mean return of this dataset: {card['normalized_return_mean']:.1f}")
    else:
        lines.append("- none measured yet for this scenario version")
    lines += ["", "## Behaviour policies", "", "| index | id | checksum | description |", "|---|---|---|---|"]
    for index, policy in enumerate(card["behavior_policies"]):
        lines.append(f"| {index} | {policy['id']} | {policy.get('checksum') or '-'} | {policy.get('description', '')} |")
    lines += ["", "## Package versions", ""] + [f"- {k} {v}" for k, v in sorted(card["package_versions"].items())]
    lines += ["", "## Arrays (sha256)", "", "| array | sha256 |", "|---|---|"]
    lines += [f"| {name} | `{digest}` |" for name, digest in card.get("checksums", {}).items()]
    return "\n".join(lines) + "\n"
