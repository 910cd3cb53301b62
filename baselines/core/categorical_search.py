"""OMAR's zeroth-order action search (Eq. 3) over categorical logits, for discrete actions.

Continuous OMAR samples actions from N(mu, sigma) and refines mu, sigma by a softmax(Q)
weighting (baselines/core/samplers.py). With discrete actions the search space is the
logit vector z in R^A of a categorical choice: a sample z stands for the legal action
argmax_a z_a, scored by Q(o, that action); mu and sigma (per agent and row, one entry
per action) are refined exactly as in Eq. 3:

    z_k ~ N(mu, sigma^2), k = 1..K        a_k = argmax over legal a of z_k,a      q_k = Q(o, a_k)
    mu    <- sum_k softmax(temperature * q)_k z_k
    sigma <- sqrt(mean_k (z_k - mu)^2)
    after J iterations: a_hat = the best of the last population and the policy's own action.

"exact" is the search's limit (every legal action scored, argmax): affordable here because
a discrete critic scores all A actions in one pass; it is the documented cheaper variant.
"""

from __future__ import annotations

import torch

from baselines.core.discrete import masked
from madatasets.errors import MadataError

SEARCHES = ("omar", "exact")


@torch.no_grad()
def search_categorical(q: torch.Tensor, legal: torch.Tensor, policy_actions: torch.Tensor, generator: torch.Generator,
                       method: str = "omar", iterations: int = 3, samples: int = 10, init_mean: float = 0.0,
                       init_std: float = 2.0, temperature: float = 1.0) -> torch.Tensor:
    """The searched action per row, (...,) int64. q (..., A) critic values of every action; legal (..., A)
    bool; policy_actions (...,) the policy's greedy legal actions (always a candidate)."""
    if method not in SEARCHES:
        raise MadataError(f"unknown search {method!r}; valid: {', '.join(SEARCHES)}")
    if iterations < 1 or samples < 1:
        raise MadataError(f"search iterations and samples must be positive, got {iterations} and {samples}")
    if method == "exact":
        return masked(q, legal).argmax(-1)
    shape, a = q.shape[:-1], q.shape[-1]
    mean = torch.full((*shape, 1, a), float(init_mean))
    std = torch.full((*shape, 1, a), float(init_std))
    population = scores = None
    for _ in range(iterations):
        population = mean + std * torch.randn((*shape, samples, a), generator=generator)     # (..., K, A)
        choices = masked(population, legal.unsqueeze(-2)).argmax(-1)                         # (..., K)
        scores = q.gather(-1, choices)                                                        # (..., K)
        weights = torch.softmax(temperature * scores, dim=-1).unsqueeze(-1)
        mean = (weights * population).sum(dim=-2, keepdim=True)
        std = ((population - mean) ** 2).mean(dim=-2, keepdim=True).sqrt()
    candidates = torch.cat([choices, policy_actions.unsqueeze(-1)], dim=-1)                  # (..., K + 1)
    values = torch.cat([scores, q.gather(-1, policy_actions.unsqueeze(-1))], dim=-1)
    return candidates.gather(-1, values.argmax(-1, keepdim=True)).squeeze(-1)
