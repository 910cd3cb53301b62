"""ITD3: independent TD3, one decentralized twin critic Q_i(o_i, a_i) and actor per agent.

With --critic centralized this is MATD3 (critics on the global state and joint action).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from baselines.core.actor_critic import ActorCritic, ActorCriticConfig
from baselines.core.replay import Batch


@dataclass
class ITD3Config(ActorCriticConfig):
    pass


class ITD3(ActorCritic):
    name = "itd3"

    def actor_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        policy_actions = self.actor(self.normalize(batch.observations))
        q = self.q_values(batch, policy_actions, twin=False)                  # (N, B)
        loss = -q.mean(dim=-1).sum()
        return loss, {"actor_loss": loss.item() / self.n_agents}


Config, Algorithm = ITD3Config, ITD3
