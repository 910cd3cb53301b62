"""BC: behaviour cloning, one deterministic tanh policy per agent regressed on the dataset's actions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from baselines.core.actor_critic import ActorCriticConfig, OfflineAlgorithm, masked_squared_error
from baselines.core.replay import Batch
from madatasets.errors import MadataError
from madatasets.store import DatasetId


@dataclass
class BCConfig(ActorCriticConfig):
    actor_lr: float = 1e-3                 # plain regression: the paper's 0.01 is for its actor-critics
    normalize_observations: bool = True

    def validate(self) -> None:
        super().validate()
        if self.critic != "decentralized":
            raise MadataError("bc has no critic; --critic centralized does not apply")

    @classmethod
    def table_values(cls, preset: str, dataset: DatasetId) -> tuple[dict[str, Any], list[str]]:
        """No paper table: BC is a plain regression (the OMAR presets are for its actor-critics)."""
        return {}, []


class BC(OfflineAlgorithm):
    name = "bc"

    def __init__(self, config: BCConfig, spec, generator, observation_statistics=None):
        super().__init__(config, spec, generator, observation_statistics)
        self.optimizer = torch.optim.Adam(self.actor.parameters(), lr=config.actor_lr)

    def update(self, batch: Batch) -> dict[str, float]:
        self.updates += 1
        predicted = self.actor(self.normalize(batch.observations))
        loss = masked_squared_error(predicted, batch.actions, self.act_mask.unsqueeze(1)).mean(dim=-1).sum()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"bc_loss": loss.item() / self.n_agents}


Config, Algorithm = BCConfig, BC
