"""The two diagnostics of MABCQ's paper for per-agent (decentralized) runs.

The evaluator (baselines/evaluation.py) records its rollouts with a
`TrajectoryRecorder`, so the diagnostics are computed on the evaluation rollouts
themselves:

* Value difference (MABCQ Fig. 3): max_i V_i(s) - min_i V_i(s), with
  V_i(s) = Q_i(s, pi_i(s)), averaged over a fixed sample of states drawn
  uniformly from the union of all agents' datasets (the same sample at every
  evaluation of a run).
* Extrapolation error (MABCQ Table 5): |mean_i Q_i(s_t, a_i,t) - R_t| averaged
  over the steps of the evaluation rollouts, where R_t = sum_k gamma^k r_{t+k} is
  the Monte Carlo discounted return from step t (r = mean reward over agents).
  A rollout truncated at the time limit does not contain the tail of R_t, so
  only steps whose missing tail weighs at most `tail_tolerance` (gamma^(T-t)) are
  used; every step of an episode that terminated is used.

Diagnostics read other agents' data and networks; they are measurements and never
feed back into training.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from madatasets.dataset import Dataset

DIAGNOSTICS_STREAM = 0xD1A6


def fixed_state_sample(dataset: Dataset, observation: str, size: int, seed: int) -> np.ndarray:
    """Inputs (N, size, D) of every agent at `size` states drawn uniformly from the union of all B_i."""
    n = dataset.n_agents
    prefixes = [""] * n if dataset.layout == "joint" else [f"agent_{i}/" for i in range(n)]
    lengths = np.array([dataset.arrays[p + "actions"].shape[0] for p in prefixes])
    rng = np.random.default_rng([DIAGNOSTICS_STREAM, seed])
    picks = np.sort(rng.integers(0, lengths.sum(), size))
    owner = np.searchsorted(np.cumsum(lengths), picks, side="right")
    rows = picks - (np.cumsum(lengths) - lengths)[owner]
    key = "states" if observation == "state" else "observations"
    chosen = np.stack([dataset.arrays[prefixes[j] + key][t] for j, t in zip(owner, rows)]).astype(np.float32)
    if observation == "state":
        return np.broadcast_to(chosen, (n, *chosen.shape)).copy()
    return chosen.transpose(1, 0, 2).copy()           # (size, N, O) -> (N, size, O)


def discounted_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """R_t = sum_k gamma^k r_{t+k} within one episode."""
    returns = np.zeros(len(rewards), dtype=np.float64)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running
        returns[t] = running
    return returns


class TrajectoryRecorder:
    """Keeps each evaluation episode's agent inputs, actions and rewards (a `lockstep.Recorder`).

    `episodes` lists them wave by wave, in environment order within a wave.
    """

    def __init__(self, observation: str):
        self.observation = observation
        self.current: dict[int, dict[str, Any]] = {}
        self.by_slot: dict[int, list[dict[str, Any]]] = {}

    def step(self, slot: int, observations: np.ndarray, state: np.ndarray, actions: np.ndarray,
             rewards: np.ndarray, next_observations: np.ndarray, next_state: np.ndarray,
             terminated: bool, truncated: bool) -> None:
        record = self.current.setdefault(slot, {"inputs": [], "actions": [], "rewards": [], "terminated": False})
        # Copies: the loop reuses its observation and state buffers for the next step.
        record["inputs"].append((state if self.observation == "state" else observations).copy())
        record["actions"].append(actions)
        record["rewards"].append(float(np.mean(rewards, dtype=np.float64)))

    def end_episode(self, slot: int, terminated: bool, cut: bool) -> None:
        record = self.current.pop(slot, None)
        if record is not None:
            record["terminated"] = terminated
            self.by_slot.setdefault(slot, []).append(record)

    @property
    def episodes(self) -> list[dict[str, Any]]:
        waves = max((len(records) for records in self.by_slot.values()), default=0)
        return [self.by_slot[slot][wave] for wave in range(waves) for slot in sorted(self.by_slot)
                if len(self.by_slot[slot]) > wave]


class Diagnostics:
    """Value difference and extrapolation error of an algorithm on the last evaluation's rollouts."""

    def __init__(self, gamma: float, observation: str = "state", value_inputs: np.ndarray | None = None,
                 tail_tolerance: float = 0.01):
        self.gamma, self.observation, self.tail_tolerance = gamma, observation, tail_tolerance
        self.value_inputs = None if value_inputs is None else torch.as_tensor(value_inputs)
        self.trajectories: list[dict[str, Any]] = []

    @torch.no_grad()
    def value_difference(self, algorithm: Any, generator: torch.Generator) -> dict[str, Any]:
        """Mean over the fixed states of max_i V_i(s) - min_i V_i(s), and each agent's mean V_i."""
        if self.value_inputs is None:
            return {"value_difference": None, "value_difference_std": None, "agent_values": None}
        values = algorithm.state_values(self.value_inputs, generator)                        # (N, K)
        spread = values.max(dim=0).values - values.min(dim=0).values
        return {"value_difference": spread.mean().item(), "value_difference_std": spread.std().item(),
                "agent_values": values.mean(dim=1).tolist()}

    @torch.no_grad()
    def extrapolation_error(self, algorithm: Any) -> dict[str, Any]:
        """|mean_i Q_i(s_t, a_i,t) - R_t| over the usable steps of the last evaluation's rollouts."""
        limit = math.inf if self.gamma >= 1.0 else math.log(self.tail_tolerance) / math.log(self.gamma)
        errors, estimates, targets = [], [], []
        for record in self.trajectories:
            length = len(record["rewards"])
            mc = discounted_returns(np.asarray(record["rewards"]), self.gamma)
            usable = np.ones(length, dtype=bool) if record["terminated"] else (length - np.arange(length)) >= limit
            if not usable.any():
                continue
            inputs = torch.as_tensor(np.stack(record["inputs"])[usable], dtype=torch.float32)       # (T, [N,] D)
            if self.observation == "state":
                inputs = inputs.unsqueeze(0).expand(algorithm.n_agents, -1, -1)
            else:
                inputs = inputs.transpose(0, 1)
            actions = torch.as_tensor(np.stack(record["actions"])[usable], dtype=torch.float32).transpose(0, 1)
            q = algorithm.q_values(inputs, actions).mean(dim=0).double().numpy()                   # (T,)
            errors.append(np.abs(q - mc[usable]))
            estimates.append(q)
            targets.append(mc[usable])
        if not errors:
            return {"extrapolation_error": None, "q_estimate": None, "mc_return": None, "extrapolation_steps": 0}
        return {"extrapolation_error": float(np.concatenate(errors).mean()),
                "q_estimate": float(np.concatenate(estimates).mean()),
                "mc_return": float(np.concatenate(targets).mean()),
                "extrapolation_steps": int(sum(len(e) for e in errors))}

    def measure(self, algorithm: Any, generator: torch.Generator) -> dict[str, Any] | None:
        """Both diagnostics for the algorithm just evaluated; None for policies without a critic."""
        if not algorithm.has_critic:
            return None
        return self.value_difference(algorithm, generator) | self.extrapolation_error(algorithm)


if __name__ == "__main__":     # `python -m baselines.diagnostics DIR...` (older docs): the report lives apart
    from baselines.diagnostics_report import main
    main()
