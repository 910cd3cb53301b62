"""Uniform minibatches from a dataset held in memory as torch tensors.

The dataset's (T, N, ...) transition arrays are converted once; a minibatch is
agent-major, (N, B, ...), ready for the stacked networks. By default every agent
draws its own independent row indices (Algorithm 1 of OMAR samples a minibatch
per agent); `independent=False` gives all agents the same rows.

`dones` are terminations only: a truncated last step still bootstraps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from madatasets.dataset import Dataset
from madatasets.errors import MadataError


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


class OfflineReplay:
    """All transitions of a joint-layout dataset, as tensors, with uniform sampling."""

    def __init__(self, arrays: dict[str, np.ndarray], episode_ends: np.ndarray, joint: bool = False,
                 device: str | torch.device = "cpu"):
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
    def from_dataset(cls, dataset: Dataset, joint: bool = False, device: str | torch.device = "cpu") -> "OfflineReplay":
        if dataset.layout != "joint":
            raise MadataError(f"{dataset.id} has one dataset per agent (layout {dataset.layout!r}); "
                              "these baselines train on joint datasets")
        return cls(dataset.transitions(), dataset.episode_ends, joint=joint, device=device)

    def observation_statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-agent mean and std of observations, (N, O) each; std 1 on constant (e.g. padded) dims."""
        mean = self.observations.mean(dim=0)
        std = self.observations.std(dim=0, unbiased=False)
        return mean, torch.where(std < 1e-6, torch.ones_like(std), std)

    def sample(self, batch_size: int, generator: torch.Generator, independent: bool = True) -> Batch:
        if batch_size < 1:
            raise MadataError(f"batch size must be positive, got {batch_size}")
        n = self.n_agents
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
