"""OTC's sampling (Sec 3.2-3.5, Algorithm 1 lines 11-15) and the Balanced Replay baseline's priorities.

Every tensor is agent-major like the rest of the decentralized track: row i of
every (N, ...) tensor belongs to agent i and is computed from agent i's own
minibatches only, so the N agents' sampling runs in one batched call and stays
decentralized.

For each update agent i draws a minibatch B (512) from B_i^k and D (2000, or all
of D_i^k when it is smaller) from D_i^k. For each transition j of B:
  * best match (Eq. 2): m(j) = argmin_{m in D} d(s_j, a_j, s_m, a_m);
  * transition similarity: the next-state distance d(s'_j, s'_m(j)) (small = similar);
  * rank-based prioritization (Eq. 8): rank(j) = 1 for the most similar transition,
    p_j = 1 / rank(j), P(j) = p_j^alpha / sum_m p_m^alpha; the training batch
    (128) is drawn from B with these probabilities.
Ties in the best-match search go to the first minimal entry (the paper picks one
uniformly; with continuous embeddings and values ties have probability zero).

Two distances:
  * embedding d_e (Eq. 5, Sec 3.5): the l1 distance between the latent means
    mu(s, a_i, s') of a conditional VAE G_i = {E(mu, sigma | s, a_i, s'), D(a_i | s, s', z)}
    (baselines.core.vae.StackedConditionalVAE with condition (s, s') and target a_i).
    As in Sec 3.5, that one embedding stands in for both e(s, a_i) and e(s'), so the
    match distance and the similarity are the same l1 distance.
  * value d_q (Eq. 6-7): match by |Q(s, a_i) - Q(s*, a_i*)|, similarity
    |V(s') / E[V(s')] - V(s'*) / E[V(s'*)]|, V(s') = Q(s', pi(s')) (0 at a terminal s').
    E[V(s')] is the expected next-state value given (s, a_i), estimated from the
    sample itself as (Q(s, a_i) - r) / gamma (the estimate MABCQ uses for the same
    quantity); its magnitude is floored so that the ratio stays finite.

Adaptive alpha (Eq. 9): alpha^k = alpha^(k-1) * Dbar^k / Dbar^(k-1), where Dbar^k is
the mean transition similarity between B_i^k and D_i^k at deployment k.

Balanced Replay (Lee et al., 2021) prioritises offline samples that look on-policy:
priority w(s, a_i) = d_online(s, a_i) / d_offline(s, a_i), estimated by a classifier
between online and offline pairs (the optimum of the logistic / Jensen-Shannon
variational objective gives w = exp(logit) up to a constant that normalisation removes).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from baselines.core.networks import StackedMLP
from madatasets.errors import MadataError

MAX_LOG_RATIO = 10.0        # Balanced Replay: clip of the density-ratio logit (exp(10) ~ 2e4 at most)


# -- Eq. 8: rank-based prioritization -------------------------------------------------
def ranks(distances: torch.Tensor) -> torch.Tensor:
    """Rank of every entry along the last axis, 1 for the smallest distance (float, same shape)."""
    order = torch.argsort(distances, dim=-1, stable=True)
    positions = torch.arange(1, distances.shape[-1] + 1, dtype=distances.dtype).expand_as(distances).contiguous()
    return torch.empty_like(distances).scatter_(-1, order, positions)


def rank_probabilities(distances: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """P(j) = p_j^alpha / sum_m p_m^alpha with p_j = 1 / rank(j); distances (..., B), alpha scalar or (...,)."""
    alpha = torch.as_tensor(alpha, dtype=distances.dtype)
    if (alpha < 0).any():
        raise MadataError(f"alpha must be non-negative, got {alpha.tolist()}")
    if alpha.dim() > 0:
        alpha = alpha.unsqueeze(-1)
    log_priority = -alpha * ranks(distances).log()                  # log p_j^alpha
    return torch.softmax(log_priority, dim=-1)


def sample_by_priority(probabilities: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """Indices (N, count) drawn with replacement from each agent's row of probabilities (N, B)."""
    return torch.multinomial(probabilities, count, replacement=True, generator=generator)


# -- Eq. 2: the best-matched online transition -----------------------------------------
def best_match(queries: torch.Tensor, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For queries (N, B, E) and keys (N, D, E): index (N, B) of the l1-nearest key and that distance (N, B)."""
    if queries.shape[0] != keys.shape[0] or queries.shape[-1] != keys.shape[-1]:
        raise MadataError(f"queries {tuple(queries.shape)} and keys {tuple(keys.shape)} do not match")
    distances = torch.cdist(queries, keys, p=1.0)                  # (N, B, D)
    best = distances.min(dim=-1)
    return best.indices, best.values


def embedding_similarity(embedding_model: nn.Module, offline: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                         online: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """d_e: next-state distance (N, B) of each (s, a_i, s') of B to its best match in D.

    offline and online are (inputs, actions, next_inputs) triples of standardised
    inputs; the embedding is the latent mean of E(mu | s, a_i, s').
    """
    def encode(inputs: torch.Tensor, actions: torch.Tensor, next_inputs: torch.Tensor) -> torch.Tensor:
        mean, _ = embedding_model.encode(torch.cat([inputs, next_inputs], dim=-1), actions)
        return mean

    with torch.no_grad():
        _, distance = best_match(encode(*offline), encode(*online))
    return distance


def expected_value_ratio(next_values: torch.Tensor, q_values: torch.Tensor, rewards: torch.Tensor, gamma: float,
                         floor: float = 1e-3) -> torch.Tensor:
    """V(s') / E[V(s')] with E[V(s')] ~= (Q(s, a_i) - r) / gamma, its magnitude floored at `floor`."""
    expected = (q_values - rewards) / gamma
    sign = torch.where(expected < 0, -torch.ones_like(expected), torch.ones_like(expected))
    return next_values / (sign * expected.abs().clamp(min=floor))


def value_similarity(offline_q: torch.Tensor, offline_ratio: torch.Tensor, online_q: torch.Tensor,
                     online_ratio: torch.Tensor) -> torch.Tensor:
    """d_q: match by |Q - Q*| (Eq. 6), similarity |V(s')/E V(s') - V(s'*)/E V(s'*)| (Eq. 7); (N, B)."""
    match, _ = best_match(offline_q.unsqueeze(-1), online_q.unsqueeze(-1))
    return (offline_ratio - online_ratio.gather(-1, match)).abs()


# -- Eq. 9: adaptive alpha ------------------------------------------------------------------
class AdaptiveAlpha:
    """alpha_i^k = alpha_i^(k-1) * Dbar_i^k / Dbar_i^(k-1) per agent; `fixed` keeps the initial alpha."""

    def __init__(self, n_agents: int, initial: float = 1.0, fixed: bool = False, floor: float = 1e-12):
        if initial < 0:
            raise MadataError(f"alpha must be non-negative, got {initial}")
        self.alpha = torch.full((n_agents,), float(initial), dtype=torch.float64)
        self.fixed, self.floor = fixed, floor
        self.previous: torch.Tensor | None = None
        self.history: list[list[float]] = []
        self.mean_similarity: list[list[float]] = []

    def step(self, mean_similarity: torch.Tensor) -> torch.Tensor:
        """Record Dbar^k (N,) of this deployment; from the second deployment on, rescale alpha (Eq. 9)."""
        current = mean_similarity.detach().to(torch.float64)
        if self.previous is not None and not self.fixed:
            ratio = current / self.previous.clamp(min=self.floor)
            self.alpha = torch.where(torch.isfinite(ratio), self.alpha * ratio, self.alpha)
        self.previous = current
        self.history.append(self.alpha.tolist())
        self.mean_similarity.append(current.tolist())
        return self.alpha.clone()


# -- Balanced Replay ----------------------------------------------------------------------
class DensityRatioEstimator(nn.Module):
    """Per-agent classifier of online vs offline (s, a_i); its logit is log d_online / d_offline + const."""

    def __init__(self, n_agents: int, input_dim: int, act_dim: int, hidden: Sequence[int] = (64, 64),
                 input_mask: torch.Tensor | None = None, act_mask: torch.Tensor | None = None, lr: float = 3e-4):
        super().__init__()
        mask = None
        if input_mask is not None and act_mask is not None:
            mask = torch.cat([input_mask, act_mask], dim=1)
        self.classifier = StackedMLP(n_agents, input_dim + act_dim, 1, hidden, input_mask=mask)
        self.optimizer = torch.optim.Adam(self.classifier.parameters(), lr=lr)

    def logits(self, inputs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.cat([inputs, actions], dim=-1)).squeeze(-1)

    def train_step(self, online: tuple[torch.Tensor, torch.Tensor],
                   offline: tuple[torch.Tensor, torch.Tensor]) -> float:
        """One logistic-regression step on equal-sized online (label 1) and offline (label 0) minibatches."""
        positive, negative = self.logits(*online), self.logits(*offline)
        loss = (nn.functional.softplus(-positive).mean(dim=-1) + nn.functional.softplus(negative).mean(dim=-1)).sum()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item() / positive.shape[0]

    @torch.no_grad()
    def priorities(self, inputs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Sampling probabilities (N, B) proportional to the estimated density ratio."""
        return torch.softmax(self.logits(inputs, actions).clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO), dim=-1)
