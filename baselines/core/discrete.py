"""The discrete track's kit (SMAX): replay with legal-action masks, a masked Q/logit network, evaluation.

Discrete algorithms declare `setting = "discrete"`: they train on `DiscreteReplay`
(joint transitions with integer actions and the stored legal-action masks of this
step and the next) and act through `act(observations, states, generator, legal)`
-> integer actions (N, E). Every choice, in targets and in acting, is restricted to
the legal actions: illegal entries are set to -inf before any max, softmax or
argmax (`masked`), so a policy never takes an illegal action.

Agents share one network (parameter sharing, the SMAC convention) and read their
observation plus a one-hot agent id. With `recurrent=true` the network is a GRU
(baselines/core/recurrent.py) trained on sequences (baselines/core/sequences.py):
`step_values` unrolls it and hands the losses one step per row, so an algorithm's
loss code is the same in both modes; acting keeps one hidden state per evaluation
environment, told where episodes begin and end (`begin_episodes`, `end_episode`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from baselines.core.config import AlgorithmConfig
from baselines.core.recurrent import RecurrentSharedNetwork, SlotMemory
from madatasets.dataset import Dataset, next_rows
from madatasets.errors import MadataError

NEG_INF = float("-inf")


def masked(values: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
    """`values` with illegal entries at -inf (every row keeps at least stop, which is always legal)."""
    return values.masked_fill(~legal, NEG_INF)


@dataclass
class DiscreteBatch:
    observations: torch.Tensor        # (B, N, O)
    actions: torch.Tensor             # (B, N) int64
    legal: torch.Tensor               # (B, N, A) bool
    rewards: torch.Tensor             # (B, N)
    next_observations: torch.Tensor   # (B, N, O)
    next_legal: torch.Tensor          # (B, N, A) bool
    dones: torch.Tensor               # (B,) float: terminations only (truncations bootstrap)
    states: torch.Tensor              # (B, S)
    next_states: torch.Tensor         # (B, S)
    next_actions: torch.Tensor | None = None   # (B, N) behaviour action at t+1 (0 at an episode's end)
    has_next: torch.Tensor | None = None       # (B,) float: 1 where t+1 is in the same episode
    # (B,) float: 1 on the rows a loss averages over (a sequence's steps, not its burn-in or
    # padding: SequenceReplay); None: every row.
    mask: torch.Tensor | None = None

    def fold_time(self) -> DiscreteBatch:
        """A sequence batch (B, L, ...) as B * L rows (step t of sequence b is row b * L + t)."""
        values = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        return DiscreteBatch(**{name: None if value is None else value.reshape(-1, *value.shape[2:])
                                for name, value in values.items()})


def batch_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of per-row `values` (R, ...) over the rows where `mask` (R,) is 1 (all rows when None)."""
    if mask is None:
        return values.mean()
    return (values.reshape(len(mask), -1).mean(-1) * mask).sum() / mask.sum()


class DiscreteReplay:
    """Uniform minibatches of joint discrete transitions."""

    def __init__(self, dataset: Dataset):
        if dataset.spec.discrete and dataset.layout != "joint":
            raise MadataError(f"{dataset.id} has one dataset per agent (layout {dataset.layout!r}, the "
                              f"decentralized track's B_i: Dataset.agent(i)); the discrete baselines train on "
                              f"joint datasets")
        if not dataset.spec.discrete or "legal_actions" not in dataset.arrays:
            raise MadataError(f"{dataset.id} has no discrete actions with legal-action masks; "
                              f"the discrete baselines train on SMAX datasets")
        a, ends = dataset.arrays, dataset.episode_ends
        self.size = len(a["actions"])
        self.observations = torch.from_numpy(a["observations"])
        self.actions = torch.from_numpy(a["actions"].astype(np.int64))
        self.legal = torch.from_numpy(a["legal_actions"])
        self.rewards = torch.from_numpy(a["rewards"])
        self.next_observations = torch.from_numpy(next_rows(a["observations"], a["final_observations"], ends))
        self.next_legal = torch.from_numpy(next_rows(a["legal_actions"], a["final_legal_actions"], ends))
        self.dones = torch.from_numpy(a["terminations"][:, 0].astype(np.float32))
        self.states = torch.from_numpy(a["states"])
        self.next_states = torch.from_numpy(next_rows(a["states"], a["final_states"], ends))
        # SARSA-style targets (MA-ICQ) need the behaviour's next action; none after an episode's end.
        self.next_actions = torch.from_numpy(next_rows(a["actions"].astype(np.int64),
                                                       np.zeros((len(ends), a["actions"].shape[1]), np.int64), ends))
        has_next = np.ones(self.size, dtype=np.float32)
        has_next[ends - 1] = 0.0
        self.has_next = torch.from_numpy(has_next)

    def sample(self, batch_size: int, generator: torch.Generator) -> DiscreteBatch:
        rows = torch.randint(0, self.size, (batch_size,), generator=generator)
        return DiscreteBatch(self.observations[rows], self.actions[rows], self.legal[rows], self.rewards[rows],
                             self.next_observations[rows], self.next_legal[rows], self.dones[rows],
                             self.states[rows], self.next_states[rows], self.next_actions[rows],
                             self.has_next[rows])

    def observation_statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        flat = self.observations.reshape(-1, self.observations.shape[-1]).double()
        return flat.mean(0).float(), (flat.std(0).float() + 1e-3)


@dataclass
class DiscreteConfig(AlgorithmConfig):
    # Joint transitions per update (every agent's row of each); recurrent: ceil(batch_size /
    # sequence_length) sequences, so both modes see about as many steps per update.
    batch_size: int = 256
    lr: float = 5e-4                       # the SMAC literature's Adam/RMSprop rate (PyMARL: 5e-4)
    normalize_observations: bool = True
    # GRU agents trained on sequences of episodes: SMAX is partially observed (units see only
    # within their sight range), so what an agent saw earlier is information the current
    # observation lacks. Off: feed-forward MLPs on the current observation. The last `hidden`
    # width is the GRU's, the others the encoder's (64,64: PyMARL's RNN agent).
    recurrent: bool = False
    # Steps per training sequence: episodes are cut into consecutive chunks of this many steps
    # from their start. 20 holds a whole smax-3m episode (median 14 steps, at most 27 in
    # expert-v1); a smax-2s3z one (median 56) makes three chunks. The SMAX limit is 100.
    sequence_length: int = 20
    # Steps before a chunk that the GRU reads to warm its hidden state, outside the loss (R2D2's
    # burn-in), never before the episode's start (where acting starts from zero too): with 20,
    # the second chunk of an episode starts from its exact state, later ones from 20 steps of context.
    burn_in: int = 20
    # Whether the algorithm has sequence losses (set by the algorithms that accept recurrent=true).
    sequence_losses: ClassVar[bool] = False

    def validate(self) -> None:
        super().validate()
        if self.sequence_length < 1 or self.burn_in < 0:
            raise MadataError(f"sequence_length must be positive and burn_in non-negative, "
                              f"got {self.sequence_length} and {self.burn_in}")
        if self.recurrent and not self.sequence_losses:
            from baselines.algorithms import RECURRENT_ALGORITHMS
            raise MadataError(f"recurrent=true is implemented for {', '.join(RECURRENT_ALGORITHMS)} only")


class SharedNetwork(nn.Module):
    """One MLP for every agent: (observation, one-hot agent id) -> one value per action."""

    def __init__(self, obs_dim: int, n_agents: int, n_actions: int, hidden: tuple[int, ...]):
        super().__init__()
        layers: list[nn.Module] = []
        width = obs_dim + n_agents
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, n_actions))
        self.net = nn.Sequential(*layers)
        self.register_buffer("ids", torch.eye(n_agents))

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """observations (..., N, O) -> (..., N, A)."""
        ids = self.ids.expand(*observations.shape[:-1], self.ids.shape[-1])
        return self.net(torch.cat([observations, ids], dim=-1))


class DiscreteAlgorithm:
    """Shared parts: the network, observation normalization, masked greedy acting, checkpoints."""

    name = "discrete"
    setting = "discrete"

    def optimize(self, loss: torch.Tensor, tracked: list[tuple[nn.Module, nn.Module]]) -> None:
        """One optimizer step on `loss`, then Polyak-average each (target, online) pair."""
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            for target_module, online_module in tracked:
                for target, online in zip(target_module.parameters(), online_module.parameters()):
                    target.lerp_(online, self.config.soft_update)

    def __init__(self, config: DiscreteConfig, spec: Any, generator: torch.Generator,
                 observation_statistics: tuple[torch.Tensor, torch.Tensor] | None = None):
        if not spec.discrete:
            raise MadataError(f"{self.name} is a discrete-action algorithm; {spec.name} has continuous actions")
        config.validate()
        self.config, self.spec, self.n_agents = config, spec, spec.n_agents
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        network = RecurrentSharedNetwork if config.recurrent else SharedNetwork
        self.network = network(spec.obs_dim, spec.n_agents, spec.act_dim, config.hidden)
        # Acting's hidden states, one per evaluation environment (recurrent only).
        self.memory = SlotMemory(spec.n_agents, self.network.width) if config.recurrent else None
        mean, std = observation_statistics or (torch.zeros(spec.obs_dim), torch.ones(spec.obs_dim))
        if not config.normalize_observations:
            mean, std = torch.zeros_like(mean), torch.ones_like(std)
        self.obs_mean, self.obs_std = mean, std
        self.updates = 0

    @property
    def acting_network(self) -> nn.Module:
        """The network whose masked argmax is the action (the Q network; an actor where there is one)."""
        return self.network

    def normalize(self, observations: torch.Tensor) -> torch.Tensor:
        return (observations - self.obs_mean) / self.obs_std

    def pretrain(self, replay: DiscreteReplay, generator: torch.Generator) -> dict[str, float]:
        return {}

    def step_values(self, batch: DiscreteBatch, target: nn.Module | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor | None, DiscreteBatch]:
        """The network's values (R, N, A) at every step of `batch`, the target network's (no gradient)
        at each step's next step when `target` is given, and the batch, one step per row.

        Feed-forward: the batch's rows as they are. Recurrent: both networks unrolled from a
        zero state over each sequence (B, L, ...), the target over the same sequence shifted
        by one (its step t + 1 is the batch's next step of t), then folded to B * L rows.
        """
        observations = self.normalize(batch.observations)
        if not self.config.recurrent:
            values = self.network(observations)
            with torch.no_grad():
                next_values = None if target is None else target(self.normalize(batch.next_observations))
            return values, next_values, batch
        values = self.network(observations)[0]
        next_values = None
        if target is not None:
            with torch.no_grad():
                shifted = torch.cat([observations[:, :1], self.normalize(batch.next_observations)], dim=1)
                next_values = target(shifted)[0][:, 1:].flatten(0, 1)
        return values.flatten(0, 1), next_values, batch.fold_time()

    def begin_episodes(self, n_envs: int) -> None:
        """`n_envs` evaluation episodes start together (a wave of run_lockstep, one per slot):
        a recurrent policy's hidden states start at zero; a feed-forward one keeps nothing."""
        if self.memory is not None:
            self.memory.begin(n_envs)

    def end_episode(self, slot: int) -> None:
        """The episode in environment slot `slot` ended: its hidden state leaves the live columns."""
        if self.memory is not None:
            self.memory.end(slot)

    def act(self, observations: np.ndarray, states: np.ndarray, generator: torch.Generator | None = None,
            legal: np.ndarray | None = None) -> np.ndarray:
        """Greedy legal actions (N, E) int for observations (N, E, O) and masks (N, E, A)."""
        if legal is None:
            raise MadataError(f"{self.name} acts only with legal-action masks (discrete scenarios)")
        with torch.no_grad():
            inputs = self.normalize(torch.from_numpy(np.asarray(observations)).transpose(0, 1))
            values = self.network(inputs) if self.memory is None else self.memory.step(self.network, inputs)
            choice = masked(values, torch.from_numpy(np.asarray(legal)).transpose(0, 1)).argmax(-1)
        return choice.transpose(0, 1).numpy()

    def state_dict(self) -> dict[str, Any]:
        return {"network": self.network.state_dict(), "obs_mean": self.obs_mean, "obs_std": self.obs_std,
                "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        self.network.load_state_dict(state["network"], strict=strict)
        self.obs_mean, self.obs_std, self.updates = state["obs_mean"], state["obs_std"], state["updates"]


def act_among_allowed(algorithm: Any, observations: np.ndarray, legal: np.ndarray | None) -> np.ndarray:
    """argmax over allowed(o) of Q(o, .), BCQ's greedy action among the actions its generative
    model allows (`algorithm.allowed`): (N, E) for observations (N, E, O) and masks (N, E, A)."""
    if legal is None:
        raise MadataError(f"{algorithm.name} acts only with legal-action masks (discrete scenarios)")
    with torch.no_grad():
        obs = algorithm.normalize(torch.from_numpy(np.asarray(observations)).transpose(0, 1))
        allowed = algorithm.allowed(obs, torch.from_numpy(np.asarray(legal)).transpose(0, 1))
        choice = masked(algorithm.network(obs), allowed).argmax(-1)
    return choice.transpose(0, 1).numpy()

