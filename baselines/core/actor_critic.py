"""The shared machinery of every baseline: stacked actors, twin critics, targets, the update skeleton.

`OfflineAlgorithm` implements the algorithm contract (baselines/core/contract.py)
for the joint setting: `update(batch) -> losses`, `act(observations, states,
generator)` (deterministic; states and generator unused), the module's
`state_dict()` for checkpoints. `ActorCritic` adds TD3's twin critics with target networks and
implements the update skeleton once:

    critic step (every update) -> actor step and soft target update (every policy_delay)

Algorithms subclass it and only write their losses (`critic_loss`, `actor_loss`).

Critic inputs come in two kinds (config.critic):
  * decentralized: Q_i(o_i, a_i), never another agent's action;
  * centralized (MATD3-style CTDE): Q_i(s, a_1..a_N); when agent i's action is
    replaced (policy action, sampled candidates) the other agents' actions stay
    those of the dataset row.
Stacking: the twin critics of N agents are 2N members of one StackedMLP (members
0..N-1 are Q1, N..2N-1 are Q2), so both twins of all agents are one batched call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from baselines.core.config import AlgorithmConfig
from baselines.core.contract import DataSetting
from baselines.core.networks import StackedMLP, make_target, soft_update
from baselines.core.replay import Batch, Replay
from madatasets.errors import MadataError
from madatasets.scenarios import ScenarioSpec
from madatasets.store import DatasetId

CRITIC_KINDS = ("decentralized", "centralized")


@dataclass
class ActorCriticConfig(AlgorithmConfig):
    """Hyperparameters common to the actor-critic baselines (OMAR appendix B.1 values as defaults)."""

    gamma: float = 0.99                    # discount (B.1)
    actor_lr: float = 0.01                 # Adam learning rate of the actors (B.1)
    critic_lr: float = 0.01                # Adam learning rate of the critics (B.1)
    batch_size: int = 1024                 # transitions per agent per update (B.1)
    hidden: tuple[int, ...] = (64, 64)     # hidden layer widths of every network (B.1)
    soft_update: float = 0.01              # target <- rate * online + (1 - rate) * target (B.1)
    critic: str = "decentralized"          # "decentralized": Q_i(o_i, a_i); "centralized": Q_i(s, a_1..a_N)
    independent_batches: bool = True       # each agent draws its own minibatch rows (OMAR Algorithm 1)
    normalize_observations: bool = False   # standardise observations with dataset statistics
    input_batchnorm: bool = False          # BatchNorm on every network's input (the authors' OMAR code)
    policy_noise: float = 0.2              # TD3 target-policy smoothing noise std
    noise_clip: float = 0.5                # clip of that noise
    policy_delay: int = 2                  # critic updates per actor (and target) update

    def validate(self) -> None:
        super().validate()
        if self.critic not in CRITIC_KINDS:
            raise MadataError(f"critic must be one of {', '.join(CRITIC_KINDS)}, got {self.critic!r}")
        if self.policy_delay < 1:
            raise MadataError(f"policy_delay must be at least 1, got {self.policy_delay}")
        if self.policy_noise < 0 or self.noise_clip < 0:
            raise MadataError("policy_noise and noise_clip must be non-negative")

    @classmethod
    def table_values(cls, preset: str, dataset: DatasetId) -> tuple[dict[str, Any], list[str]]:
        """`released-code`: how the authors' OMAR code differs from appendix B.1 (docs/baselines.md).

        `paper` is the defaults above; subclasses add their per-dataset tables.
        """
        if preset != "released-code":
            return {}, []
        from madatasets.scenarios import get_spec
        family = get_spec(dataset.scenario).family
        return ({"gamma": 0.95 if family == "mpe" else 0.99, "policy_noise": 0.0, "policy_delay": 1,
                 "input_batchnorm": True},
                ["the released code also ran ~2,000 updates per agent on MPE (one per 100 loop steps) "
                 "and evaluated 10 episodes; pass --updates to match"])


def masked_squared_error(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum over real action dimensions of the squared error: (N, B, A) -> (N, B)."""
    return ((prediction - target) ** 2 * mask).sum(dim=-1)


class OfflineAlgorithm(nn.Module):
    """A set of N decentralized deterministic policies trained offline on joint transitions."""

    name = "base"
    setting: DataSetting = "joint"

    def __init__(self, config: ActorCriticConfig, spec: ScenarioSpec, generator: torch.Generator,
                 observation_statistics: tuple[torch.Tensor, torch.Tensor] | None = None):
        super().__init__()
        config.validate()
        self.config, self.spec, self.generator = config, spec, generator
        self.n_agents, self.obs_dim, self.act_dim = spec.n_agents, spec.obs_dim, spec.act_dim
        self.register_buffer("act_mask", torch.as_tensor(spec.act_mask, dtype=torch.float32))
        self.register_buffer("obs_mask", torch.as_tensor(spec.obs_mask, dtype=torch.float32))
        # Observation standardisation (identity unless config.normalize_observations).
        mean = torch.zeros(self.n_agents, self.obs_dim)
        std = torch.ones(self.n_agents, self.obs_dim)
        if config.normalize_observations and observation_statistics is not None:
            mean, std = observation_statistics
        self.register_buffer("obs_mean", mean.float().unsqueeze(1))
        self.register_buffer("obs_std", std.float().unsqueeze(1))
        self.actor = StackedMLP(self.n_agents, self.obs_dim, self.act_dim, config.hidden,
                                input_mask=self.obs_mask, output_mask=self.act_mask,
                                output_activation="tanh", input_batchnorm=config.input_batchnorm)
        self.updates = 0

    def normalize(self, observations: torch.Tensor) -> torch.Tensor:
        """(N, B, O) or (N, B, K, O) observations -> standardised, per agent."""
        if observations.dim() == 4:
            return (observations - self.obs_mean.unsqueeze(2)) / self.obs_std.unsqueeze(2)
        return (observations - self.obs_mean) / self.obs_std

    def pretrain(self, replay: Replay, generator: torch.Generator) -> dict[str, float]:
        """Nothing to fit before the update loop."""
        return {}

    def update(self, batch: Batch) -> dict[str, float]:
        raise NotImplementedError

    @torch.no_grad()
    def act(self, observations: np.ndarray, states: np.ndarray | None = None,
            generator: torch.Generator | None = None) -> np.ndarray:
        """Deterministic actions (N, E, A) in [-1, 1] for observations (N, E, O); agent i reads o_i only."""
        was_training = self.actor.training
        self.actor.eval()
        obs = torch.as_tensor(np.asarray(observations, dtype=np.float32))
        # A diverged policy (NaN weights) acts 0 rather than crashing the simulator.
        actions = np.nan_to_num(self.actor(self.normalize(obs)).numpy())
        self.actor.train(was_training)
        return actions


class ActorCritic(OfflineAlgorithm):
    """TD3 on N agents: stacked actors, stacked twin critics, targets, Adam, the update skeleton."""

    def __init__(self, config: ActorCriticConfig, spec: ScenarioSpec, generator: torch.Generator,
                 observation_statistics: tuple[torch.Tensor, torch.Tensor] | None = None):
        super().__init__(config, spec, generator, observation_statistics)
        n = self.n_agents
        if config.critic == "centralized":
            critic_in = spec.state_dim + n * self.act_dim
            mask = torch.cat([torch.ones(spec.state_dim), self.act_mask.reshape(-1)])[None].expand(2 * n, -1)
        else:
            critic_in = self.obs_dim + self.act_dim
            mask = torch.cat([self.obs_mask, self.act_mask], dim=1).repeat(2, 1)
        self.critic = StackedMLP(2 * n, critic_in, 1, config.hidden, input_mask=mask.clone(),
                                 input_batchnorm=config.input_batchnorm)
        self.actor_target = make_target(self.actor)
        self.critic_target = make_target(self.critic)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=config.actor_lr)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=config.critic_lr)
        # Per agent: (N, 1, 1) real action dims, and the per-agent eye used to swap in own actions.
        self.register_buffer("act_sizes", self.act_mask.sum(dim=1))
        self.register_buffer("own_agent", torch.eye(n))

    # -- critic inputs ----------------------------------------------------------
    def critic_inputs(self, batch: Batch, own_actions: torch.Tensor) -> torch.Tensor:
        """Critic input rows for agent i's own action `own_actions` (N, B, A) or K candidates (N, B, K, A).

        Returns (N, B*K, D) (K = 1 for 3-d input).
        """
        candidates = own_actions.dim() == 4
        actions = own_actions if candidates else own_actions.unsqueeze(2)
        n, b, k, a = actions.shape
        if self.config.critic == "centralized":
            joint = batch.joint_actions.unsqueeze(2).expand(n, b, k, n, a)             # (N, B, K, N, A)
            own = self.own_agent.view(n, 1, 1, n, 1)
            joint = own * actions.unsqueeze(3) + (1.0 - own) * joint
            context = batch.states.unsqueeze(2).expand(n, b, k, -1)
            inputs = torch.cat([context, joint.reshape(n, b, k, n * a)], dim=-1)
        else:
            context = self.normalize(batch.observations).unsqueeze(2).expand(n, b, k, -1)
            inputs = torch.cat([context, actions], dim=-1)
        return inputs.reshape(n, b * k, -1)

    def q_values(self, batch: Batch, own_actions: torch.Tensor, twin: bool = True,
                 network: nn.Module | None = None) -> torch.Tensor:
        """Q of agent i's own actions: twin -> (2, N, B[, K]); Q1 only -> (N, B[, K])."""
        network = self.critic if network is None else network
        shape = own_actions.shape[1:-1]
        if own_actions.dim() == 4 and self.config.critic == "decentralized":
            # K candidates per row: the observation part of the first layer once per row.
            context = self.normalize(batch.observations)
            if twin:
                q = network.forward_candidates(context.repeat(2, 1, 1), own_actions.repeat(2, 1, 1, 1))
                return q.view(2, self.n_agents, *shape)
            q = network.forward_candidates(context, own_actions, members=slice(0, self.n_agents))
            return q.view(self.n_agents, *shape)
        inputs = self.critic_inputs(batch, own_actions)
        if twin:
            return network(inputs.repeat(2, 1, 1)).view(2, self.n_agents, *shape)
        return network(inputs, members=slice(0, self.n_agents)).view(self.n_agents, *shape)

    # -- TD targets -------------------------------------------------------------
    def smoothed_target_actions(self, next_observations: torch.Tensor) -> torch.Tensor:
        """Target policy actions with TD3's clipped smoothing noise; (N, B, A) in, (N, B, A) out."""
        actions = self.actor_target(self.normalize(next_observations))
        if self.config.policy_noise > 0:
            noise = torch.randn(actions.shape, generator=self.generator) * self.config.policy_noise
            noise = noise.clamp(-self.config.noise_clip, self.config.noise_clip)
            actions = (actions + noise).clamp(-1.0, 1.0) * self.act_mask.unsqueeze(1)
        return actions

    def target_inputs(self, batch: Batch, own_next_actions: torch.Tensor | None = None,
                      joint_next_actions: torch.Tensor | None = None) -> torch.Tensor:
        """Target-critic inputs at the next step; actions default to the smoothed target policy."""
        n, b = self.n_agents, batch.batch_size
        if self.config.critic == "centralized":
            if joint_next_actions is None:
                # Every agent's target actor on every critic's rows: one call on (N_actor, N_critic*B, O).
                observations = batch.joint_next_observations.permute(2, 0, 1, 3).reshape(n, n * b, -1)
                joint_next_actions = self.smoothed_target_actions(observations).view(n, n, b, -1).permute(1, 2, 0, 3)
            return torch.cat([batch.next_states, joint_next_actions.reshape(n, b, -1)], dim=-1)
        if own_next_actions is None:
            own_next_actions = self.smoothed_target_actions(batch.next_observations)
        return torch.cat([self.normalize(batch.next_observations), own_next_actions], dim=-1)

    @torch.no_grad()
    def td_target(self, batch: Batch) -> torch.Tensor:
        """y_i = r_i + gamma (1 - done) min_k Q'_k(next, target action); (N, B)."""
        inputs = self.target_inputs(batch)
        next_q = self.critic_target(inputs.repeat(2, 1, 1)).view(2, self.n_agents, -1).min(dim=0).values
        return batch.rewards + self.config.gamma * (1.0 - batch.dones) * next_q

    # -- losses (algorithms override) ------------------------------------------
    def critic_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        target = self.td_target(batch)
        q = self.q_values(batch, batch.actions)                       # (2, N, B)
        loss = ((q - target.unsqueeze(0)) ** 2).mean(dim=-1).sum()
        return loss, {"critic_loss": loss.item() / (2 * self.n_agents), "q_mean": q.mean().item()}

    def actor_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    # -- the update skeleton ----------------------------------------------------
    def update(self, batch: Batch) -> dict[str, float]:
        self.updates += 1
        critic_loss, info = self.critic_loss(batch)
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optimizer.step()
        if self.updates % self.config.policy_delay == 0:
            # Losses are sums over agents of per-agent means, so each agent's gradient
            # is exactly the gradient of its own loss.
            actor_loss, actor_info = self.actor_loss(batch)
            self.actor_optimizer.zero_grad(set_to_none=True)
            actor_loss.backward()
            self.actor_optimizer.step()
            info.update(actor_info)
            soft_update(self.actor_target, self.actor, self.config.soft_update)
            soft_update(self.critic_target, self.critic, self.config.soft_update)
        return info


def uniform_log_density(act_sizes: torch.Tensor) -> torch.Tensor:
    """log density of the uniform distribution on [-1, 1]^d_i per agent: (N,)."""
    return -act_sizes * math.log(2.0)
