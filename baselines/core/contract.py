"""The algorithm contract: what the harness (baselines/training.py) and OTC call, and nothing more.

An algorithm is one module `baselines/<name>.py` defining `Config` (a dataclass
derived from `AlgorithmConfig`) and `Algorithm` (a class satisfying `Algorithm`
below), plus one line in baselines/algorithms.py. Its class declares which data
it learns from (`setting`):

  joint           transitions of all agents at once (OfflineReplay): the actor-critic track;
  per-agent       agent i sees only its own dataset B_i (PerAgentReplay): the decentralized track;
  online-tuning   per-agent offline pre-training, then deployments that add online data
                  (the OTC protocol, baselines/otc/, which wraps a per-agent backbone).

The harness builds the replay and evaluator from `setting` alone; it never probes
an algorithm for optional methods.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Mapping, Protocol, runtime_checkable

import numpy as np
import torch

from baselines.core.config import AlgorithmConfig
from baselines.core.replay import Batch, Replay

DataSetting = Literal["joint", "per-agent", "online-tuning", "discrete"]
# "discrete": joint transitions with integer actions and legal-action masks (SMAX,
# baselines/core/discrete.py); `act` then also takes `legal` (N, E, A) and returns (N, E), and the
# evaluator calls `begin_episodes(E)` / `end_episode(slot)` around episodes (recurrent agents' memory).
SETTINGS: tuple[DataSetting, ...] = ("joint", "per-agent", "online-tuning", "discrete")


@runtime_checkable
class Algorithm(Protocol):
    """N agents' policies trained from a replay: the one interface every baseline implements."""

    name: ClassVar[str]
    setting: ClassVar[DataSetting]
    config: AlgorithmConfig

    def pretrain(self, replay: Replay, generator: torch.Generator) -> dict[str, float]:
        """Work done once before the update loop (e.g. fitting BCQ's VAE); {} when there is none."""
        ...

    def update(self, batch: Batch) -> dict[str, float]:
        """One gradient update on a minibatch; returns its losses (floats) for the learning curve."""
        ...

    def act(self, observations: np.ndarray, states: np.ndarray,
            generator: torch.Generator | None = None) -> np.ndarray:
        """Actions (N, E, A) in [-1, 1] for observations (N, E, O) and global states (E, S).

        Each agent reads only its own input (o_i, or s for state-observing agents);
        `generator` drives stochastic choices (BCQ's sampled candidates) and is unused
        by deterministic policies.
        """
        ...

    def state_dict(self) -> Mapping[str, Any]:
        """Everything needed to act again after `load_state_dict` (the checkpoint's policy)."""
        ...

    def load_state_dict(self, state: Mapping[str, Any]) -> Any:
        ...
