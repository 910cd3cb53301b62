"""The discrete track's kit (SMAX): replay with legal-action masks, a masked Q/logit network, evaluation.

Discrete algorithms declare `setting = "discrete"`: they train on `DiscreteReplay`
(joint transitions with integer actions and the stored legal-action masks of this
step and the next) and act through `act(observations, states, generator, legal)`
-> integer actions (N, E). Every choice, in targets and in acting, is restricted to
the legal actions: illegal entries are set to -inf before any max, softmax or
argmax (`masked`), so a policy never takes an illegal action.

Agents share one network (parameter sharing, the SMAC convention) and read their
observation plus a one-hot agent id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from baselines.core.config import AlgorithmConfig
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
    batch_size: int = 256                  # joint transitions per update (every agent's row of each)
    lr: float = 5e-4                       # the SMAC literature's Adam/RMSprop rate (PyMARL: 5e-4)
    normalize_observations: bool = True


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
        self.network = SharedNetwork(spec.obs_dim, spec.n_agents, spec.act_dim, config.hidden)
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

    def act(self, observations: np.ndarray, states: np.ndarray, generator: torch.Generator | None = None,
            legal: np.ndarray | None = None) -> np.ndarray:
        """Greedy legal actions (N, E) int for observations (N, E, O) and masks (N, E, A)."""
        if legal is None:
            raise MadataError(f"{self.name} acts only with legal-action masks (discrete scenarios)")
        with torch.no_grad():
            values = self.network(self.normalize(torch.from_numpy(np.asarray(observations)).transpose(0, 1)))
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

