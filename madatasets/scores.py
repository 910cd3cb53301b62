"""Normalized scores: 100 * (R - R_random) / (R_expert - R_random), the D4RL convention."""

from __future__ import annotations

import numpy as np

from madatasets.errors import MadataError
from madatasets.scenarios import get_spec


def reference_scores(scenario_or_id: str) -> dict[str, float]:
    """The scenario's reference scores; accepts 'mpe-spread-3' (the current zoo's expert) or a
    dataset id such as 'mpe-spread-3/expert-v0' (the expert of the zoo that made `-v0`)."""
    if "/" in scenario_or_id:
        from madatasets.ids import parse_id
        dataset_id = parse_id(scenario_or_id)
        return get_spec(dataset_id.scenario).references_for(dataset_id.version)[0]
    return get_spec(scenario_or_id).reference_scores


def normalized_score(scenario_or_id: str, returns: float | np.ndarray) -> float | np.ndarray:
    """Map raw episode returns to normalized scores (random = 0, expert = 100)."""
    references = reference_scores(scenario_or_id)
    missing = {"random", "expert"} - references.keys()
    if missing:
        raise MadataError(f"no {' or '.join(sorted(missing))} reference score for "
                          f"{scenario_or_id.split('/')[0]} yet; measure it first (see docs/datasets.md)")
    span = references["expert"] - references["random"]
    scores = 100.0 * (np.asarray(returns, dtype=np.float64) - references["random"]) / span
    return float(scores) if np.ndim(scores) == 0 else scores
