"""Zeroth-order action search: find a high-Q action per (agent, observation) without gradients.

All three samplers work on a whole batch at once: `score(candidates)` maps
candidates (N, B, K, A) to Q-values (N, B, K), and the result is one action per
(agent, row), (N, B, A). The candidate set of the final argmax always includes
the current policy action, so the picked action is never worse (under Q) than
pi(o).

* "omar" (OMAR Eq. 3): K samples from N(mu, sigma), clipped to [-1, 1];
  mu <- softmax(temperature * Q)-weighted mean of the samples;
  sigma <- root mean square distance of the samples to the new mu; J iterations;
  argmax of Q over the last population and pi(o).
* "cem": the cross-entropy method: mu, sigma <- mean and std of the `elites`
  best samples.
* "random": random shooting: J * K uniform actions in [-1, 1] and pi(o), argmax.
"""

from __future__ import annotations

from typing import Callable

import torch

from madatasets.errors import MadataError

SAMPLERS = ("omar", "cem", "random")
Score = Callable[[torch.Tensor], torch.Tensor]


def _argmax_candidate(score: Score, population: torch.Tensor, policy_actions: torch.Tensor,
                      q_population: torch.Tensor | None = None) -> torch.Tensor:
    q_policy = score(policy_actions.unsqueeze(2))                           # (N, B, 1)
    if q_population is None:
        q_population = score(population)
    candidates = torch.cat([population, policy_actions.unsqueeze(2)], dim=2)
    best = torch.cat([q_population, q_policy], dim=2).argmax(dim=2)          # (N, B)
    index = best[:, :, None, None].expand(-1, -1, 1, candidates.shape[-1])
    return candidates.gather(2, index).squeeze(2)


@torch.no_grad()
def search_actions(score: Score, policy_actions: torch.Tensor, act_mask: torch.Tensor, generator: torch.Generator,
                   method: str = "omar", iterations: int = 3, samples: int = 10, init_mean: float = 0.0,
                   init_std: float = 2.0, temperature: float = 1.0, elites: int = 3) -> torch.Tensor:
    """Best action found per (agent, row). policy_actions (N, B, A); act_mask (N, A) zeroes padded dims."""
    if method not in SAMPLERS:
        raise MadataError(f"unknown sampler {method!r}; valid: {', '.join(SAMPLERS)}")
    if iterations < 1 or samples < 1:
        raise MadataError(f"sampler iterations and samples must be positive, got {iterations} and {samples}")
    n, b, a = policy_actions.shape
    mask = act_mask[:, None, None, :]
    if method == "random":
        population = (torch.rand((n, b, iterations * samples, a), generator=generator) * 2.0 - 1.0) * mask
        return _argmax_candidate(score, population, policy_actions)
    if method == "cem" and not 1 <= elites <= samples:
        raise MadataError(f"cem elites must be between 1 and samples ({samples}), got {elites}")
    mean = torch.full((n, b, 1, a), float(init_mean))
    std = torch.full((n, b, 1, a), float(init_std))
    population = q = None
    for _ in range(iterations):
        noise = torch.randn((n, b, samples, a), generator=generator)
        population = (mean + std * noise).clamp(-1.0, 1.0) * mask
        q = score(population)                                                # (N, B, K)
        if method == "omar":
            weights = torch.softmax(temperature * q, dim=2).unsqueeze(-1)
            mean = (weights * population).sum(dim=2, keepdim=True)
            std = ((population - mean) ** 2).mean(dim=2, keepdim=True).sqrt()
        else:
            top = q.topk(elites, dim=2).indices[..., None].expand(-1, -1, -1, a)
            elite = population.gather(2, top)
            mean = elite.mean(dim=2, keepdim=True)
            std = elite.std(dim=2, unbiased=False, keepdim=True)
    return _argmax_candidate(score, population, policy_actions, q)
