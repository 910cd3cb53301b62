"""Scripted yardstick controllers for the MPE scenarios (`reference_scores.scripted`).

They say how good "good" is on a scenario, next to uniform random and the zoo's
learned expert. They are never behaviour policies: no dataset is collected with
them and no zoo policy imitates them.

Both read absolute positions from the global state, which in mpe2 is every agent's
observation concatenated, each beginning with that agent's [velocity (2), position
(2)]; spread's landmarks are relative positions in each agent's observation.

* `SpreadAssignment` (mpe-spread-3): the agent-to-landmark assignment with the least
  total distance (all permutations: 3 agents), each agent driven to its landmark
  with a proportional-derivative law.
* `Pursuit` (mpe-tag-3v1, mpe-world-4v2): every predator heads for a lead point in
  front of its prey (position + `lead` x velocity); the predators are split over
  the prey nearest them so that two prey are both chased.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from madatasets.errors import MadataError
from madatasets.scenarios import ScenarioSpec, get_spec

SCRIPTED_SCENARIOS = ("mpe-spread-3", "mpe-tag-3v1", "mpe-world-4v2")
# Observation sizes of the agents outside the learning team, in mpe2's agent order
# (they follow the team in the global state).
OPPONENT_OBS_SIZES = {"mpe-spread-3": (), "mpe-tag-3v1": (14,), "mpe-world-4v2": (28, 28)}


def _positions(spec: ScenarioSpec, state: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(team positions (N, 2), team velocities, other positions (M, 2), other velocities) from the state."""
    sizes = list(spec.obs_sizes) + list(OPPONENT_OBS_SIZES[spec.name])
    starts = np.cumsum([0] + sizes[:-1])
    vel = np.stack([state[s:s + 2] for s in starts])
    pos = np.stack([state[s + 2:s + 4] for s in starts])
    n = spec.n_agents
    return pos[:n], vel[:n], pos[n:], vel[n:]


def _move_actions(spec: ScenarioSpec, forces: np.ndarray) -> np.ndarray:
    """(N, 2) desired forces in [-1, 1] -> padded actions (N, A) in [-1, 1].

    mpe2's continuous layout is [no-op, left, right, down, up] in [0, 1] with
    u_x = right - left; the registry maps [-1, 1] onto [0, 1]. Leaders of world_comm
    have 4 more (communication) dimensions, left at 0 (-1 here).
    """
    actions = np.full((spec.n_agents, spec.act_dim), -1.0, dtype=np.float32)
    fx, fy = np.clip(forces[:, 0], -1, 1), np.clip(forces[:, 1], -1, 1)
    actions[:, 1] = 2 * np.maximum(-fx, 0) - 1
    actions[:, 2] = 2 * np.maximum(fx, 0) - 1
    actions[:, 3] = 2 * np.maximum(-fy, 0) - 1
    actions[:, 4] = 2 * np.maximum(fy, 0) - 1
    return actions * spec.act_mask


@dataclass
class SpreadAssignment:
    scenario: str = "mpe-spread-3"
    gain: float = 4.0
    damping: float = 1.5

    def describe(self) -> list[dict[str, Any]]:
        return [{"id": f"scripted/{self.scenario}/assignment", "checksum": None,
                 "description": "least-total-distance agent-to-landmark assignment, PD control to the landmark"}]

    def start_episode(self, episode_index: int, rng: np.random.Generator) -> None:
        pass

    def act(self, observations: np.ndarray, state: np.ndarray, rng: np.random.Generator):
        spec = get_spec(self.scenario)
        pos, vel, _, _ = _positions(spec, state)
        n = spec.n_agents
        # Agent 0's observation holds the landmarks relative to itself, right after [vel, pos].
        landmarks = pos[0] + observations[0, 4:4 + 2 * n].reshape(n, 2)
        distances = np.linalg.norm(pos[:, None] - landmarks[None], axis=-1)
        best = min(itertools.permutations(range(n)), key=lambda p: distances[np.arange(n), list(p)].sum())
        targets = landmarks[list(best)]
        forces = self.gain * (targets - pos) - self.damping * vel
        return _move_actions(spec, forces), np.zeros(n, dtype=np.int16)


@dataclass
class Pursuit:
    scenario: str
    lead: float = 0.6

    def describe(self) -> list[dict[str, Any]]:
        return [{"id": f"scripted/{self.scenario}/pursuit", "checksum": None,
                 "description": "every predator heads for a lead point ahead of its prey, full force"}]

    def start_episode(self, episode_index: int, rng: np.random.Generator) -> None:
        pass

    def act(self, observations: np.ndarray, state: np.ndarray, rng: np.random.Generator):
        spec = get_spec(self.scenario)
        pos, vel, prey_pos, prey_vel = _positions(spec, state)
        aims = prey_pos + self.lead * prey_vel
        distances = np.linalg.norm(pos[:, None] - aims[None], axis=-1)
        chase = distances.argmin(axis=1)
        if len(aims) > 1 and len(set(chase.tolist())) < len(aims):
            # Everyone chases one prey: send the predator nearest the unchased prey after it.
            free = [k for k in range(len(aims)) if k not in set(chase.tolist())]
            for prey in free:
                chase[int(distances[:, prey].argmin())] = prey
        direction = aims[chase] - pos
        norm = np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-6)
        return _move_actions(spec, direction / norm), np.zeros(spec.n_agents, dtype=np.int16)


def scripted_policy(scenario: str) -> SpreadAssignment | Pursuit:
    if scenario == "mpe-spread-3":
        return SpreadAssignment()
    if scenario in ("mpe-tag-3v1", "mpe-world-4v2"):
        return Pursuit(scenario)
    raise MadataError(f"no scripted yardstick for {scenario}; valid: {', '.join(SCRIPTED_SCENARIOS)}")


# Published figures on the same robots, for perspective only: other MuJoCo versions,
# other partitions or single-agent control, so not comparable number for number.
LITERATURE: dict[str, list[tuple[str, float, str]]] = {
    "halfcheetah-2x3": [
        ("OMAR's released expert (2-agent HalfCheetah, MuJoCo 2.0)", 3339.0, "Pan et al. 2022, released data"),
        ("OG-MARL 2halfcheetah Good", 6924.0, "Formanek et al. 2023, dataset statistics"),
        ("D4RL halfcheetah expert (single agent)", 12135.0, "Fu et al. 2020, reference max score"),
    ],
    "hopper-3x1": [("D4RL hopper expert (single agent)", 3234.0, "Fu et al. 2020, reference max score")],
    "walker2d-2x3": [("D4RL walker2d expert (single agent)", 4592.0, "Fu et al. 2020, reference max score")],
    "ant-4x2": [("standing still (healthy reward only)", 980.0, "uniform-random warm-up snapshot, ant's zoo v0")],
    "ant-2x4": [("standing still (healthy reward only)", 980.0, "uniform-random warm-up snapshot, ant's zoo v0")],
    "swimmer-2x1": [("well-tuned TD3/SAC, low end of the range", 100.0, "stable-baselines3 zoo and others"),
                    ("well-tuned TD3/SAC, high end of the range", 350.0, "stable-baselines3 zoo and others")],
}
