"""Discrete BC: one shared softmax policy over the legal actions, fitted by cross-entropy.

    loss = - mean over agents and transitions of log pi(a_i | o_i), pi = softmax over legal actions

The behaviour action is legal by construction (the collector checks it), so its
log-probability is finite; acting takes the most probable legal action.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from baselines.core.discrete import DiscreteAlgorithm, DiscreteBatch, DiscreteConfig, masked
from madatasets.store import DatasetId


@dataclass
class DiscreteBCConfig(DiscreteConfig):
    @classmethod
    def table_values(cls, preset: str, dataset: DatasetId) -> tuple[dict[str, Any], list[str]]:
        """No paper table: BC is a plain classification."""
        return {}, []


class DiscreteBC(DiscreteAlgorithm):
    name = "bc_discrete"

    def __init__(self, config: DiscreteBCConfig, spec, generator, observation_statistics=None):
        super().__init__(config, spec, generator, observation_statistics)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=config.lr)

    def loss(self, batch: DiscreteBatch) -> torch.Tensor:
        logits = masked(self.network(self.normalize(batch.observations)), batch.legal)
        log_pi = torch.log_softmax(logits, dim=-1).gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)
        return -log_pi.mean()

    def update(self, batch: DiscreteBatch) -> dict[str, float]:
        self.updates += 1
        loss = self.loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"bc_loss": loss.item()}


Config, Algorithm = DiscreteBCConfig, DiscreteBC
