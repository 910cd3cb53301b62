"""MA-CQL: CQL(H) on every agent's twin critic, on top of ITD3 (OMAR Eq. 1).

Critic loss per agent and twin k:
    TD error + cql_weight * E_D[ logsumexp_a Q_k(o, a) - Q_k(o, a_data) ]
The logsumexp over the continuous action space is estimated by importance
sampling, as in CQL: `cql_uniform_actions` uniform actions on [-1, 1]^d (log
density d log 0.5) and `cql_policy_actions` actions pi(o) + N(0, cql_policy_std)
(Gaussian log density), logsumexp_j (Q(o, a_j) - log q(a_j)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from baselines.core.actor_critic import uniform_log_density
from baselines.core.replay import Batch
from baselines.itd3 import ITD3, ITD3Config
from madatasets.errors import MadataError
from madatasets.store import DatasetId

# CQL weight by scenario and quality. OMAR's paper tunes it in {0.1, 0.5, 1, 5} without
# publishing the picks; these are the values of the authors' released code (all in that set).
CQL_WEIGHT = {
    "mpe-spread-3": {"random": 0.5, "medium-replay": 1.0, "medium": 5.0, "expert": 5.0},
    "mpe-tag-3v1": {"random": 0.5, "medium-replay": 0.5, "medium": 5.0, "expert": 5.0},
    "mpe-world-4v2": {"random": 0.5, "medium-replay": 1.0, "medium": 0.5, "expert": 5.0},
    "halfcheetah-2x3": {"random": 1.0, "medium-replay": 5.0, "medium": 1.0, "expert": 5.0},
}


@dataclass
class MACQLConfig(ITD3Config):
    cql_weight: float = 1.0               # alpha of Eq. (1); presets pick it per dataset
    cql_uniform_actions: int = 10
    cql_policy_actions: int = 10
    cql_policy_std: float = 0.3

    def validate(self) -> None:
        super().validate()
        if self.cql_weight < 0:
            raise MadataError(f"cql_weight must be non-negative, got {self.cql_weight}")
        if self.cql_uniform_actions < 0 or self.cql_policy_actions < 0 or \
                self.cql_uniform_actions + self.cql_policy_actions == 0:
            raise MadataError("cql_uniform_actions and cql_policy_actions must be >= 0 and not both 0")
        if self.cql_policy_std <= 0:
            raise MadataError(f"cql_policy_std must be positive, got {self.cql_policy_std}")

    @classmethod
    def table_values(cls, preset: str, dataset: DatasetId) -> tuple[dict[str, Any], list[str]]:
        """The dataset's CQL weight (CQL_WEIGHT); `released-code` also samples uniform actions only."""
        values, notes = super().table_values(preset, dataset)
        weight = CQL_WEIGHT.get(dataset.scenario, {}).get(dataset.quality)
        if weight is None:
            notes = [f"no published CQL weight for {dataset.scenario}/{dataset.quality}; using cql_weight=1.0",
                     *notes]
            weight = 1.0
        values = {**values, "cql_weight": weight}
        if preset == "released-code":
            values.update(cql_uniform_actions=10, cql_policy_actions=0)
        return values, notes


class MACQL(ITD3):
    name = "macql"

    def ood_actions(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Sampled actions (N, B, K, A) and their log proposal densities (N, B, K)."""
        n, b, a = batch.actions.shape
        mask = self.act_mask[:, None, None, :]
        actions, log_density = [], []
        if self.config.cql_uniform_actions:
            k = self.config.cql_uniform_actions
            actions.append((torch.rand((n, b, k, a), generator=self.generator) * 2.0 - 1.0) * mask)
            log_density.append(uniform_log_density(self.act_sizes)[:, None, None].expand(n, b, k))
        if self.config.cql_policy_actions:
            k, std = self.config.cql_policy_actions, self.config.cql_policy_std
            with torch.no_grad():
                mean = self.actor(self.normalize(batch.observations)).unsqueeze(2)
            noise = torch.randn((n, b, k, a), generator=self.generator) * std
            actions.append((mean + noise).clamp(-1.0, 1.0) * mask)
            gaussian = (-0.5 * (noise / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi)) * mask
            log_density.append(gaussian.sum(dim=-1))
        return torch.cat(actions, dim=2), torch.cat(log_density, dim=2)

    def cql_penalty(self, batch: Batch, q_data: torch.Tensor) -> torch.Tensor:
        """Per twin and agent: mean over rows of logsumexp_a Q(o, a) - Q(o, a_data); (2, N)."""
        actions, log_density = self.ood_actions(batch)
        q_sampled = self.q_values(batch, actions)                              # (2, N, B, K)
        soft_max = torch.logsumexp(q_sampled - log_density.unsqueeze(0), dim=-1)
        return (soft_max - q_data).mean(dim=-1)

    def critic_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        target = self.td_target(batch)
        q = self.q_values(batch, batch.actions)                                # (2, N, B)
        td = ((q - target.unsqueeze(0)) ** 2).mean(dim=-1)                     # (2, N)
        penalty = self.cql_penalty(batch, q)
        loss = (td + self.config.cql_weight * penalty).sum()
        return loss, {"critic_loss": td.mean().item(), "cql_penalty": penalty.mean().item(),
                      "q_mean": q.mean().item()}


Config, Algorithm = MACQLConfig, MACQL
