"""OTC's online data: one deployment's transitions per agent (D_i^k), B_i^k = B_i^(k-1) U D_i^k, batches."""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np
import torch

from baselines.core.replay import Batch, PerAgentReplay
from collectors.lockstep import Policy, run_lockstep
from madatasets.dataset import AgentDataset
from madatasets.errors import MadataError
from madatasets.scenarios import ScenarioEnv


def agent_dataset(index: int, columns: dict[str, np.ndarray], episode_ends: np.ndarray) -> AgentDataset:
    """Agent `index`'s own view of recorded joint steps: its observation, action and reward only."""
    steps = len(columns["states"])
    return AgentDataset(
        agent_index=index, observations=columns["observations"][:, index].copy(),
        actions=columns["actions"][:, index].copy(), rewards=columns["rewards"][:, index].copy(),
        next_observations=columns["next_observations"][:, index].copy(), states=columns["states"].copy(),
        next_states=columns["next_states"].copy(), terminations=columns["terminations"].copy(),
        truncations=columns["truncations"].copy(), behavior_ids=np.full(steps, -1, dtype=np.int16),
        episode_ends=episode_ends.copy())


class DeploymentRecorder:
    """Every agent's transitions of one deployment, episode by episode in the order they ended
    (a `lockstep.Recorder`); an episode cut by the step budget ends as a truncation (it bootstraps)."""

    def __init__(self) -> None:
        self.current: dict[int, dict[str, list]] = {}
        self.episodes: list[dict[str, list]] = []

    def step(self, slot: int, observations: np.ndarray, state: np.ndarray, actions: np.ndarray,
             rewards: np.ndarray, next_observations: np.ndarray, next_state: np.ndarray,
             terminated: bool, truncated: bool) -> None:
        record = self.current.setdefault(slot, _empty_episode())
        # Copies: the loop reuses its observation and state buffers for the next step.
        record["observations"].append(observations.copy())
        record["states"].append(state.copy())
        record["actions"].append(np.asarray(actions, dtype=np.float32))
        record["rewards"].append(np.asarray(rewards, dtype=np.float32))
        record["next_observations"].append(next_observations.copy())
        record["next_states"].append(next_state.copy())
        record["terminations"].append(float(terminated))
        record["truncations"].append(float(truncated))

    def end_episode(self, slot: int, terminated: bool, cut: bool) -> None:
        record = self.current.pop(slot, None)
        if record is None:
            return
        if cut:
            record["truncations"][-1] = 1.0       # cut by the deployment's step budget
        self.episodes.append(record)

    def agent_datasets(self, n_agents: int) -> list[AgentDataset]:
        """D_i for every agent i: its own view of the recorded joint steps."""
        columns = {key: np.concatenate([np.asarray(e[key], dtype=np.float32) for e in self.episodes])
                   for key in self.episodes[0]}
        episode_ends = np.cumsum([len(e["states"]) for e in self.episodes]).astype(np.int64)
        return [agent_dataset(i, columns, episode_ends) for i in range(n_agents)]


def collect_online(envs: Sequence[ScenarioEnv], act: Policy, steps: int, seeds: Iterator[int],
                   n_agents: int) -> tuple[list[AgentDataset], dict[str, Any]]:
    """One deployment: exactly `steps` environment steps; returns D_i for every agent i and episode stats.

    Every step, all agents of all live environments act in one batched call
    (baselines/lockstep.py). A deployment starts from fresh resets; rows are ordered
    episode by episode.
    """
    recorder = DeploymentRecorder()
    finished = run_lockstep(envs, act, seeds, steps=steps, recorder=recorder)
    info = {"episodes_finished": len(finished),
            "mean_finished_return": float(np.mean(finished)) if finished else None}
    return recorder.agent_datasets(n_agents), info


def _empty_episode() -> dict[str, list]:
    return {key: [] for key in ("observations", "states", "actions", "rewards", "next_observations", "next_states",
                                "terminations", "truncations")}


def merge(first: AgentDataset, second: AgentDataset) -> AgentDataset:
    """B_i^k = B_i^(k-1) U D_i^k (agent i's rows only)."""
    if first.agent_index != second.agent_index:
        raise MadataError(f"cannot merge agent {first.agent_index}'s data with agent {second.agent_index}'s")
    joined = {name: np.concatenate([getattr(first, name), getattr(second, name)])
              for name in ("observations", "actions", "rewards", "next_observations", "states", "next_states",
                           "terminations", "truncations", "behavior_ids")}
    ends = np.concatenate([first.episode_ends, second.episode_ends + len(first)])
    return AgentDataset(agent_index=first.agent_index, episode_ends=ends, **joined)


def take(batch: Batch, rows: torch.Tensor) -> Batch:
    """The rows (N, K) of every agent's minibatch (N, B, ...)."""
    def pick(tensor: torch.Tensor) -> torch.Tensor:
        index = rows if tensor.dim() == 2 else rows.unsqueeze(-1).expand(-1, -1, tensor.shape[-1])
        return tensor.gather(1, index)
    return Batch(observations=pick(batch.observations), actions=pick(batch.actions), rewards=pick(batch.rewards),
                 next_observations=pick(batch.next_observations), dones=pick(batch.dones),
                 next_actions=pick(batch.next_actions), has_next_action=pick(batch.has_next_action))


def whole(replay: PerAgentReplay) -> Batch | None:
    """All rows of a replay whose agents hold equally many, as one batch (N, T, ...); None otherwise."""
    if int(replay.lengths.min()) != int(replay.lengths.max()):
        return None
    rows = replay.offsets[:, None] + torch.arange(int(replay.lengths[0]))
    actions = replay.actions[rows]
    return Batch(observations=replay.inputs[rows], actions=actions, rewards=replay.rewards[rows],
                 next_observations=replay.next_inputs[rows], dones=replay.dones[rows],
                 next_actions=torch.zeros_like(actions), has_next_action=torch.zeros_like(replay.rewards[rows]))
