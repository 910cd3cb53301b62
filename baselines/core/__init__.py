"""Reusable pieces for offline MARL baselines: stacked networks, replay, evaluation, config, samplers.

See docs/baselines.md for the API.
"""

from baselines.core.actor_critic import ActorCritic, OfflineAlgorithm, masked_squared_error
from baselines.core.config import BaseConfig, parse_overrides, seed_everything, with_values
from baselines.core.evaluation import Evaluator, evaluation_seeds
from baselines.core.networks import StackedBatchNorm, StackedLinear, StackedMLP, make_target, soft_update
from baselines.core.replay import Batch, OfflineReplay
from baselines.core.samplers import SAMPLERS, search_actions

__all__ = ["ActorCritic", "BaseConfig", "Batch", "Evaluator", "OfflineAlgorithm", "OfflineReplay", "SAMPLERS",
           "StackedBatchNorm", "StackedLinear", "StackedMLP", "evaluation_seeds", "make_target",
           "masked_squared_error", "parse_overrides", "search_actions", "seed_everything", "soft_update",
           "with_values"]
