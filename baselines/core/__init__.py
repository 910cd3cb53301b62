"""The algorithm kit: the contract every baseline implements and the parts they are built from.

  contract.py       Algorithm (a Protocol) and the data settings: joint / per-agent / online-tuning
  config.py         AlgorithmConfig (one validation), typed --set overrides, seeding
  replay.py         Batch, OfflineReplay (joint), PerAgentReplay (per-agent), one input statistics
  actor_critic.py   the joint track's base: stacked actors, TD3 twin critics, the update skeleton
  decentralized.py  the per-agent track's base: agent inputs, own-data statistics, acting, VAE fitting
  networks.py, vae.py, samplers.py   stacked MLPs, conditional VAEs, OMAR's action search

See docs/architecture.md.
"""

from baselines.core.actor_critic import ActorCritic, ActorCriticConfig, OfflineAlgorithm, masked_squared_error
from baselines.core.config import AlgorithmConfig, parse_overrides, seed_everything, with_values
from baselines.core.contract import SETTINGS, Algorithm, DataSetting
from baselines.core.decentralized import DecentralizedAlgorithm, DecentralizedConfig
from baselines.core.networks import StackedBatchNorm, StackedLinear, StackedMLP, make_target, soft_update
from baselines.core.replay import Batch, OfflineReplay, PerAgentReplay, Replay
from baselines.core.samplers import SAMPLERS, search_actions

__all__ = ["ActorCritic", "ActorCriticConfig", "Algorithm", "AlgorithmConfig", "Batch", "DataSetting",
           "DecentralizedAlgorithm", "DecentralizedConfig", "OfflineAlgorithm", "OfflineReplay", "PerAgentReplay",
           "Replay", "SAMPLERS", "SETTINGS", "StackedBatchNorm", "StackedLinear", "StackedMLP", "make_target",
           "masked_squared_error", "parse_overrides", "search_actions", "seed_everything", "soft_update",
           "with_values"]
