"""MA-TD3+BC: TD3+BC per agent (Fujimoto & Gu 2021) on independent (or centralized) twin critics.

Actor loss per agent: -lambda * Q1(o, pi(o)) + ||pi(o) - a||^2 with
lambda = alpha / mean|Q1(o, pi(o))| (batch mean, no gradient), alpha = 2.5, and
observations standardised with the dataset statistics, as in the original.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from baselines.core.actor_critic import ActorCritic, ActorCriticConfig, masked_squared_error
from baselines.core.replay import Batch
from madatasets.errors import MadataError


@dataclass
class MATD3BCConfig(ActorCriticConfig):
    alpha: float = 2.5                     # weight of the normalised Q term
    normalize_observations: bool = True

    def validate(self) -> None:
        super().validate()
        if self.alpha < 0:
            raise MadataError(f"alpha must be non-negative, got {self.alpha}")


class MATD3BC(ActorCritic):
    name = "matd3_bc"

    def actor_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        policy_actions = self.actor(self.normalize(batch.observations))
        q = self.q_values(batch, policy_actions, twin=False)                  # (N, B)
        scale = self.config.alpha / q.abs().mean(dim=-1, keepdim=True).detach().clamp_min(1e-6)
        behaviour = masked_squared_error(policy_actions, batch.actions, self.act_mask.unsqueeze(1))
        loss = (-scale * q + behaviour).mean(dim=-1).sum()
        return loss, {"actor_loss": loss.item() / self.n_agents, "bc_term": behaviour.mean().item()}


Config, Algorithm = MATD3BCConfig, MATD3BC
