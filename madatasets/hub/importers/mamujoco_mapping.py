"""Single-agent MuJoCo data as a MaMuJoCo scenario's agents: gather indices taken from
gymnasium-robotics' own `map_global_state_to_local_observations` and
`map_global_action_to_local_actions`, on the env `_MaMuJoCoBackend` builds (agent_obsk=1).

Exact wherever the single-agent observation holds what the agents observe; Walker2d-v5 and
Hopper-v5 clip joint velocities to [-10, 10] in it (`VELOCITY_CLIP`) while MaMuJoCo's agents
see them unclipped, so at a state on the clip the mapped value is the clipped one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from madatasets.errors import MadataError
from madatasets.scenarios import MAMUJOCO_TASKS, get_spec

# Single-agent observations that clip joint velocities (gymnasium's hopper_v5.py, walker2d_v5.py _get_obs).
VELOCITY_CLIP = {"Hopper": 10.0, "Walker2d": 10.0}


@dataclass(frozen=True)
class Mapping:
    """Gather indices from the single-agent state / action to each agent's, and the joint action box."""
    task: str
    obs_index: tuple[np.ndarray, ...]
    act_index: tuple[np.ndarray, ...]
    state_dim: int
    low: np.ndarray
    high: np.ndarray
    velocities: slice


@functools.lru_cache(maxsize=None)
def mapping(scenario: str) -> Mapping:
    """The scenario's mapping, built by gymnasium-robotics on the env `_MaMuJoCoBackend` builds."""
    if scenario not in MAMUJOCO_TASKS:
        get_spec(scenario)
        raise MadataError(f"scenario {scenario} is not a MuJoCo scenario; single-agent MuJoCo data converts to: "
                          f"{', '.join(MAMUJOCO_TASKS)}")
    from madatasets.backends import _MaMuJoCoBackend
    task, conf = MAMUJOCO_TASKS[scenario]
    backend = _MaMuJoCoBackend(task, conf)
    env, single = backend.env, backend.env.single_agent_env
    states, actions = single.observation_space.shape[0], single.action_space.shape[0]
    # The library's own maps applied once to index vectors give the gather indices: exactly its
    # mapping, at one fancy-indexing per array instead of one Python call per row.
    obs = env.map_global_state_to_local_observations(np.arange(states))
    act = env.map_global_action_to_local_actions(np.arange(actions))
    structure = single.unwrapped.observation_structure
    result = Mapping(task, tuple(np.asarray(obs[a], dtype=np.int64) for a in backend.team),
                     tuple(np.asarray(act[a], dtype=np.int64) for a in backend.team), states,
                     np.asarray(single.action_space.low, np.float64), np.asarray(single.action_space.high, np.float64),
                     slice(structure["qpos"], structure["qpos"] + structure["qvel"]))
    backend.close()
    return result


def _scatter(rows: np.ndarray, index: tuple[np.ndarray, ...], width: int) -> np.ndarray:
    out = np.zeros((len(rows), len(index), width), dtype=np.float32)
    for i, columns in enumerate(index):
        out[:, i, :len(columns)] = rows[:, columns]
    return out


def local_observations(states: np.ndarray, scenario: str) -> np.ndarray:
    """Global states (T, S) -> each agent's observation (T, N, O), zero-padded as madata stores them."""
    return _scatter(np.asarray(states, dtype=np.float32), mapping(scenario).obs_index, get_spec(scenario).obs_dim)


def local_actions(actions: np.ndarray, scenario: str) -> np.ndarray:
    """Single-agent native actions (T, A) -> each agent's action in [-1, 1] (T, N, A), zero-padded."""
    m = mapping(scenario)
    actions = np.asarray(actions, dtype=np.float64)
    if not (np.all(m.low == -1.0) and np.all(m.high == 1.0)):      # rescale only when the box is not already [-1, 1]
        actions = 2.0 * (actions - m.low) / (m.high - m.low) - 1.0
    return _scatter(actions.astype(np.float32), m.act_index, get_spec(scenario).act_dim)


def on_clip(states: np.ndarray, scenario: str) -> np.ndarray | None:
    """Which global states (T, S) have a joint velocity on the single-agent observation's clip,
    where the agents' true values are lost (T,) bool; None for tasks whose observation clips none."""
    m = mapping(scenario)
    bound = VELOCITY_CLIP.get(m.task)
    return None if bound is None else (np.abs(np.asarray(states)[:, m.velocities]) >= bound).any(axis=1)
