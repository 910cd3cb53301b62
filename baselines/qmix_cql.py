"""QMIX+CQL: value decomposition with a monotonic mixing network on the state, plus a
conservative penalty on the mixed value (the OG-MARL baseline for SMAC, Formanek et al.).

    Q_tot(s, a) = mix_s(Q_1(o_1, a_1), ..., Q_N(o_N, a_N)),  mix_s monotone (|hypernetwork weights|)
    y     = r + gamma * (1 - done) * mix_target_s'(max over legal a'_i of Q_target_i(o'_i, a'_i))
    TD    = (Q_tot(s, a) - y)^2
    CQL   = logsumexp over {a} + K sampled legal joint actions of Q_tot(s, .)  -  Q_tot(s, a)
    loss  = TD + alpha * CQL

The joint action space is too large to enumerate (A^N), so, as in OG-MARL's
implementation, the logsumexp runs over K joint actions drawn uniformly from each
agent's legal actions together with the dataset's one. r is the shared team reward.
With `recurrent=true`, each Q_i reads the GRU's hidden state of agent i's history
and the means run over the sequences' masked steps (the mixer stays on each step's state).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from baselines.core.discrete import DiscreteAlgorithm, DiscreteBatch, DiscreteConfig, batch_mean, masked
from madatasets.errors import MadataError


@dataclass
class QMIXCQLConfig(DiscreteConfig):
    cql_alpha: float = 2.0          # OG-MARL's QMIX+CQL weight
    cql_samples: int = 20           # sampled joint actions in the logsumexp (OG-MARL num_ood_actions)
    mixer_embed: int = 32           # QMIX's mixing embedding (Rashid et al. 2018)
    soft_update: float = 0.005
    sequence_losses: ClassVar[bool] = True

    def validate(self) -> None:
        super().validate()
        if self.cql_alpha < 0:
            raise MadataError(f"cql_alpha must be >= 0, got {self.cql_alpha}")
        if self.cql_samples < 1 or self.mixer_embed < 1:
            raise MadataError("cql_samples and mixer_embed must be positive")


class Mixer(nn.Module):
    """QMIX's mixing network: hypernetworks on the state give non-negative mixing weights."""

    def __init__(self, n_agents: int, state_dim: int, embed: int):
        super().__init__()
        self.n_agents, self.embed = n_agents, embed
        self.w1, self.b1 = nn.Linear(state_dim, n_agents * embed), nn.Linear(state_dim, embed)
        self.w2 = nn.Linear(state_dim, embed)
        self.b2 = nn.Sequential(nn.Linear(state_dim, embed), nn.ReLU(), nn.Linear(embed, 1))

    def forward(self, utilities: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        """utilities (B, ..., N), states (B, S) -> Q_tot (B, ...)."""
        extra = utilities.dim() - 2
        shape = (states.shape[0],) + (1,) * extra
        w1 = self.w1(states).abs().view(*shape, self.n_agents, self.embed)
        b1 = self.b1(states).view(*shape, self.embed)
        hidden = nn.functional.elu((utilities.unsqueeze(-1) * w1).sum(-2) + b1)
        w2 = self.w2(states).abs().view(*shape, self.embed)
        return (hidden * w2).sum(-1) + self.b2(states).view(shape)


class QMIXCQL(DiscreteAlgorithm):
    name = "qmix_cql"

    def __init__(self, config: QMIXCQLConfig, spec, generator, observation_statistics=None):
        super().__init__(config, spec, generator, observation_statistics)
        self.mixer = Mixer(spec.n_agents, spec.state_dim, config.mixer_embed)
        self.target = copy.deepcopy(self.network).requires_grad_(False)
        self.target_mixer = copy.deepcopy(self.mixer).requires_grad_(False)
        self.generator = torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        self.optimizer = torch.optim.Adam(list(self.network.parameters()) + list(self.mixer.parameters()),
                                          lr=config.lr)

    def losses(self, batch: DiscreteBatch) -> tuple[torch.Tensor, torch.Tensor]:
        q, next_q, batch = self.step_values(batch, self.target)                               # (B, N, A) each
        q_tot = self.mixer(q.gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1), batch.states)
        with torch.no_grad():
            next_q = masked(next_q, batch.next_legal).amax(-1)
            target = batch.rewards[:, 0] + self.config.gamma * (1.0 - batch.dones) * \
                self.target_mixer(next_q, batch.next_states)
        td = batch_mean((q_tot - target).pow(2), batch.mask)
        # K joint actions, uniform over each agent's legal actions: (B, K, N).
        weights = batch.legal.float().unsqueeze(1).expand(-1, self.config.cql_samples, -1, -1)
        sampled = torch.multinomial(weights.reshape(-1, weights.shape[-1]), 1, generator=self.generator)
        sampled = sampled.view(weights.shape[:-1])
        q_sampled = q.unsqueeze(1).expand(-1, self.config.cql_samples, -1, -1).gather(-1, sampled.unsqueeze(-1))
        q_tot_sampled = self.mixer(q_sampled.squeeze(-1), batch.states)                      # (B, K)
        cql = batch_mean(torch.logsumexp(torch.cat([q_tot_sampled, q_tot.unsqueeze(1)], dim=1), dim=1) - q_tot,
                         batch.mask)
        return td, cql

    def update(self, batch: DiscreteBatch) -> dict[str, float]:
        self.updates += 1
        td, cql = self.losses(batch)
        self.optimize(td + self.config.cql_alpha * cql,
                      [(self.target, self.network), (self.target_mixer, self.mixer)])
        return {"td_loss": td.item(), "cql_loss": cql.item()}

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {"mixer": self.mixer.state_dict(), "target": self.target.state_dict(),
                                       "target_mixer": self.target_mixer.state_dict()}

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        super().load_state_dict(state, strict)
        self.mixer.load_state_dict(state["mixer"])
        self.target.load_state_dict(state["target"])
        self.target_mixer.load_state_dict(state["target_mixer"])


Config, Algorithm = QMIXCQLConfig, QMIXCQL
