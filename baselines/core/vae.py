"""Conditional VAEs stacked on an agent axis (BCQ's generative model, MABCQ's G1 and G2, OTC later).

A member m models p(x | c): the encoder E(mu, sigma | c, x), the decoder D(x | c, z).
All members run in one batched call through `StackedMLP`, every tensor agent-major
(M, B, D), and member m only ever sees row m of its inputs.

* G1 of BCQ/MABCQ: condition c = s (or o_i), target x = a_i.
* G2 of MABCQ: condition c = (s, s'), target x = a_i, so its encoder sees (s, a_i, s').

Sampling follows BCQ: the decoder's latent is drawn from N(0, I) clipped to
[-0.5, 0.5], which keeps generated actions near the data's modes. The loss is
BCQ's: reconstruction MSE + 0.5 * KL(N(mu, sigma) || N(0, I)), per member.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from baselines.core.networks import StackedMLP

LOG_STD_MIN, LOG_STD_MAX = -4.0, 15.0     # BCQ's clamp on the encoder's log std
LATENT_CLIP = 0.5                         # BCQ's clip of the decoder's prior samples
KL_WEIGHT = 0.5


class StackedConditionalVAE(nn.Module):
    """M independent conditional VAEs p(x | c) with targets in [-1, 1] (tanh decoder)."""

    def __init__(self, members: int, condition_dim: int, target_dim: int, latent_dim: int = 10,
                 hidden: Sequence[int] = (64, 64), condition_mask: torch.Tensor | None = None,
                 target_mask: torch.Tensor | None = None):
        super().__init__()
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be positive, got {latent_dim}")
        self.members, self.latent_dim, self.target_dim = members, latent_dim, target_dim
        condition_mask = torch.ones(members, condition_dim) if condition_mask is None else condition_mask.float()
        target_mask = torch.ones(members, target_dim) if target_mask is None else target_mask.float()
        self.register_buffer("target_mask", target_mask.unsqueeze(1))
        self.encoder = StackedMLP(members, condition_dim + target_dim, 2 * latent_dim, hidden,
                                  input_mask=torch.cat([condition_mask, target_mask], dim=1))
        self.decoder = StackedMLP(members, condition_dim + latent_dim, target_dim, hidden,
                                  input_mask=torch.cat([condition_mask, torch.ones(members, latent_dim)], dim=1),
                                  output_mask=target_mask, output_activation="tanh")

    def encode(self, condition: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latent mean and std, each (M, B, latent)."""
        mean, log_std = self.encoder(torch.cat([condition, target], dim=-1)).chunk(2, dim=-1)
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX).exp()

    def decode(self, condition: torch.Tensor, latent: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """x = D(c, z); z defaults to clipped prior samples. condition (M, B, C) -> (M, B, X)."""
        if latent is None:
            shape = (*condition.shape[:-1], self.latent_dim)
            latent = torch.randn(shape, generator=generator).clamp(-LATENT_CLIP, LATENT_CLIP)
        return self.decoder(torch.cat([condition, latent], dim=-1))

    def decode_candidates(self, condition: torch.Tensor, samples: int,
                          generator: torch.Generator | None = None) -> torch.Tensor:
        """`samples` prior draws per row: condition (M, B, C) -> (M, B*samples, X), row b*samples + j.

        Same latent draws, in the same order, as decode() on the condition repeated
        `samples` times per row, with the condition's part of the decoder's first layer
        computed once per row (StackedMLP.forward_candidates).
        """
        count, batch = condition.shape[0], condition.shape[1]
        latent = torch.randn((count, batch * samples, self.latent_dim), generator=generator)
        latent = latent.clamp(-LATENT_CLIP, LATENT_CLIP).view(count, batch, samples, self.latent_dim)
        return self.decoder.forward_candidates(condition, latent)

    def loss(self, condition: torch.Tensor, target: torch.Tensor,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-member loss (M,) = recon + 0.5 KL, and its two parts (M,) each."""
        mean, std = self.encode(condition, target)
        latent = mean + std * torch.randn(mean.shape, generator=generator)
        reconstruction = self.decode(condition, latent)
        real_dims = self.target_mask.sum(dim=-1).clamp(min=1.0)                       # (M, 1)
        recon = (((reconstruction - target) ** 2 * self.target_mask).sum(dim=-1) / real_dims).mean(dim=-1)
        kl = (-0.5 * (1.0 + 2.0 * std.log() - mean ** 2 - std ** 2)).mean(dim=-1).mean(dim=-1)
        return recon + KL_WEIGHT * kl, recon, kl

    def log_prior_density_of_mean(self, condition: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """log N(mu(c, x); 0, I): the log density MABCQ uses as rho(c, x); (M, B), never exponentiated."""
        mean, _ = self.encode(condition, target)
        return -0.5 * (mean ** 2).sum(dim=-1) - 0.5 * self.latent_dim * math.log(2.0 * math.pi)
