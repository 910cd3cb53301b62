"""Discrete BCQ (Fujimoto et al. 2019, "Benchmarking Batch Deep Reinforcement Learning
Algorithms"), per agent with shared parameters: a generative model G(a | o_i) of the
behaviour policy restricts the greedy choice to actions it deems likely enough.

    allowed(o)  = legal(o)  and  G(a | o) / max_b G(b | o) > tau          (G: softmax over legal actions)
    y_i         = r + gamma * (1 - done) * Q_target(o'_i, argmax over allowed(o'_i) of Q(o'_i, .))
    loss        = Huber(Q(o_i, a_i) - y_i) + CE(G(. | o_i), a_i) + 0.01 * mean(logits^2)
    act(o)      = argmax over allowed(o) of Q(o, .)

tau = 0.3 and the logit penalty 0.01 are the paper's Atari values (its Table 2 /
released code). The most likely legal action always passes the threshold, so the
allowed set is never empty.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from baselines.core.discrete import (DiscreteAlgorithm, DiscreteBatch, DiscreteConfig, SharedNetwork, act_among_allowed,
                                     masked)
from madatasets.errors import MadataError


@dataclass
class DiscreteBCQConfig(DiscreteConfig):
    threshold: float = 0.3          # tau (Fujimoto et al. 2019)
    logit_penalty: float = 0.01     # regularizer on the imitation logits (their released code)
    soft_update: float = 0.005

    def validate(self) -> None:
        super().validate()
        if not 0.0 <= self.threshold < 1.0:
            raise MadataError(f"threshold must be in [0, 1), got {self.threshold}")


class DiscreteBCQ(DiscreteAlgorithm):
    name = "bcq_discrete"

    def __init__(self, config: DiscreteBCQConfig, spec, generator, observation_statistics=None):
        super().__init__(config, spec, generator, observation_statistics)
        self.imitation = SharedNetwork(spec.obs_dim, spec.n_agents, spec.act_dim, config.hidden)
        self.target = copy.deepcopy(self.network).requires_grad_(False)
        self.optimizer = torch.optim.Adam(list(self.network.parameters()) + list(self.imitation.parameters()),
                                          lr=config.lr)

    def allowed(self, observations: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
        """legal and G(a|o) / max G > tau, (..., N, A) bool; observations already normalized."""
        probabilities = torch.softmax(masked(self.imitation(observations), legal), dim=-1)
        return legal & (probabilities / probabilities.amax(-1, keepdim=True) > self.config.threshold)

    def losses(self, batch: DiscreteBatch) -> dict[str, torch.Tensor]:
        observations = self.normalize(batch.observations)
        q_taken = self.network(observations).gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)
        with torch.no_grad():
            following = self.normalize(batch.next_observations)
            choice = masked(self.network(following), self.allowed(following, batch.next_legal)).argmax(-1, keepdim=True)
            next_q = self.target(following).gather(-1, choice).squeeze(-1)
            target = batch.rewards + self.config.gamma * (1.0 - batch.dones).unsqueeze(-1) * next_q
        logits = self.imitation(observations)
        imitation = F.cross_entropy(masked(logits, batch.legal).flatten(0, 1), batch.actions.flatten())
        return {"q_loss": F.smooth_l1_loss(q_taken, target), "imitation_loss": imitation,
                "logit_penalty": logits.pow(2).mean()}

    def update(self, batch: DiscreteBatch) -> dict[str, float]:
        self.updates += 1
        losses = self.losses(batch)
        self.optimize(losses["q_loss"] + losses["imitation_loss"] + self.config.logit_penalty * losses["logit_penalty"],
                      [(self.target, self.network)])
        return {name: value.item() for name, value in losses.items()}

    def act(self, observations: np.ndarray, states: np.ndarray, generator: torch.Generator | None = None,
            legal: np.ndarray | None = None) -> np.ndarray:
        return act_among_allowed(self, observations, legal)

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {"imitation": self.imitation.state_dict(), "target": self.target.state_dict()}

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        super().load_state_dict(state, strict)
        self.imitation.load_state_dict(state["imitation"])
        self.target.load_state_dict(state["target"])


Config, Algorithm = DiscreteBCQConfig, DiscreteBCQ
