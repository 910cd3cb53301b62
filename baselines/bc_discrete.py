"""Discrete BC: one shared softmax policy over the legal actions, fitted by cross-entropy.

    loss = - mean over agents and transitions of log pi(a_i | o_i), pi = softmax over legal actions

The behaviour action is legal by construction (the collector checks it), so its
log-probability is finite; acting takes the most probable legal action. With
`recurrent=true`, pi reads the GRU's hidden state of the agent's history and the mean
runs over the sequences' masked steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from baselines.core.discrete import DiscreteAlgorithm, DiscreteBatch, DiscreteConfig, batch_mean, masked
from madatasets.store import DatasetId


@dataclass
class DiscreteBCConfig(DiscreteConfig):
    sequence_losses: ClassVar[bool] = True

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
        logits, _, batch = self.step_values(batch)
        log_pi = torch.log_softmax(masked(logits, batch.legal), dim=-1).gather(-1, batch.actions.unsqueeze(-1))
        return -batch_mean(log_pi.squeeze(-1), batch.mask)

    def update(self, batch: DiscreteBatch) -> dict[str, float]:
        self.updates += 1
        loss = self.loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"bc_loss": loss.item()}


Config, Algorithm = DiscreteBCConfig, DiscreteBC
