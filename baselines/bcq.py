"""BCQ, one independent agent per dataset B_i (Fujimoto et al., 2019), as in MABCQ's experiments.

Per agent (baselines/core/decentralized.py: agent i sees only B_i): a conditional
VAE G1(a_i | s), a perturbation network xi(s, a) in [-Phi, Phi], twin critics with targets.
  acting:  pi(s) = argmax_{a_j + xi(s, a_j)} Q1(s, .) over a_j ~ G1(s), j = 1..n
  target:  y = r + gamma (1 - done) max_j [0.75 min_k + 0.25 max_k] Q'_k(s', a'_j + xi'(s', a'_j))
  critic:  sum_k E |Q_k(s, a_i) - y|^2;   xi: maximise E Q1(s, a + xi(s, a)), a ~ G1(s)
As in MABCQ's Algorithm 1, G1 is fitted on B_i before Q/xi learning (`pretrain`)
and frozen afterwards. `sample_weights` is the hook MABCQ fills with
lambda_tn * lambda_vd; BCQ weighs every sample 1. Defaults: MABCQ Table 8.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from baselines.core.decentralized import DecentralizedAlgorithm, DecentralizedConfig, fit_generative_models
from baselines.core.networks import StackedMLP, make_target, soft_update
from baselines.core.replay import Batch, Replay
from baselines.core.vae import StackedConditionalVAE
from madatasets.errors import MadataError
from madatasets.scenarios import ScenarioSpec


# -- BCQ ------------------------------------------------------------------------------
@dataclass
class BCQConfig(DecentralizedConfig):
    critic_lr: float = 1e-3            # learning rate of Q (Table 8)
    perturbation_lr: float = 1e-4      # learning rate of xi (Table 8)
    vae_lr: float = 1e-4               # learning rate of G (Table 8)
    latent_dim: int = 10               # VAE hidden space (Table 8)
    phi: float = 0.05                  # perturbation range Phi (Table 8)
    n_actions: int = 10                # sampled actions n (Table 8)
    soft_update: float = 0.005         # target rate (BCQ's; Table 8 gives none)
    target_mix: float = 0.75           # BCQ: 0.75 min + 0.25 max of the twin target critics
    vae_updates: int = 10_000          # minibatches fitting the VAEs before Q/xi learning (Algorithm 1, line 4)
    perturb_generated: bool = True     # xi's objective on a ~ G1(s) (BCQ); False: on dataset actions (Eq. 2 as printed)

    def validate(self) -> None:
        super().validate()
        if self.latent_dim < 1 or self.n_actions < 1:
            raise MadataError(f"latent_dim and n_actions must be positive, got {self.latent_dim} and {self.n_actions}")
        if not 0.0 <= self.phi <= 1.0:
            raise MadataError(f"phi must be in [0, 1] (actions live in [-1, 1]), got {self.phi}")
        if not 0.0 <= self.target_mix <= 1.0:
            raise MadataError(f"target_mix must be in [0, 1], got {self.target_mix}")
        if self.vae_updates < 0:
            raise MadataError(f"vae_updates must be non-negative, got {self.vae_updates}")


class BCQ(DecentralizedAlgorithm):
    name = "bcq"

    def __init__(self, config: BCQConfig, spec: ScenarioSpec, generator: torch.Generator,
                 observation_statistics: tuple[torch.Tensor, torch.Tensor] | None = None):
        super().__init__(config, spec, generator, observation_statistics)
        n, d, a = self.n_agents, self.input_dim, self.act_dim
        pair_mask = self.pair_mask
        # Twin critics of N agents: members 0..N-1 are Q1, N..2N-1 are Q2.
        self.critic = StackedMLP(2 * n, d + a, 1, config.hidden, input_mask=pair_mask.repeat(2, 1))
        self.perturbation = StackedMLP(n, d + a, a, config.hidden, input_mask=pair_mask,
                                       output_mask=self.act_mask, output_activation="tanh")
        self.critic_target = make_target(self.critic)
        self.perturbation_target = make_target(self.perturbation)
        self.behavior_model = StackedConditionalVAE(n, d, a, config.latent_dim, config.hidden,
                                                    condition_mask=self.input_mask, target_mask=self.act_mask)  # G1
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=config.critic_lr)
        self.perturbation_optimizer = torch.optim.Adam(self.perturbation.parameters(), lr=config.perturbation_lr)
        self.vae_optimizer = torch.optim.Adam(self.generative_parameters(), lr=config.vae_lr)

    # -- generative models -------------------------------------------------------------
    def generative_parameters(self) -> list[nn.Parameter]:
        return list(self.behavior_model.parameters())

    def generative_loss(self, inputs: torch.Tensor, actions: torch.Tensor,
                        next_inputs: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        loss, recon, kl = self.behavior_model.loss(inputs, actions, self.generator)
        return loss.sum(), {"g1_loss": loss.mean().item(), "g1_recon": recon.mean().item(), "g1_kl": kl.mean().item()}

    def pretrain(self, replay: Replay, generator: torch.Generator) -> dict[str, float]:
        return fit_generative_models(self, replay, generator, self.config.vae_updates)

    # -- networks -----------------------------------------------------------------------
    def perturb(self, network: nn.Module, inputs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """a + xi(s, a), with xi in [-Phi, Phi] (actions are in [-1, 1], so max_action = 1)."""
        shift = self.config.phi * network(torch.cat([inputs, actions], dim=-1))
        return (actions + shift).clamp(-1.0, 1.0)

    def twin_q(self, network: nn.Module, inputs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Both twins of every agent: (2, N, B)."""
        pair = torch.cat([inputs, actions], dim=-1)
        return network(pair.repeat(2, 1, 1)).view(2, self.n_agents, -1)

    def q1(self, inputs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        pair = torch.cat([inputs, actions], dim=-1)
        return self.critic(pair, members=slice(0, self.n_agents)).squeeze(-1)

    def candidates(self, inputs: torch.Tensor, perturbation: nn.Module,
                   generator: torch.Generator | None) -> torch.Tensor:
        """n perturbed G1 samples per row, (N, B, n, A).

        Every network here sees (s, x) for n values of x per s, so each computes the state's
        part of its first layer once per row (StackedMLP.forward_candidates).
        """
        n, b, k = self.n_agents, inputs.shape[1], self.config.n_actions
        sampled = self.behavior_model.decode_candidates(inputs, k, generator=generator).view(n, b, k, -1)
        shift = self.config.phi * perturbation.forward_candidates(inputs, sampled).view(n, b, k, -1)
        return (sampled + shift).clamp(-1.0, 1.0)

    def policy(self, inputs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        n, b, k = self.n_agents, inputs.shape[1], self.config.n_actions
        candidates = self.candidates(inputs, self.perturbation, generator)
        best = self.critic.forward_candidates(inputs, candidates, members=slice(0, n)).view(n, b, k).argmax(dim=-1)
        index = best[:, :, None, None].expand(-1, -1, 1, self.act_dim)
        return candidates.gather(2, index).squeeze(2)

    def q_values(self, inputs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.q1(self.normalize(inputs), actions)

    def mixed_q(self, network: nn.Module, inputs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """BCQ's soft clipped double Q: mix * min + (1 - mix) * max over the twins, (N, B)."""
        return self.mix_twins(self.twin_q(network, inputs, actions))

    def mix_twins(self, q: torch.Tensor) -> torch.Tensor:
        """(2, ...) twin values -> mix * min + (1 - mix) * max over the twins."""
        mix = self.config.target_mix
        return mix * q.min(dim=0).values + (1.0 - mix) * q.max(dim=0).values

    @torch.no_grad()
    def next_state_value(self, next_inputs: torch.Tensor) -> torch.Tensor:
        """V*(s') = Q'(s', pi'(s')): best mixed target Q over n perturbed samples, (N, B)."""
        n, b, k = self.n_agents, next_inputs.shape[1], self.config.n_actions
        candidates = self.candidates(next_inputs, self.perturbation_target, self.generator)
        q = self.critic_target.forward_candidates(next_inputs.repeat(2, 1, 1), candidates.repeat(2, 1, 1, 1))
        return self.mix_twins(q.view(2, n, b, k)).max(dim=-1).values

    # -- the update ---------------------------------------------------------------------
    def sample_weights(self, batch: Batch, inputs: torch.Tensor, next_inputs: torch.Tensor,
                       next_value: torch.Tensor) -> tuple[torch.Tensor | None, dict[str, float]]:
        """Per-sample weights (N, B) of Eq. (1)-(2), mean 1 per agent; None means all ones (BCQ)."""
        return None, {}

    def update(self, batch: Batch) -> dict[str, float]:
        self.updates += 1
        inputs, next_inputs = self.normalize(batch.observations), self.normalize(batch.next_observations)
        with torch.no_grad():
            next_value = self.next_state_value(next_inputs)
            target = batch.rewards + self.config.gamma * (1.0 - batch.dones) * next_value
            weights, info = self.sample_weights(batch, inputs, next_inputs, next_value)

        # Critic, Eq. (1): sum over agents of the per-agent weighted mean squared TD error.
        q = self.twin_q(self.critic, inputs, batch.actions)                       # (2, N, B)
        squared = (q - target.unsqueeze(0)) ** 2
        if weights is not None:
            squared = squared * weights.unsqueeze(0)
        critic_loss = squared.mean(dim=-1).sum()
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optimizer.step()

        # Perturbation, Eq. (2): maximise the weighted Q1 of perturbed actions.
        if self.config.perturb_generated:
            with torch.no_grad():
                base = self.behavior_model.decode(inputs, generator=self.generator)
        else:
            base = batch.actions
        perturbed_q = self.q1(inputs, self.perturb(self.perturbation, inputs, base))      # (N, B)
        if weights is not None:
            perturbed_q = perturbed_q * weights
        perturbation_loss = -perturbed_q.mean(dim=-1).sum()
        self.perturbation_optimizer.zero_grad(set_to_none=True)
        perturbation_loss.backward()
        self.perturbation_optimizer.step()

        soft_update(self.critic_target, self.critic, self.config.soft_update)
        soft_update(self.perturbation_target, self.perturbation, self.config.soft_update)
        info.update(critic_loss=critic_loss.item() / (2 * self.n_agents),
                    perturbation_loss=perturbation_loss.item() / self.n_agents,
                    q_mean=q.mean().item())
        return info


Config, Algorithm = BCQConfig, BCQ
