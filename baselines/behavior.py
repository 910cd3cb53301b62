"""Behavior: each agent acts with G1's decoded actions, MABCQ's "Behavior" baseline (Sec 4.2).

G1 is the conditional VAE of bcq/mabcq (same size, learning rate, latent 10 and
fitting budget `vae_updates`, Algorithm 1 line 4), fitted in `pretrain`. Acting
decodes one action per step from a prior sample z ~ N(0, I) clipped to
[-0.5, 0.5], exactly the candidates BCQ chooses among, without perturbation or
critic. Nothing is learned in the update loop: `update` is a no-op, so the
learning curve is flat by construction (run it with `--steps 1`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from baselines.core.decentralized import DecentralizedAlgorithm, DecentralizedConfig, fit_generative_models
from baselines.core.replay import Batch, Replay
from baselines.core.vae import StackedConditionalVAE
from madatasets.errors import MadataError
from madatasets.scenarios import ScenarioSpec


@dataclass
class BehaviorConfig(DecentralizedConfig):
    vae_lr: float = 1e-4           # Table 8's learning rate of G
    latent_dim: int = 10           # Table 8's VAE hidden space
    vae_updates: int = 10_000      # the same G1 fit as bcq/mabcq

    def validate(self) -> None:
        super().validate()
        if self.latent_dim < 1 or self.vae_updates < 0:
            raise MadataError("latent_dim must be positive and vae_updates non-negative")


class Behavior(DecentralizedAlgorithm):
    name = "behavior"
    has_critic = False

    def __init__(self, config: BehaviorConfig, spec: ScenarioSpec, generator: torch.Generator,
                 observation_statistics: tuple[torch.Tensor, torch.Tensor] | None = None):
        super().__init__(config, spec, generator, observation_statistics)
        self.behavior_model = StackedConditionalVAE(self.n_agents, self.input_dim, self.act_dim, config.latent_dim,
                                                    config.hidden, condition_mask=self.input_mask,
                                                    target_mask=self.act_mask)
        self.vae_optimizer = torch.optim.Adam(self.behavior_model.parameters(), lr=config.vae_lr)
        self.fit_info: dict[str, float] = {}

    def generative_loss(self, inputs: torch.Tensor, actions: torch.Tensor,
                        next_inputs: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        loss, recon, kl = self.behavior_model.loss(inputs, actions, self.generator)
        return loss.sum(), {"g1_loss": loss.mean().item(), "g1_recon": recon.mean().item(), "g1_kl": kl.mean().item()}

    def pretrain(self, replay: Replay, generator: torch.Generator) -> dict[str, float]:
        self.fit_info = fit_generative_models(self, replay, generator, self.config.vae_updates)
        return dict(self.fit_info)

    def policy(self, inputs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return self.behavior_model.decode(inputs, generator=generator)

    def update(self, batch: Batch) -> dict[str, float]:
        self.updates += 1
        return dict(self.fit_info)


Config, Algorithm = BehaviorConfig, Behavior
