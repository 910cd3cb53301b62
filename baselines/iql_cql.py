"""Independent Q-learning with CQL (the discrete baseline of "Dispelling the Mirage of Progress
in Offline MARL", Formanek et al. 2024): each agent's Q(o_i, .) (one shared network with
an agent id), trained on the shared team reward with a conservative penalty.

    y_i   = r + gamma * (1 - done) * max over legal a' of Q_target(o'_i, a')
    TD    = mean_i (Q(o_i, a_i) - y_i)^2
    CQL   = mean_i [ logsumexp over legal a of Q(o_i, a)  -  Q(o_i, a_i) ]
    loss  = TD + alpha * CQL

Both the max in the target and the logsumexp range over the stored legal actions
only (the next step's masks for the target); acting is the greedy legal action.
The target network follows by Polyak averaging. With `recurrent=true`, Q reads the
GRU's hidden state of the agent's history (o_i above is the history up to the step),
and the means run over the sequences' masked steps.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from baselines.core.discrete import DiscreteAlgorithm, DiscreteBatch, DiscreteConfig, batch_mean, masked
from madatasets.errors import MadataError


@dataclass
class IQLCQLConfig(DiscreteConfig):
    cql_alpha: float = 2.0        # the study's CQL weight for SMAC IQL+CQL (OG-MARL default 2.0)
    soft_update: float = 0.005    # target network rate (OG-MARL's tau)
    sequence_losses: ClassVar[bool] = True

    def validate(self) -> None:
        super().validate()
        if self.cql_alpha < 0:
            raise MadataError(f"cql_alpha must be >= 0, got {self.cql_alpha}")


class IQLCQL(DiscreteAlgorithm):
    name = "iql_cql"

    def __init__(self, config: IQLCQLConfig, spec, generator, observation_statistics=None):
        super().__init__(config, spec, generator, observation_statistics)
        self.target = copy.deepcopy(self.network).requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=config.lr)

    def losses(self, batch: DiscreteBatch) -> tuple[torch.Tensor, torch.Tensor]:
        q, next_q, batch = self.step_values(batch, self.target)                               # (B, N, A) each
        q = masked(q, batch.legal)
        q_taken = q.gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)                       # (B, N)
        with torch.no_grad():
            next_q = masked(next_q, batch.next_legal).amax(-1)
            target = batch.rewards + self.config.gamma * (1.0 - batch.dones).unsqueeze(-1) * next_q
        td = batch_mean((q_taken - target).pow(2), batch.mask)
        cql = batch_mean(torch.logsumexp(q, dim=-1) - q_taken, batch.mask)
        return td, cql

    def update(self, batch: DiscreteBatch) -> dict[str, float]:
        self.updates += 1
        td, cql = self.losses(batch)
        self.optimize(td + self.config.cql_alpha * cql, [(self.target, self.network)])
        return {"td_loss": td.item(), "cql_loss": cql.item()}

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {"target": self.target.state_dict()}

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        super().load_state_dict(state, strict)
        self.target.load_state_dict(state["target"])


Config, Algorithm = IQLCQLConfig, IQLCQL
