"""MABCQ for discrete actions (Jiang & Lu, "Offline Decentralized Multi-Agent Reinforcement Learning"):
Fujimoto's discrete BCQ per agent (baselines/bcq_discrete.py) with MABCQ's two weights on the
Q objective (Sec 3.2-3.3, Eq. 1), shared parameters and legal-action masks.

Algorithm 1, discrete:
  line 4   fit G1(a | o_i) and G2(a | o_i, o'_i) (softmax classifiers over the legal actions) on
           the data for `generative_updates` minibatches; both are frozen afterwards
  line 7   Q_i minimizes E[ w * Huber(Q(o_i, a_i) - y_i) ],
             allowed(o) = legal(o) and G1(a | o) / max_b G1(b | o) > threshold    (discrete BCQ)
             y_i        = r + gamma * (1 - done) * Q_target(o'_i, argmax over allowed(o'_i) of Q(o'_i, .))
             w          = B * softmax over the batch of (log lambda_vd + log lambda_tn)    (mean 1 per agent)
  line 9   Polyak-average the target network
  act(o) = argmax over allowed(o) of Q(o, .)    (discrete BCQ has no perturbation network xi)

Value deviation (Sec 3.2.1, 3.3), target networks, no gradients:
  V*(s')     = (1 - done) * Q_target(o'_i, a*')       E[V*(s')] ~= (Q_target(o_i, a_i) - r) / gamma
  lambda_vd  = clip(1 + (V*(s') - E[V*(s')]) / |E[V*(s')]|, 1 - eps, 1 + eps)

Transition normalization, discrete variant (stated): lambda_tn = 1 / P_B(s' | s, a_i) (Sec 3.2.2).
With a categorical action, Bayes' rule gives P(s' | s, a_i) = P(a_i | s, s') P(s' | s) / P(a_i | s),
so lambda_tn is proportional to G1(a_i | o_i) / G2(a_i | o_i, o'_i); the factor 1 / P(s' | s) does not
depend on a_i and is left out, like the paper's normalizer z_i. This replaces the paper's VAE
latent-density ratio N(mu1) / N(mu2), which approximates the same quantity for continuous actions.

Defaults: Table 8 (learning rate of Q 1e-3, of G 1e-4, batch 1024, 64x64, eps 0.80, Table 8's
HalfCheetah/Hopper value: it has no discrete maps); discrete BCQ's threshold 0.3.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from baselines.core.discrete import (DiscreteAlgorithm, DiscreteBatch, DiscreteConfig, DiscreteReplay,
                                     SharedNetwork, act_among_allowed, masked)
from baselines.mabcq import normalized_weights, value_deviation_weight
from madatasets.errors import MadataError


@dataclass
class MABCQDiscreteConfig(DiscreteConfig):
    critic_lr: float = 1e-3              # learning rate of Q (Table 8)
    generative_lr: float = 1e-4          # learning rate of G (Table 8)
    batch_size: int = 1024               # (Table 8)
    soft_update: float = 0.005
    threshold: float = 0.3               # discrete BCQ's tau (Fujimoto et al. 2019)
    epsilon: float = 0.80                # optimism level: lambda_vd in [1 - eps, 1 + eps] (Table 8)
    value_deviation: bool = True         # weight by lambda_vd (false: "MABCQ w/o lambda_vd")
    transition_normalization: bool = True    # weight by lambda_tn (false: "MABCQ w/o lambda_tn")
    expectation_floor: float = 1e-3      # |E[V*(s')]| is used as at least this (guards a zero division)
    generative_updates: int = 10_000     # minibatches fitting G1 and G2 first (Algorithm 1, line 4)

    def validate(self) -> None:
        super().validate()
        if not 0.0 <= self.threshold < 1.0:
            raise MadataError(f"threshold must be in [0, 1), got {self.threshold}")
        if not 0.0 <= self.epsilon < 1.0:
            raise MadataError(f"epsilon must be in [0, 1) so that lambda_vd stays positive, got {self.epsilon}")
        if self.expectation_floor <= 0:
            raise MadataError(f"expectation_floor must be positive, got {self.expectation_floor}")
        if self.generative_updates < 0:
            raise MadataError(f"generative_updates must be non-negative, got {self.generative_updates}")


def log_transition_weight(g1_logits: torch.Tensor, g2_logits: torch.Tensor, actions: torch.Tensor,
                          legal: torch.Tensor) -> torch.Tensor:
    """log lambda_tn = log G1(a | o) - log G2(a | o, o'), both softmax over the legal actions."""
    taken = actions.unsqueeze(-1)
    log_g1 = torch.log_softmax(masked(g1_logits, legal), dim=-1).gather(-1, taken).squeeze(-1)
    log_g2 = torch.log_softmax(masked(g2_logits, legal), dim=-1).gather(-1, taken).squeeze(-1)
    return log_g1 - log_g2


class MABCQDiscrete(DiscreteAlgorithm):
    name = "mabcq_discrete"

    def __init__(self, config: MABCQDiscreteConfig, spec, generator, observation_statistics=None):
        super().__init__(config, spec, generator, observation_statistics)
        self.imitation = SharedNetwork(spec.obs_dim, spec.n_agents, spec.act_dim, config.hidden)          # G1
        self.transition = SharedNetwork(2 * spec.obs_dim, spec.n_agents, spec.act_dim, config.hidden)     # G2
        self.target = copy.deepcopy(self.network).requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=config.critic_lr)
        self.generative_optimizer = torch.optim.Adam(
            list(self.imitation.parameters()) + list(self.transition.parameters()), lr=config.generative_lr)

    # -- Algorithm 1, line 4 -------------------------------------------------------------
    def generative_loss(self, batch: DiscreteBatch) -> tuple[torch.Tensor, torch.Tensor]:
        observations, following = self.normalize(batch.observations), self.normalize(batch.next_observations)
        g1 = masked(self.imitation(observations), batch.legal)
        g2 = masked(self.transition(torch.cat([observations, following], dim=-1)), batch.legal)
        actions = batch.actions.flatten()
        return F.cross_entropy(g1.flatten(0, 1), actions), F.cross_entropy(g2.flatten(0, 1), actions)

    def pretrain(self, replay: DiscreteReplay, generator: torch.Generator) -> dict[str, float]:
        g1 = g2 = torch.zeros(())
        for _ in range(self.config.generative_updates):
            g1, g2 = self.generative_loss(replay.sample(self.config.batch_size, generator))
            self.generative_optimizer.zero_grad(set_to_none=True)
            (g1 + g2).backward()
            self.generative_optimizer.step()
        self.imitation.requires_grad_(False)
        self.transition.requires_grad_(False)
        return {"g1_loss": g1.item(), "g2_loss": g2.item(), "generative_updates": self.config.generative_updates}

    # -- Algorithm 1, line 7 -------------------------------------------------------------
    def allowed(self, observations: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
        """legal and G1(a|o) / max G1 > threshold; observations already normalized."""
        probabilities = torch.softmax(masked(self.imitation(observations), legal), dim=-1)
        return legal & (probabilities / probabilities.amax(-1, keepdim=True) > self.config.threshold)

    @torch.no_grad()
    def sample_weights(self, batch: DiscreteBatch, observations: torch.Tensor, following: torch.Tensor,
                       next_value: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """w (B, N) with mean 1 per agent over the batch, and what the weights looked like."""
        config = self.config
        log_weights = torch.zeros_like(batch.rewards)
        info: dict[str, float] = {}
        if config.value_deviation:
            q_target = self.target(observations).gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)
            expected = (q_target - batch.rewards) / config.gamma
            lambda_vd = value_deviation_weight(next_value, expected, config.epsilon, config.expectation_floor)
            log_weights = log_weights + lambda_vd.log()
            info["lambda_vd_mean"] = lambda_vd.mean().item()
        if config.transition_normalization:
            log_tn = log_transition_weight(self.imitation(observations),
                                           self.transition(torch.cat([observations, following], dim=-1)),
                                           batch.actions, batch.legal)
            log_weights = log_weights + log_tn
            info["log_lambda_tn_mean"] = log_tn.mean().item()
        weights = normalized_weights(log_weights.T).T          # softmax over the batch, per agent
        info["weight_max"] = weights.max().item()
        return weights, info

    def losses(self, batch: DiscreteBatch) -> tuple[torch.Tensor, dict[str, float]]:
        observations, following = self.normalize(batch.observations), self.normalize(batch.next_observations)
        q_taken = self.network(observations).gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)
        with torch.no_grad():
            choice = masked(self.network(following), self.allowed(following, batch.next_legal)).argmax(-1, keepdim=True)
            next_value = (1.0 - batch.dones).unsqueeze(-1) * self.target(following).gather(-1, choice).squeeze(-1)
            target = batch.rewards + self.config.gamma * next_value
            weights, info = self.sample_weights(batch, observations, following, next_value)
        loss = (weights * F.smooth_l1_loss(q_taken, target, reduction="none")).mean()
        return loss, info

    def update(self, batch: DiscreteBatch) -> dict[str, float]:
        self.updates += 1
        loss, info = self.losses(batch)
        self.optimize(loss, [(self.target, self.network)])
        return {"q_loss": loss.item()} | info

    def act(self, observations: np.ndarray, states: np.ndarray, generator: torch.Generator | None = None,
            legal: np.ndarray | None = None) -> np.ndarray:
        return act_among_allowed(self, observations, legal)

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {"imitation": self.imitation.state_dict(),
                                       "transition": self.transition.state_dict(), "target": self.target.state_dict()}

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        super().load_state_dict(state, strict)
        for name in ("imitation", "transition", "target"):
            getattr(self, name).load_state_dict(state[name])


Config, Algorithm = MABCQDiscreteConfig, MABCQDiscrete
