"""DDPG per agent on its own dataset B_i: MABCQ's unconstrained baseline (Sec 4.2).

Independent DDPG (Lillicrap et al., 2016) trained offline, "without action
constraint and transition probability modification", with the same networks and
hyperparameters as MABCQ (Table 8: 64x64 ReLU, lr of Q 1e-3, of the actor 1e-4
(xi's), batch 1024, gamma 0.99). One critic and one deterministic actor per
agent, both on the agent's input (s by default):
  y = r + gamma (1 - done) Q'(s', mu'(s'));  critic: E |Q(s, a_i) - y|^2;  actor: max E Q(s, mu(s)).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from baselines.core.decentralized import DecentralizedAlgorithm, DecentralizedConfig
from baselines.core.networks import StackedMLP, make_target, soft_update
from baselines.core.replay import Batch
from madatasets.scenarios import ScenarioSpec


@dataclass
class DDPGConfig(DecentralizedConfig):
    critic_lr: float = 1e-3        # Table 8's learning rate of Q
    actor_lr: float = 1e-4         # Table 8's learning rate of xi, MABCQ's policy network
    soft_update: float = 0.005     # target rate (the same as bcq/mabcq)


class DDPG(DecentralizedAlgorithm):
    name = "ddpg"

    def __init__(self, config: DDPGConfig, spec: ScenarioSpec, generator: torch.Generator,
                 observation_statistics: tuple[torch.Tensor, torch.Tensor] | None = None):
        super().__init__(config, spec, generator, observation_statistics)
        n, d, a = self.n_agents, self.input_dim, self.act_dim
        self.actor = StackedMLP(n, d, a, config.hidden, input_mask=self.input_mask, output_mask=self.act_mask,
                                output_activation="tanh")
        self.critic = StackedMLP(n, d + a, 1, config.hidden,
                                 input_mask=torch.cat([self.input_mask, self.act_mask], dim=1))
        self.actor_target, self.critic_target = make_target(self.actor), make_target(self.critic)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=config.actor_lr)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=config.critic_lr)

    def policy(self, inputs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return self.actor(inputs)

    def q(self, network: torch.nn.Module, inputs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return network(torch.cat([inputs, actions], dim=-1)).squeeze(-1)

    def q_values(self, inputs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.q(self.critic, self.normalize(inputs), actions)

    def update(self, batch: Batch) -> dict[str, float]:
        self.updates += 1
        inputs, next_inputs = self.normalize(batch.observations), self.normalize(batch.next_observations)
        with torch.no_grad():
            next_q = self.q(self.critic_target, next_inputs, self.actor_target(next_inputs))
            target = batch.rewards + self.config.gamma * (1.0 - batch.dones) * next_q
        q = self.q(self.critic, inputs, batch.actions)
        critic_loss = ((q - target) ** 2).mean(dim=-1).sum()
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optimizer.step()

        actor_loss = -self.q(self.critic, inputs, self.actor(inputs)).mean(dim=-1).sum()
        self.actor_optimizer.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_optimizer.step()

        soft_update(self.critic_target, self.critic, self.config.soft_update)
        soft_update(self.actor_target, self.actor, self.config.soft_update)
        return {"critic_loss": critic_loss.item() / self.n_agents, "actor_loss": actor_loss.item() / self.n_agents,
                "q_mean": q.mean().item()}


Config, Algorithm = DDPGConfig, DDPG
