"""MABCQ: BCQ per agent with the value-deviation and transition-normalization weights (Sec 3.2-3.3).

Each agent i learns from its own B_i only (see baselines/bcq.py). MABCQ replaces
the uniform sampling of (s, a_i, s') by sampling weighted with lambda_tn * lambda_vd,
which by importance sampling is the weighted objective

  Eq. (1)  Q_i:  min E_{B_i} lambda_tn lambda_vd |Q_i(s, a_i) - y_i|^2,  y_i = r + gamma Q'_i(s', pi'_i(s'))
  Eq. (2)  xi_i: max E_{B_i} lambda_tn lambda_vd Q_i(s, a + xi_i(s, a))

Value deviation (Sec 3.2.1, 3.3), with target networks and without gradients:
  V*(s')       = Q'(s', pi'(s'))                     (0 when s' is terminal, as in y)
  E[V*(s')]   ~= (Q'(s, a_i) - r) / gamma            (estimated from the sample itself)
  lambda_vd    = clip(1 + (V*(s') - E[V*(s')]) / |E[V*(s')]|, 1 - eps, 1 + eps)
The denominator is |E|, so the sign of the deviation is right whatever the sign
of the values (rewards can be negative); it is floored at `expectation_floor` so
that a near-zero expectation cannot divide by zero (the clip bounds the result).

Transition normalization (Sec 3.2.2, 3.3): a second conditional VAE
G2(a_i | s, s') with encoder E2(mu2, sigma2 | s, a_i, s') is fitted next to G1;
  lambda_tn = N(mu1(s, a_i); 0, I) / N(mu2(s, a_i, s'); 0, I)
computed as a difference of log densities (both latents have the same size, so
the normalising constants cancel) and never exponentiated on its own.

The weights are combined in log space and normalised over each agent's batch:
  w = B * softmax_b(log lambda_tn + log lambda_vd)   (mean 1 per agent),
which is finite for any latent means. Ablations: value_deviation=false
("MABCQ w/o lambda_vd"), transition_normalization=false ("w/o lambda_tn"); both
off is BCQ. Table 8 is the `paper` preset: the defaults, with the optimism level
eps per robot from TABLE8_EPSILON (`MABCQConfig.table_values`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from baselines.bcq import BCQ, BCQConfig
from baselines.core.replay import Batch
from baselines.core.vae import StackedConditionalVAE
from madatasets.errors import MadataError
from madatasets.scenarios import ScenarioSpec
from madatasets.store import DatasetId

# Optimism level eps of Table 8, by the scenario's robot.
TABLE8_EPSILON = {"halfcheetah": 0.80, "walker2d": 0.48, "hopper": 0.80, "ant": 0.64}


@dataclass
class MABCQConfig(BCQConfig):
    epsilon: float = 0.80                  # optimism level: lambda_vd in [1 - eps, 1 + eps] (Table 8)
    value_deviation: bool = True           # weight by lambda_vd (false: "MABCQ w/o lambda_vd")
    transition_normalization: bool = True  # weight by lambda_tn (false: "MABCQ w/o lambda_tn")
    expectation_floor: float = 1e-3        # |E[V*(s')]| is used as at least this (guards a zero division)

    def validate(self) -> None:
        super().validate()
        if not 0.0 <= self.epsilon < 1.0:
            raise MadataError(f"epsilon must be in [0, 1) so that lambda_vd stays positive, got {self.epsilon}")
        if self.expectation_floor <= 0:
            raise MadataError(f"expectation_floor must be positive, got {self.expectation_floor}")

    @classmethod
    def table_values(cls, preset: str, dataset: DatasetId) -> tuple[dict[str, Any], list[str]]:
        """Table 8's eps for the dataset's robot under the `paper` and `released-code` presets."""
        robot = dataset.scenario.split("-")[0]
        if robot in TABLE8_EPSILON:
            return {"epsilon": TABLE8_EPSILON[robot]}, []
        return {}, [f"Table 8 gives no optimism level for {robot}; using epsilon={cls.epsilon}"]


def value_deviation_weight(next_value: torch.Tensor, expected_value: torch.Tensor, epsilon: float,
                           floor: float = 1e-3) -> torch.Tensor:
    """lambda_vd = clip(1 + (V*(s') - E[V*(s')]) / max(|E[V*(s')]|, floor), 1 - eps, 1 + eps)."""
    deviation = (next_value - expected_value) / expected_value.abs().clamp(min=floor)
    return (1.0 + deviation).clamp(1.0 - epsilon, 1.0 + epsilon)


def transition_normalization_log_weight(log_density_g1: torch.Tensor, log_density_g2: torch.Tensor) -> torch.Tensor:
    """log lambda_tn = log N(mu1; 0, I) - log N(mu2; 0, I)."""
    return log_density_g1 - log_density_g2


def normalized_weights(log_weights: torch.Tensor) -> torch.Tensor:
    """Weights with mean 1 over the last (batch) axis from their logs: B * softmax."""
    return log_weights.shape[-1] * torch.softmax(log_weights, dim=-1)


class MABCQ(BCQ):
    name = "mabcq"

    def __init__(self, config: MABCQConfig, spec: ScenarioSpec, generator: torch.Generator,
                 observation_statistics: tuple[torch.Tensor, torch.Tensor] | None = None):
        super().__init__(config, spec, generator, observation_statistics)
        n, d, a = self.n_agents, self.input_dim, self.act_dim
        if config.transition_normalization:
            # G2 models a_i given (s, s'); its encoder therefore sees (s, a_i, s').
            self.transition_model = StackedConditionalVAE(
                n, 2 * d, a, config.latent_dim, config.hidden,
                condition_mask=self.input_mask.repeat(1, 2), target_mask=self.act_mask)
            self.vae_optimizer = torch.optim.Adam(self.generative_parameters(), lr=config.vae_lr)

    def generative_parameters(self) -> list[torch.nn.Parameter]:
        parameters = list(self.behavior_model.parameters())
        if hasattr(self, "transition_model"):
            parameters += list(self.transition_model.parameters())
        return parameters

    def generative_loss(self, inputs: torch.Tensor, actions: torch.Tensor,
                        next_inputs: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        loss, info = super().generative_loss(inputs, actions, next_inputs)
        if self.config.transition_normalization:
            g2, recon, kl = self.transition_model.loss(torch.cat([inputs, next_inputs], dim=-1), actions,
                                                       self.generator)
            loss = loss + g2.sum()
            info.update(g2_loss=g2.mean().item(), g2_recon=recon.mean().item(), g2_kl=kl.mean().item())
        return loss, info

    @torch.no_grad()
    def log_transition_weight(self, inputs: torch.Tensor, actions: torch.Tensor,
                              next_inputs: torch.Tensor) -> torch.Tensor:
        """log lambda_tn (N, B) from the latent means of G1 and G2."""
        log_g1 = self.behavior_model.log_prior_density_of_mean(inputs, actions)
        log_g2 = self.transition_model.log_prior_density_of_mean(torch.cat([inputs, next_inputs], dim=-1), actions)
        return transition_normalization_log_weight(log_g1, log_g2)

    @torch.no_grad()
    def sample_weights(self, batch: Batch, inputs: torch.Tensor, next_inputs: torch.Tensor,
                       next_value: torch.Tensor) -> tuple[torch.Tensor | None, dict[str, float]]:
        config = self.config
        if not (config.value_deviation or config.transition_normalization):
            return None, {}
        log_weights = torch.zeros_like(batch.rewards)
        info: dict[str, float] = {}
        if config.value_deviation:
            expected = (self.mixed_q(self.critic_target, inputs, batch.actions) - batch.rewards) / config.gamma
            lambda_vd = value_deviation_weight((1.0 - batch.dones) * next_value, expected, config.epsilon,
                                               config.expectation_floor)
            log_weights = log_weights + lambda_vd.log()
            at_bound = (lambda_vd <= 1.0 - config.epsilon + 1e-6) | (lambda_vd >= 1.0 + config.epsilon - 1e-6)
            info.update(lambda_vd_mean=lambda_vd.mean().item(), lambda_vd_clipped=at_bound.float().mean().item())
        if config.transition_normalization:
            log_tn = self.log_transition_weight(inputs, batch.actions, next_inputs)
            log_weights = log_weights + log_tn
            info.update(log_lambda_tn_mean=log_tn.mean().item(), log_lambda_tn_std=log_tn.std().item())
        weights = normalized_weights(log_weights)
        info["weight_max"] = weights.max().item()
        return weights, info


Config, Algorithm = MABCQConfig, MABCQ
