"""AWAC per agent on its own dataset B_i: an offline baseline of the decentralized track and OTC's second backbone.

Advantage-Weighted Actor-Critic (Nair et al., 2020), fully decentralized like
baselines/bcq.py: agent i learns from (s, a_i, r, s') of B_i only, with its own
twin critics and Gaussian actor. The N agents' networks are stacked (one batched
call per layer); every loss is a per-agent mean summed over agents, so agent i's
gradient is that of its own loss.

  actor:   pi_i(a | s) = N(tanh(m_i(s)), diag(exp(log_std_i))), log_std a learned vector per agent
  target:  y = r + gamma (1 - done) min_k Q'_k(s', a'),   a' ~ pi_i(. | s')
  critic:  sum_k E |Q_k(s, a_i) - y|^2
  actor:   max E_{(s, a_i) ~ B_i} log pi_i(a_i | s) * min(exp(A(s, a_i) / lambda), w_max),
           A(s, a_i) = min_k Q_k(s, a_i) - min_k Q_k(s, a~),  a~ ~ pi_i(. | s)
The advantage weight is computed without gradients: the actor regresses onto the
dataset's own actions, which is AWAC's implicit constraint to the behaviour.
Acting for evaluation uses the mean action; OTC's online deployments sample
(`exploration_policy`), as AWAC does online. Defaults follow OTC Table 3 (AWAC
column): hidden (256, 256), actor lr 1e-4, critic lr 5e-4, gamma 0.99.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from baselines.core.decentralized import DecentralizedAlgorithm, DecentralizedConfig
from baselines.core.networks import StackedMLP, make_target, soft_update
from baselines.core.replay import Batch
from madatasets.errors import MadataError
from madatasets.scenarios import ScenarioSpec

LOG_STD_MIN, LOG_STD_MAX = -5.0, 0.5     # keeps the Gaussian from collapsing or covering far beyond [-1, 1]


@dataclass
class AWACConfig(DecentralizedConfig):
    batch_size: int = 128                  # OTC Table 3
    hidden: tuple[int, ...] = (256, 256)   # OTC Table 3 (AWAC)
    actor_lr: float = 1e-4                 # OTC Table 3
    critic_lr: float = 5e-4                # OTC Table 3 (AWAC)
    temperature: float = 1.0               # lambda of exp(A / lambda) (AWAC's default)
    max_weight: float = 100.0              # clip of the advantage weight (keeps one sample from dominating)
    soft_update: float = 0.005             # target rate
    initial_log_std: float = -1.0          # starting log std of every action dimension

    def validate(self) -> None:
        super().validate()
        for name in ("temperature", "max_weight"):
            if getattr(self, name) <= 0:
                raise MadataError(f"{name} must be positive, got {getattr(self, name)}")
        if not LOG_STD_MIN <= self.initial_log_std <= LOG_STD_MAX:
            raise MadataError(f"initial_log_std must be in [{LOG_STD_MIN}, {LOG_STD_MAX}], got {self.initial_log_std}")


class AWAC(DecentralizedAlgorithm):
    name = "awac"

    def __init__(self, config: AWACConfig, spec: ScenarioSpec, generator: torch.Generator,
                 observation_statistics: tuple[torch.Tensor, torch.Tensor] | None = None):
        super().__init__(config, spec, generator, observation_statistics)
        n, d, a = self.n_agents, self.input_dim, self.act_dim
        pair_mask = self.pair_mask
        self.actor = StackedMLP(n, d, a, config.hidden, input_mask=self.input_mask, output_mask=self.act_mask,
                                output_activation="tanh")
        self.log_std = nn.Parameter(torch.full((n, 1, a), config.initial_log_std))
        # Twin critics of N agents: members 0..N-1 are Q1, N..2N-1 are Q2.
        self.critic = StackedMLP(2 * n, d + a, 1, config.hidden, input_mask=pair_mask.repeat(2, 1))
        self.critic_target = make_target(self.critic)
        self.actor_optimizer = torch.optim.Adam([*self.actor.parameters(), self.log_std], lr=config.actor_lr)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=config.critic_lr)

    # -- the Gaussian policy ------------------------------------------------------------
    def distribution(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean (N, B, A) and std (N, 1, A) of pi(. | s) for standardised inputs."""
        return self.actor(inputs), self.log_std.clamp(LOG_STD_MIN, LOG_STD_MAX).exp()

    def log_prob(self, inputs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """log pi(a | s) over the agent's real action dimensions only, (N, B)."""
        mean, std = self.distribution(inputs)
        per_dim = -0.5 * ((actions - mean) / std) ** 2 - std.log() - 0.5 * math.log(2.0 * math.pi)
        return (per_dim * self.act_mask.unsqueeze(1)).sum(dim=-1)

    def sample_actions(self, inputs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        mean, std = self.distribution(inputs)
        noise = torch.randn(mean.shape, generator=generator)
        return ((mean + std * noise).clamp(-1.0, 1.0)) * self.act_mask.unsqueeze(1)

    def policy(self, inputs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return self.actor(inputs)

    def exploration_policy(self, inputs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Sampled actions for online deployments (AWAC acts stochastically online)."""
        return self.sample_actions(inputs, generator)

    # -- critics --------------------------------------------------------------------------
    def twin_q(self, network: nn.Module, inputs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Both twins of every agent: (2, N, B)."""
        pair = torch.cat([inputs, actions], dim=-1)
        return network(pair.repeat(2, 1, 1)).view(2, self.n_agents, -1)

    def q_values(self, inputs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.twin_q(self.critic, self.normalize(inputs), actions).min(dim=0).values

    # -- the update ---------------------------------------------------------------------
    def update(self, batch: Batch) -> dict[str, float]:
        self.updates += 1
        inputs, next_inputs = self.normalize(batch.observations), self.normalize(batch.next_observations)
        with torch.no_grad():
            next_actions = self.sample_actions(next_inputs, self.generator)
            next_q = self.twin_q(self.critic_target, next_inputs, next_actions).min(dim=0).values
            target = batch.rewards + self.config.gamma * (1.0 - batch.dones) * next_q

        q = self.twin_q(self.critic, inputs, batch.actions)                          # (2, N, B)
        critic_loss = ((q - target.unsqueeze(0)) ** 2).mean(dim=-1).sum()
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optimizer.step()

        with torch.no_grad():
            q_data = self.twin_q(self.critic, inputs, batch.actions).min(dim=0).values
            value = self.twin_q(self.critic, inputs, self.sample_actions(inputs, self.generator)).min(dim=0).values
            advantage = q_data - value
            weights = torch.exp(advantage / self.config.temperature).clamp(max=self.config.max_weight)
        actor_loss = -(self.log_prob(inputs, batch.actions) * weights).mean(dim=-1).sum()
        self.actor_optimizer.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_optimizer.step()

        soft_update(self.critic_target, self.critic, self.config.soft_update)
        return {"critic_loss": critic_loss.item() / (2 * self.n_agents),
                "actor_loss": actor_loss.item() / self.n_agents,
                "q_mean": q.mean().item(), "advantage_weight_mean": weights.mean().item(),
                "log_std_mean": self.log_std.mean().item()}


Config, Algorithm = AWACConfig, AWAC
