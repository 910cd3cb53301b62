"""OMAR for discrete actions (Pan et al. 2022, "Plan Better Amid Conservatism: Offline Multi-Agent
Reinforcement Learning with Actor Rectification", appendix B.3), with shared parameters.

The variant implemented, as B.3 describes it: OMAR's actor-critic (decentralized twin
critics with CQL, Eq. 1; the rectified actor, Eq. 2) made discrete with a Gumbel-softmax
actor ("We use the Gumbel-Softmax reparameterization trick to generate discrete
actions"), and the zeroth-order search of Eq. 3 run over the categorical logits
(baselines/core/categorical_search.py). Every choice is over the legal actions only.

    Critics k = 1, 2: Q_k(o_i, .) in R^A
      a'_i  = argmax over legal a' of pi_target(o'_i)                 (MADDPG's discrete target action)
      y     = r + gamma * (1 - done) * min_k Q_target_k(o'_i, a'_i)
      L_k   = (Q_k(o_i, a_i) - y)^2 + alpha * [logsumexp over legal a of Q_k(o_i, a) - Q_k(o_i, a_i)]
    Actor (every policy_delay critic updates), Eq. 2:
      p     = softmax over legal a of logits(o_i)                        (pi(o_i) on the simplex)
      g     = Gumbel-softmax(logits, gumbel_temperature), straight-through one-hot
      a_hat = search over logits (Eq. 3) under Q_1, the policy's greedy action a candidate
      L_pi  = tau * ||p - onehot(a_hat)||^2 - (1 - tau) * <g, Q_1(o_i, .)>
    Targets (actor and critics) follow by Polyak averaging after each actor update.
    act(o) = argmax over legal a of logits(o).

The CQL logsumexp is exact here (the A actions are enumerable), not CQL's sampled
estimate. Defaults: appendix B.1 ("the same experimental setup as in Appendix B.1"):
Adam 0.01, batch 1024, target rate 0.01, 64x64 ReLU, tau by quality (0.5 random and
medium-replay, 0.7 medium, 0.9 expert), search J = 3, K = 10, mean 0, std 2. The CQL
weight was tuned in {0.1, 0.5, 1, 5} without published picks: 1.0 (stated).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch

from baselines.core.categorical_search import SEARCHES, search_categorical
from baselines.core.discrete import DiscreteAlgorithm, DiscreteBatch, DiscreteConfig, SharedNetwork, masked
from baselines.omar import PAPER_TAU
from madatasets.errors import MadataError
from madatasets.store import DatasetId


@dataclass
class OMARDiscreteConfig(DiscreteConfig):
    actor_lr: float = 0.01             # Adam (B.1)
    critic_lr: float = 0.01            # Adam (B.1)
    batch_size: int = 1024             # (B.1)
    soft_update: float = 0.01          # target rate (B.1)
    tau: float = 0.7                   # actor coefficient of Eq. 2; presets pick it by quality (B.1)
    cql_alpha: float = 1.0             # Eq. 1's alpha (tuned in {0.1, 0.5, 1, 5} in B.1; picks unpublished)
    search: str = "omar"               # omar: Eq. 3 over the logits; exact: argmax of Q_1 over legal actions
    search_iterations: int = 3         # J (B.1)
    search_samples: int = 10           # K (B.1)
    search_init_mean: float = 0.0      # (B.1)
    search_init_std: float = 2.0       # (B.1)
    search_temperature: float = 1.0    # the softmax weighting of Eq. 3
    gumbel_temperature: float = 1.0    # Gumbel-softmax temperature (MADDPG's discrete actors use 1)
    policy_delay: int = 2              # critic updates per actor update (TD3, OMAR's MATD3 base)

    def validate(self) -> None:
        super().validate()
        if not 0.0 <= self.tau <= 1.0:
            raise MadataError(f"tau must be in [0, 1], got {self.tau}")
        if self.cql_alpha < 0:
            raise MadataError(f"cql_alpha must be >= 0, got {self.cql_alpha}")
        if self.search not in SEARCHES:
            raise MadataError(f"unknown search {self.search!r}; valid: {', '.join(SEARCHES)}")
        if self.search_iterations < 1 or self.search_samples < 1 or self.policy_delay < 1:
            raise MadataError("search_iterations, search_samples and policy_delay must be positive")
        if self.search_init_std <= 0 or self.gumbel_temperature <= 0:
            raise MadataError("search_init_std and gumbel_temperature must be positive")

    @classmethod
    def table_values(cls, preset: str, dataset: DatasetId) -> tuple[dict[str, Any], list[str]]:
        """tau by dataset quality (OMAR B.1, PAPER_TAU; OG-MARL's Good/Medium/Poor/Replay map to madata tiers)."""
        tau = PAPER_TAU.get(dataset.quality)
        if tau is None:
            return {}, [f"the paper gives no tau for quality {dataset.quality!r}; using tau={cls.tau}"]
        return {"tau": tau}, []


def gumbel_softmax_hard(logits: torch.Tensor, temperature: float, generator: torch.Generator) -> torch.Tensor:
    """A straight-through one-hot sample: the forward value is one-hot, the gradient the soft sample's.
    Illegal entries (-inf logits) stay at probability 0."""
    uniform = torch.rand(logits.shape, generator=generator).clamp(1e-10, 1.0 - 1e-7)
    soft = torch.softmax((logits - torch.log(-torch.log(uniform))) / temperature, dim=-1)
    hard = torch.nn.functional.one_hot(soft.argmax(-1), logits.shape[-1]).to(soft.dtype)
    return hard - soft.detach() + soft


class OMARDiscrete(DiscreteAlgorithm):
    name = "omar_discrete"

    def __init__(self, config: OMARDiscreteConfig, spec, generator, observation_statistics=None):
        super().__init__(config, spec, generator, observation_statistics)
        # self.network is the actor (its masked argmax is the action: DiscreteAlgorithm.act).
        self.critics = torch.nn.ModuleList(
            SharedNetwork(spec.obs_dim, spec.n_agents, spec.act_dim, config.hidden) for _ in range(2))
        self.target_actor = copy.deepcopy(self.network).requires_grad_(False)
        self.target_critics = copy.deepcopy(self.critics).requires_grad_(False)
        self.actor_optimizer = torch.optim.Adam(self.network.parameters(), lr=config.actor_lr)
        self.critic_optimizer = torch.optim.Adam(self.critics.parameters(), lr=config.critic_lr)
        self.generator = torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        self.last_actor: dict[str, float] = {}      # the actor's losses of its latest (delayed) update

    def critic_losses(self, batch: DiscreteBatch, observations: torch.Tensor,
                      next_observations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            next_actions = masked(self.target_actor(next_observations), batch.next_legal).argmax(-1, keepdim=True)
            next_q = torch.minimum(*(critic(next_observations).gather(-1, next_actions).squeeze(-1)
                                     for critic in self.target_critics))
            target = batch.rewards + self.config.gamma * (1.0 - batch.dones).unsqueeze(-1) * next_q
        td = cql = torch.zeros(())
        for critic in self.critics:
            q = masked(critic(observations), batch.legal)
            q_taken = q.gather(-1, batch.actions.unsqueeze(-1)).squeeze(-1)
            td = td + (q_taken - target).pow(2).mean()
            cql = cql + (torch.logsumexp(q, dim=-1) - q_taken).mean()
        return td, cql

    def actor_loss(self, batch: DiscreteBatch, observations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        config = self.config
        logits = masked(self.network(observations), batch.legal)
        with torch.no_grad():
            q = self.critics[0](observations)
            rectified = search_categorical(
                q, batch.legal, logits.argmax(-1), self.generator, config.search, config.search_iterations,
                config.search_samples, config.search_init_mean, config.search_init_std, config.search_temperature)
        probabilities = torch.softmax(logits, dim=-1)
        target = torch.nn.functional.one_hot(rectified, logits.shape[-1]).to(probabilities.dtype)
        regression = (probabilities - target).pow(2).sum(-1)
        sample = gumbel_softmax_hard(logits, config.gumbel_temperature, self.generator)
        # <g, Q>: illegal entries of g are 0; their Q is zeroed so that no -inf or stray value enters.
        value = (sample * q.masked_fill(~batch.legal, 0.0)).sum(-1)
        loss = (config.tau * regression - (1.0 - config.tau) * value).mean()
        return loss, regression.mean()

    def update(self, batch: DiscreteBatch) -> dict[str, float]:
        self.updates += 1
        observations = self.normalize(batch.observations)
        td, cql = self.critic_losses(batch, observations, self.normalize(batch.next_observations))
        self.critic_optimizer.zero_grad(set_to_none=True)
        (td + self.config.cql_alpha * cql).backward()
        self.critic_optimizer.step()
        info = {"td_loss": td.item() / 2, "cql_loss": cql.item() / 2}
        if self.updates % self.config.policy_delay == 0:
            actor, rectification = self.actor_loss(batch, observations)
            self.actor_optimizer.zero_grad(set_to_none=True)
            actor.backward()
            self.actor_optimizer.step()
            with torch.no_grad():
                for target_module, online in ((self.target_actor, self.network), (self.target_critics, self.critics)):
                    for target, parameter in zip(target_module.parameters(), online.parameters()):
                        target.lerp_(parameter, self.config.soft_update)
            self.last_actor = {"actor_loss": actor.item(), "rectification": rectification.item()}
        return info | self.last_actor

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {"critics": self.critics.state_dict(),
                                       "target_actor": self.target_actor.state_dict(),
                                       "target_critics": self.target_critics.state_dict()}

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        super().load_state_dict(state, strict)
        for name in ("critics", "target_actor", "target_critics"):
            getattr(self, name).load_state_dict(state[name])


Config, Algorithm = OMARDiscreteConfig, OMARDiscrete
