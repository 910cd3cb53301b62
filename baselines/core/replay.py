"""Uniform minibatches from a dataset held in memory as torch tensors: the two data settings.

`OfflineReplay` (setting "joint"): the dataset's (T, N, ...) transition arrays
are converted once; a minibatch is agent-major, (N, B, ...), ready for the
stacked networks. By default every agent draws its own independent row indices
(Algorithm 1 of OMAR samples a minibatch per agent); `independent=False` gives
all agents the same rows.

`PerAgentReplay` (setting "per-agent"): agent i's minibatch rows come from its
own dataset B_i only.

Both standardise inputs with the same statistics (`observation_statistics`).
`dones` are terminations only: a truncated last step still bootstraps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np
import torch

from madatasets.dataset import AgentDataset, Dataset
from madatasets.errors import MadataError

OBSERVATION_KINDS = ("state", "local")


@dataclass
class Batch:
    """One minibatch, agent-major. Joint fields are filled only when the sampler was built with joint=True."""

    observations: torch.Tensor        # (N, B, O)
    actions: torch.Tensor             # (N, B, A)
    rewards: torch.Tensor             # (N, B)
    next_observations: torch.Tensor   # (N, B, O)
    dones: torch.Tensor               # (N, B), 1.0 where the episode terminated
    next_actions: torch.Tensor        # (N, B, A) behaviour action at t+1 (zeros where none)
    has_next_action: torch.Tensor     # (N, B), 0.0 at an episode's last step
    states: torch.Tensor | None = None              # (N, B, S) global state of each agent's rows
    next_states: torch.Tensor | None = None         # (N, B, S)
    joint_actions: torch.Tensor | None = None       # (N, B, N, A) every agent's action in agent i's rows
    joint_next_observations: torch.Tensor | None = None  # (N, B, N, O)
    joint_next_actions: torch.Tensor | None = None       # (N, B, N, A) behaviour actions at t+1

    @property
    def batch_size(self) -> int:
        return int(self.observations.shape[1])


class Replay(Protocol):
    """What an algorithm trains from: minibatches and the statistics its inputs are standardised with."""

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        ...

    def observation_statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        ...


def observation_statistics(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std over the first axis of `rows`; std 1 on constant (e.g. padded) dims."""
    mean = rows.mean(dim=0)
    std = rows.std(dim=0, unbiased=False)
    return mean, torch.where(std < 1e-6, torch.ones_like(std), std)


class OfflineReplay:
    """All transitions of a joint-layout dataset, as tensors, with uniform sampling."""

    def __init__(self, arrays: dict[str, np.ndarray], episode_ends: np.ndarray, joint: bool = False,
                 device: str | torch.device = "cpu", independent: bool = True):
        observations = np.asarray(arrays["observations"], dtype=np.float32)
        if observations.ndim != 3:
            raise MadataError(f"observations must be (T, N, O), got shape {observations.shape}")
        steps, agents, _ = observations.shape
        for name in ("actions", "rewards", "next_observations", "dones"):
            if name not in arrays:
                raise MadataError(f"transition arrays lack {name!r}")
            if arrays[name].shape[:2] != (steps, agents):
                raise MadataError(f"{name} has shape {arrays[name].shape}, expected ({steps}, {agents}, ...)")
        if steps == 0:
            raise MadataError("the dataset has no transitions")
        self.steps, self.n_agents, self.joint, self.device = steps, agents, joint, torch.device(device)
        self.independent = independent

        def tensor(array: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.ascontiguousarray(array, dtype=np.float32), device=self.device)

        self.observations = tensor(observations)
        self.actions = tensor(arrays["actions"])
        self.rewards = tensor(arrays["rewards"])
        self.next_observations = tensor(arrays["next_observations"])
        self.dones = tensor(arrays["dones"])
        # The behaviour's next action (for SARSA-style targets such as ICQ's); the last
        # step of every episode has none.
        ends = np.asarray(episode_ends, dtype=np.int64)
        next_actions = np.zeros_like(np.asarray(arrays["actions"], dtype=np.float32))
        next_actions[:-1] = arrays["actions"][1:]
        has_next = np.ones((steps, agents), dtype=np.float32)
        next_actions[ends - 1] = 0.0
        has_next[ends - 1] = 0.0
        self.next_actions, self.has_next_action = tensor(next_actions), tensor(has_next)
        if joint:
            if "states" not in arrays or "next_states" not in arrays:
                raise MadataError("a centralized critic needs the dataset's global states")
            self.states, self.next_states = tensor(arrays["states"]), tensor(arrays["next_states"])
        self._agent_index = torch.arange(agents, device=self.device)[:, None]

    @classmethod
    def from_dataset(cls, dataset: Dataset, joint: bool = False, device: str | torch.device = "cpu",
                     independent: bool = True) -> "OfflineReplay":
        if dataset.layout != "joint":
            raise MadataError(f"{dataset.id} has one dataset per agent (layout {dataset.layout!r}); "
                              "these baselines train on joint datasets")
        return cls(dataset.transitions(), dataset.episode_ends, joint=joint, device=device, independent=independent)

    def observation_statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-agent mean and std of observations, (N, O) each."""
        return observation_statistics(self.observations)

    def sample(self, batch_size: int, generator: torch.Generator, independent: bool | None = None) -> Batch:
        """A minibatch (N, B, ...); `independent` overrides the replay's own row policy for this call."""
        if batch_size < 1:
            raise MadataError(f"batch size must be positive, got {batch_size}")
        n = self.n_agents
        independent = self.independent if independent is None else independent
        if independent:
            rows = torch.randint(self.steps, (n, batch_size), generator=generator, device=self.device)
        else:
            rows = torch.randint(self.steps, (1, batch_size), generator=generator, device=self.device).expand(n, -1)
        agent = self._agent_index
        batch = Batch(
            observations=self.observations[rows, agent],
            actions=self.actions[rows, agent],
            rewards=self.rewards[rows, agent],
            next_observations=self.next_observations[rows, agent],
            dones=self.dones[rows, agent],
            next_actions=self.next_actions[rows, agent],
            has_next_action=self.has_next_action[rows, agent],
        )
        if self.joint:
            batch.states = self.states[rows]
            batch.next_states = self.next_states[rows]
            batch.joint_actions = self.actions[rows]
            batch.joint_next_observations = self.next_observations[rows]
            batch.joint_next_actions = self.next_actions[rows]
        return batch


class PerAgentReplay:
    """Every agent's own dataset B_i in memory; a minibatch holds rows of B_i for agent i only.

    Agent i's rows are floor(u * len(B_i)) for uniforms u drawn with shape (N, B)
    before any dataset is looked at, so they depend on B_i's length and the seed,
    never on another agent's dataset. All datasets are concatenated into one flat
    table (with per-agent offsets) so that a minibatch is a single gather.
    """

    def __init__(self, agents: Sequence[AgentDataset], observation: str = "state"):
        if observation not in OBSERVATION_KINDS:
            raise MadataError(f"observation must be one of {', '.join(OBSERVATION_KINDS)}, got {observation!r}")
        if not agents:
            raise MadataError("a replay needs at least one agent's dataset")
        lengths = [len(agent) for agent in agents]
        if min(lengths) == 0:
            raise MadataError(f"agent {lengths.index(0)}'s dataset has no transitions")
        self.n_agents, self.observation = len(agents), observation

        def flat(name: str) -> torch.Tensor:
            return torch.as_tensor(np.concatenate([np.asarray(getattr(a, name), dtype=np.float32) for a in agents]))

        key = "states" if observation == "state" else "observations"
        self.inputs, self.next_inputs = flat(key), flat("next_" + key)
        self.actions, self.rewards, self.dones = flat("actions"), flat("rewards"), flat("terminations")
        self.lengths = torch.tensor(lengths, dtype=torch.int64)
        self.offsets = torch.cumsum(self.lengths, 0) - self.lengths

    @classmethod
    def from_dataset(cls, dataset: Dataset, observation: str = "state") -> "PerAgentReplay":
        """B_i = dataset.agent(i) for every agent (a joint dataset gives each agent its own column)."""
        return cls([dataset.agent(i) for i in range(dataset.n_agents)], observation)

    def observation_statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std of each agent's own inputs, (N, D) each; std 1 on constant dims."""
        per_agent = [observation_statistics(self.inputs[offset:offset + length])
                     for offset, length in zip(self.offsets.tolist(), self.lengths.tolist())]
        return torch.stack([mean for mean, _ in per_agent]), torch.stack([std for _, std in per_agent])

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """A minibatch (N, B, ...) whose agent-i rows come from B_i."""
        if batch_size < 1:
            raise MadataError(f"batch size must be positive, got {batch_size}")
        uniforms = torch.rand((self.n_agents, batch_size), generator=generator, dtype=torch.float64)
        local = torch.minimum((uniforms * self.lengths[:, None]).long(), self.lengths[:, None] - 1)
        rows = self.offsets[:, None] + local
        actions, rewards = self.actions[rows], self.rewards[rows]
        # No SARSA fields: nothing in this track uses the behaviour's next action.
        return Batch(observations=self.inputs[rows], actions=actions, rewards=rewards,
                     next_observations=self.next_inputs[rows], dones=self.dones[rows],
                     next_actions=torch.zeros_like(actions), has_next_action=torch.zeros_like(rewards))
