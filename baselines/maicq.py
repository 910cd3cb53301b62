"""MA-ICQ: implicit constraint Q-learning (Yang et al. 2021) for continuous actions, per agent.

ICQ only ever evaluates actions that are in the dataset:
  * critic target: y = r + gamma (1 - done) w' Q'(o', a'), with a' the behaviour's
    next action and w' = B * softmax over the batch of Q'(o', a') / critic_temperature
    (the importance ratio of the implicitly constrained policy, normalised on the batch).
    The last step of an episode has no next behaviour action: it bootstraps from the
    target policy's action with weight 1.
  * actor: advantage-weighted regression on the dataset's actions,
    w = B * softmax over the batch of (Q1(o, a) - Q1(o, pi(o))) / actor_temperature,
    loss = w * ||pi(o) - a||^2 (the log-likelihood of a fixed-variance Gaussian policy,
    so the policy stays deterministic at evaluation).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from baselines.core.actor_critic import ActorCritic, ActorCriticConfig, masked_squared_error
from baselines.core.replay import Batch
from madatasets.errors import MadataError


@dataclass
class MAICQConfig(ActorCriticConfig):
    critic_temperature: float = 100.0
    actor_temperature: float = 1.0
    policy_noise: float = 0.0             # targets use dataset actions: no smoothing noise

    def validate(self) -> None:
        super().validate()
        if self.critic_temperature <= 0 or self.actor_temperature <= 0:
            raise MadataError("critic_temperature and actor_temperature must be positive")


def batch_weights(values: torch.Tensor, temperature: float, valid: torch.Tensor | None = None) -> torch.Tensor:
    """B * softmax over the batch axis (last) of values / temperature; rows with valid == 0 get weight 0."""
    logits = values / temperature
    if valid is not None:
        logits = logits.masked_fill(valid == 0, float("-inf"))
        count = valid.sum(dim=-1, keepdim=True).clamp_min(1.0)
    else:
        count = torch.full_like(values[..., :1], values.shape[-1])
    weights = torch.softmax(logits, dim=-1) * count
    return torch.nan_to_num(weights, nan=0.0)


class MAICQ(ActorCritic):
    name = "maicq"

    @torch.no_grad()
    def td_target(self, batch: Batch) -> torch.Tensor:
        n = self.n_agents
        has_next = batch.has_next_action                                        # (N, B)
        if self.config.critic == "centralized":
            joint_behaviour = self.target_inputs(batch, joint_next_actions=batch.joint_next_actions)
            behaviour_inputs, policy_inputs = joint_behaviour, self.target_inputs(batch)
        else:
            behaviour_inputs = self.target_inputs(batch, own_next_actions=batch.next_actions)
            policy_inputs = self.target_inputs(batch)

        def target_q(inputs: torch.Tensor) -> torch.Tensor:
            return self.critic_target(inputs.repeat(2, 1, 1)).view(2, n, -1).min(dim=0).values

        q_behaviour, q_policy = target_q(behaviour_inputs), target_q(policy_inputs)
        weights = batch_weights(q_behaviour, self.config.critic_temperature, has_next)
        bootstrap = has_next * weights * q_behaviour + (1.0 - has_next) * q_policy
        return batch.rewards + self.config.gamma * (1.0 - batch.dones) * bootstrap

    def actor_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        policy_actions = self.actor(self.normalize(batch.observations))
        with torch.no_grad():
            advantage = self.q_values(batch, batch.actions, twin=False) - \
                self.q_values(batch, policy_actions, twin=False)
            weights = batch_weights(advantage, self.config.actor_temperature)
        regression = masked_squared_error(policy_actions, batch.actions, self.act_mask.unsqueeze(1))
        loss = (weights * regression).mean(dim=-1).sum()
        return loss, {"actor_loss": loss.item() / self.n_agents}


Config, Algorithm = MAICQConfig, MAICQ
