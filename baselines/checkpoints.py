"""Saved policies: rebuild the algorithm of a checkpoint and re-run its evaluation (`madata evaluate`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from baselines.algorithms import algorithm_module
from baselines.core.config import with_values
from baselines.core.contract import Algorithm
from baselines.evaluation import Evaluator
from baselines.results import load_checkpoint, normalized_score
from madatasets.errors import MadataError
from madatasets.scenarios import get_spec

# Config fields that version-1 checkpoints of per-agent algorithms carried for the old harness.
_RETIRED_FIELDS = ("critic", "independent_batches")


def policy_from_checkpoint(checkpoint: dict[str, Any]) -> Algorithm:
    """Rebuild the algorithm of a checkpoint with its trained policy loaded."""
    module = algorithm_module(checkpoint["algorithm"])
    spec = get_spec(checkpoint["scenario"])
    if spec.version != checkpoint["scenario_version"]:
        raise MadataError(f"checkpoint was trained on {spec.name} version {checkpoint['scenario_version']}, "
                          f"the installed scenario is version {spec.version}")
    config = module.Config()
    values = dict(checkpoint["config"])
    if module.Algorithm.setting != "joint":
        values = {k: v for k, v in values.items() if k not in _RETIRED_FIELDS}
    config = with_values(config, values)
    algorithm = module.Algorithm(config, spec, torch.Generator())
    # Version 1 of the joint setting saved the actor only; everything acting needs is in it.
    algorithm.load_state_dict(checkpoint["policy"], strict=checkpoint["format_version"] != 1)
    return algorithm


def evaluate_checkpoint(path: str | Path, episodes: int = 32, seed: int | None = None) -> dict[str, Any]:
    """Re-run a saved policy; seed defaults to the training seed (same episodes as its final evaluation)."""
    checkpoint = load_checkpoint(path)
    algorithm = policy_from_checkpoint(checkpoint)
    seed = checkpoint["seed"] if seed is None else seed
    extra: dict[str, Any] = {}
    if module_setting(checkpoint) == "discrete":
        from baselines.discrete_evaluation import DiscreteEvaluator
        discrete = DiscreteEvaluator(checkpoint["scenario"], episodes, seed)
        returns, wins = discrete.run(algorithm)
        discrete.close()
        extra["win_rate"] = float(wins.mean())
    else:
        evaluator = Evaluator(checkpoint["scenario"], episodes, seed)
        returns = evaluator(algorithm)
        evaluator.close()
    mean = float(returns.mean())
    return extra | {"checkpoint": str(path), "dataset_id": checkpoint["dataset_id"], "algorithm": checkpoint["algorithm"],
            "episodes": episodes, "seed": seed, "mean_return": mean, "std_return": float(returns.std()),
            "normalized": normalized_score(_checkpoint_references(checkpoint), mean), "returns": returns.tolist()}


def module_setting(checkpoint: dict[str, Any]) -> str:
    return algorithm_module(checkpoint["algorithm"]).Algorithm.setting


def _checkpoint_references(checkpoint: dict[str, Any]) -> dict[str, float]:
    # Checkpoints written before they carried their dataset's references fall back to the registry's.
    if "reference_scores" in checkpoint:
        return checkpoint["reference_scores"]
    from madatasets.scores import reference_scores
    return reference_scores(checkpoint["dataset_id"])
