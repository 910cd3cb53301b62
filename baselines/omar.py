"""OMAR: offline MARL with actor rectification (Pan et al.), on the MA-CQL critic.

Actor loss per agent (Eq. 2, minimised):
    tau * ||pi(o) - a_hat||^2 - (1 - tau) * Q1(o, pi(o)) + actor_l2 * ||pi(o)||^2
where a_hat is the best action a zeroth-order search over Q1 finds (Eq. 3; see
baselines/core/samplers.py): J = 3 iterations of K = 10 samples from
N(0, 2.0) refined by softmax(Q)-weighted means, argmax over the last population
and pi(o). `sampler` = "cem" or "random" gives the Table 4 ablations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from baselines.core.actor_critic import masked_squared_error
from baselines.core.replay import Batch
from baselines.core.samplers import SAMPLERS, search_actions
from baselines.macql import MACQL, MACQLConfig
from madatasets.errors import MadataError
from madatasets.store import DatasetId

# The actor coefficient tau by dataset quality (OMAR paper, Appendix B.1).
PAPER_TAU = {"random": 0.5, "medium-replay": 0.5, "medium": 0.7, "expert": 0.9}


@dataclass
class OMARConfig(MACQLConfig):
    tau: float = 0.7                      # actor coefficient: 0 = pure policy gradient, 1 = pure regression (B.1)
    sampler: str = "omar"                 # omar | cem | random
    sampler_iterations: int = 3           # J
    sampler_samples: int = 10             # K
    sampler_init_mean: float = 0.0
    sampler_init_std: float = 2.0
    sampler_temperature: float = 1.0      # beta of the softmax in Eq. (3)
    cem_elites: int = 3                   # elites per iteration for sampler=cem
    actor_l2: float = 0.0                 # ||pi(o)||^2 penalty (1e-3 in the authors' code)

    def validate(self) -> None:
        super().validate()
        if not 0.0 <= self.tau <= 1.0:
            raise MadataError(f"tau must be in [0, 1], got {self.tau}")
        if self.sampler not in SAMPLERS:
            raise MadataError(f"unknown sampler {self.sampler!r}; valid: {', '.join(SAMPLERS)}")
        if self.sampler_iterations < 1 or self.sampler_samples < 1:
            raise MadataError("sampler_iterations and sampler_samples must be positive")
        if self.sampler_init_std <= 0:
            raise MadataError(f"sampler_init_std must be positive, got {self.sampler_init_std}")

    @classmethod
    def table_values(cls, preset: str, dataset: DatasetId) -> tuple[dict[str, Any], list[str]]:
        """tau by quality (PAPER_TAU); `released-code`: tau 1 on spread and the ||pi(o)||^2 penalty."""
        values, notes = super().table_values(preset, dataset)
        tau = PAPER_TAU.get(dataset.quality)
        if tau is None:
            notes = [*notes, f"the paper gives no tau for quality {dataset.quality!r}; using tau=0.7"]
        values = {**values, "tau": 0.7 if tau is None else tau}
        if preset == "released-code":
            values["actor_l2"] = 1e-3
            if dataset.scenario == "mpe-spread-3":
                values["tau"] = 1.0
            else:
                notes = [*notes, f"released-code tau is only known for spread; keeping the paper's tau on "
                                 f"{dataset.scenario}"]
        return values, notes


class OMAR(MACQL):
    name = "omar"

    def rectified_actions(self, batch: Batch, policy_actions: torch.Tensor) -> torch.Tensor:
        """a_hat of Eq. (2): the sampler's best action under the online Q1, per agent and row."""
        config = self.config
        return search_actions(
            lambda candidates: self.q_values(batch, candidates, twin=False), policy_actions.detach(),
            self.act_mask, self.generator, method=config.sampler, iterations=config.sampler_iterations,
            samples=config.sampler_samples, init_mean=config.sampler_init_mean, init_std=config.sampler_init_std,
            temperature=config.sampler_temperature, elites=config.cem_elites)

    def actor_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        tau = self.config.tau
        policy_actions = self.actor(self.normalize(batch.observations))
        targets = self.rectified_actions(batch, policy_actions)
        q = self.q_values(batch, policy_actions, twin=False)                   # (N, B)
        regression = masked_squared_error(policy_actions, targets, self.act_mask.unsqueeze(1))
        l2 = (policy_actions ** 2).sum(dim=-1)
        loss = (tau * regression - (1.0 - tau) * q + self.config.actor_l2 * l2).mean(dim=-1).sum()
        return loss, {"actor_loss": loss.item() / self.n_agents, "rectification": regression.mean().item()}


Config, Algorithm = OMARConfig, OMAR
