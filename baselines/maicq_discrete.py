"""MA-ICQ in its original discrete setting (Yang et al. 2021, "Believe What You See: Implicit
Constraint Approach for Offline Multi-Agent Reinforcement Learning"), with shared parameters.

Critic: a linear value decomposition on the state, Q_tot(s, a) = sum_i w_i(s) Q_i(o_i, a_i) + b(s),
w_i >= 0, trained only on dataset actions (no out-of-data action is ever evaluated):

    y    = r + gamma * (1 - done) * u(s', a') * Q_tot_target(s', a'),   a' the dataset's next joint action
    u    = B * softmax over the minibatch of Q_tot_target(s', a') / alpha
           (exp(Q / alpha) / Z(s'), with Z(s') estimated over the minibatch: ICQ's implicit constraint)

Actors: pi_i(. | o_i) softmax over legal actions, advantage-weighted with a counterfactual baseline:

    A_i  = w_i(s) * (Q_i(o_i, a_i) - sum over legal a of pi_i(a | o_i) Q_i(o_i, a))
    loss = - mean over agents of B * softmax over the minibatch of (A_i / beta) * log pi_i(a_i | o_i)

Rows without a next action in the data (a time-out or the step budget at an
episode's end) do not bootstrap a SARSA target: they are left out of the TD loss.
alpha = beta = 0.1 and the mixer embedding are our defaults for SMAX (stated, not the
paper's SC2 tables); acting takes the most probable legal action.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from baselines.core.discrete import DiscreteAlgorithm, DiscreteBatch, DiscreteConfig, SharedNetwork, masked
from madatasets.errors import MadataError


@dataclass
class MAICQDiscreteConfig(DiscreteConfig):
    alpha: float = 0.1          # critic temperature (our SMAX default)
    beta: float = 0.1           # actor temperature (our SMAX default)
    mixer_embed: int = 32
    soft_update: float = 0.005

    def validate(self) -> None:
        super().validate()
        if self.alpha <= 0 or self.beta <= 0:
            raise MadataError(f"alpha and beta must be positive, got {self.alpha} and {self.beta}")


class LinearMixer(nn.Module):
    """Q_tot = sum_i |w_i(s)| Q_i + b(s)."""

    def __init__(self, n_agents: int, state_dim: int, embed: int):
        super().__init__()
        self.weights = nn.Sequential(nn.Linear(state_dim, embed), nn.ReLU(), nn.Linear(embed, n_agents))
        self.bias = nn.Sequential(nn.Linear(state_dim, embed), nn.ReLU(), nn.Linear(embed, 1))

    def agent_weights(self, states: torch.Tensor) -> torch.Tensor:
        return self.weights(states).abs()

    def forward(self, utilities: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        return (self.agent_weights(states) * utilities).sum(-1) + self.bias(states).squeeze(-1)


def batch_weights(values: torch.Tensor, temperature: float) -> torch.Tensor:
    """B * softmax over the minibatch (dim 0): exp(v / T) / Z with Z estimated from the batch."""
    return len(values) * torch.softmax(values / temperature, dim=0)


class MAICQDiscrete(DiscreteAlgorithm):
    name = "maicq_discrete"

    def __init__(self, config: MAICQDiscreteConfig, spec, generator, observation_statistics=None):
        super().__init__(config, spec, generator, observation_statistics)
        self.actor = SharedNetwork(spec.obs_dim, spec.n_agents, spec.act_dim, config.hidden)
        self.mixer = LinearMixer(spec.n_agents, spec.state_dim, config.mixer_embed)
        self.target = copy.deepcopy(self.network).requires_grad_(False)
        self.target_mixer = copy.deepcopy(self.mixer).requires_grad_(False)
        self.critic_optimizer = torch.optim.Adam(list(self.network.parameters()) + list(self.mixer.parameters()),
                                                 lr=config.lr)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=config.lr)

    @property
    def acting_network(self) -> nn.Module:
        return self.actor

    def critic_loss(self, batch: DiscreteBatch, observations: torch.Tensor) -> torch.Tensor:
        q_taken = self.network(observations).gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)
        q_tot = self.mixer(q_taken, batch.states)
        with torch.no_grad():
            following = self.target(self.normalize(batch.next_observations))
            next_q = self.target_mixer(following.gather(-1, batch.next_actions.unsqueeze(-1)).squeeze(-1),
                                       batch.next_states)
            bootstrap = (1.0 - batch.dones) * batch.has_next
            # Weights over the rows that bootstrap only; terminal rows keep y = r.
            logits = torch.where(bootstrap > 0, next_q, torch.full_like(next_q, float("-inf")))
            live = int((bootstrap > 0).sum())
            weights = torch.softmax(logits / self.config.alpha, dim=0) * max(live, 1) if live else bootstrap
            target = batch.rewards[:, 0] + self.config.gamma * bootstrap * weights * next_q
        used = batch.dones + batch.has_next * (1.0 - batch.dones)     # terminal rows or rows with a next action
        return ((q_tot - target).pow(2) * used).sum() / used.sum().clamp(min=1.0)

    def actor_loss(self, batch: DiscreteBatch, observations: torch.Tensor) -> torch.Tensor:
        log_pi = torch.log_softmax(masked(self.actor(observations), batch.legal), dim=-1)       # (B, N, A)
        with torch.no_grad():
            q = self.network(observations)
            pi = log_pi.exp()
            baseline = (pi * q.masked_fill(~batch.legal, 0.0)).sum(-1)
            advantage = self.mixer.agent_weights(batch.states) * (q.gather(-1, batch.actions.unsqueeze(-1))
                                                                 .squeeze(-1) - baseline)
            weights = batch_weights(advantage, self.config.beta)                               # per agent column
        return -(weights * log_pi.gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)).mean()

    def update(self, batch: DiscreteBatch) -> dict[str, float]:
        self.updates += 1
        observations = self.normalize(batch.observations)
        critic = self.critic_loss(batch, observations)
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic.backward()
        self.critic_optimizer.step()
        actor = self.actor_loss(batch, observations)
        self.actor_optimizer.zero_grad(set_to_none=True)
        actor.backward()
        self.actor_optimizer.step()
        with torch.no_grad():
            for target, online in zip(list(self.target.parameters()) + list(self.target_mixer.parameters()),
                                      list(self.network.parameters()) + list(self.mixer.parameters())):
                target.lerp_(online, self.config.soft_update)
        return {"critic_loss": critic.item(), "actor_loss": actor.item()}

    def act(self, observations: np.ndarray, states: np.ndarray, generator: torch.Generator | None = None,
            legal: np.ndarray | None = None) -> np.ndarray:
        if legal is None:
            raise MadataError(f"{self.name} acts only with legal-action masks (discrete scenarios)")
        with torch.no_grad():
            logits = self.actor(self.normalize(torch.from_numpy(np.asarray(observations)).transpose(0, 1)))
            choice = masked(logits, torch.from_numpy(np.asarray(legal)).transpose(0, 1)).argmax(-1)
        return choice.transpose(0, 1).numpy()

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {"actor": self.actor.state_dict(), "mixer": self.mixer.state_dict(),
                                       "target": self.target.state_dict(),
                                       "target_mixer": self.target_mixer.state_dict()}

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        super().load_state_dict(state, strict)
        for name in ("actor", "mixer", "target", "target_mixer"):
            getattr(self, name).load_state_dict(state[name])


Config, Algorithm = MAICQDiscreteConfig, MAICQDiscrete
