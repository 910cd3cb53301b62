"""Simulator backends behind `ScenarioEnv`: each drives one simulator in its native
action bounds and unpadded observations (mpe2 with scripted opponents, MaMuJoCo)."""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import Any, Callable

import numpy as np

from madatasets.errors import MadataError
from madatasets.scripted import EvasivePrey

class _Backend:
    """Drives one simulator; speaks native actions and unpadded observations."""

    def reset(self, seed: int | None) -> tuple[list[np.ndarray], np.ndarray]:
        raise NotImplementedError

    def step(self, native_actions: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, bool, bool]:
        raise NotImplementedError

    def native_bounds(self) -> list[tuple[np.ndarray, np.ndarray]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _MPEBackend(_Backend):
    """mpe2 parallel env; agents outside the learning team follow `EvasivePrey`."""

    def __init__(self, make_env: Callable[[], Any], team: tuple[str, ...]):
        self.env = make_env()
        self.team = team
        self.world = self.env.unwrapped.world
        self.prey = EvasivePrey()
        self.rng = np.random.default_rng(0)

    def reset(self, seed):
        observations, _ = self.env.reset(seed=seed)
        if seed is not None:
            # The prey's noise stream is tied to the reset seed so that an episode
            # is a pure function of its seed and the team's actions.
            self.rng = np.random.default_rng([seed, 7919])
        return [observations[a] for a in self.team], self._state(observations)

    def _state(self, observations: dict[str, np.ndarray]) -> np.ndarray:
        # mpe2's state() is the concatenation of every agent's observation; rebuilding
        # it from the observations already returned avoids computing them twice.
        return np.concatenate([observations[a] for a in self.env.possible_agents])

    def _scripted_actions(self) -> dict[str, np.ndarray]:
        actions = {}
        others = [a for a in self.world.agents if a.name not in self.team]
        if not others:
            return actions
        adversaries = np.array([a.state.p_pos for a in self.world.agents if getattr(a, "adversary", False)])
        for agent in others:
            size = self.env.action_space(agent.name).shape[0]
            actions[agent.name] = self.prey.native_action(agent.state.p_pos, adversaries, self.rng, size)
        return actions

    def step(self, native_actions):
        actions = dict(zip(self.team, native_actions))
        actions.update(self._scripted_actions())
        observations, rewards, terminations, truncations, _ = self.env.step(actions)
        obs = [observations[a] for a in self.team]
        reward = np.array([rewards[a] for a in self.team], dtype=np.float32)
        return (obs, self._state(observations), reward,
                any(terminations[a] for a in self.team), any(truncations[a] for a in self.team))

    def native_bounds(self):
        return [(self.env.action_space(a).low, self.env.action_space(a).high) for a in self.team]

    def pursuit_distance(self) -> float:
        """Sum over adversaries of the distance to the nearest good agent.

        This is the term mpe2's predator-prey scenarios subtract (times 0.1) from the
        adversaries' reward when built with shape=True; behaviour-policy training may
        use it as a dense signal. Datasets always keep the environment's own reward.
        """
        adversaries = np.array([a.state.p_pos for a in self.world.agents if getattr(a, "adversary", False)])
        prey = np.array([a.state.p_pos for a in self.world.agents if not getattr(a, "adversary", False)])
        if adversaries.size == 0 or prey.size == 0:
            raise MadataError("pursuit_distance needs a predator-prey scenario (adversaries and good agents)")
        distances = np.linalg.norm(adversaries[:, None, :] - prey[None, :, :], axis=-1)
        return float(distances.min(axis=1).sum())


def _mujoco_warning(message: str) -> None:
    # gymnasium's own MuJoCo assets use a compiler attribute that MuJoCo now flags as
    # deprecated on every model compile; it changes nothing for us. Anything else
    # becomes a Python warning instead of a stderr line plus a MUJOCO_LOG.TXT file.
    if "is deprecated" not in message:
        warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=2)


class _MaMuJoCoBackend(_Backend):
    def __init__(self, scenario: str, conf: str):
        import mujoco
        mujoco.set_mju_user_warning(_mujoco_warning)
        # gymnasium_robotics prints a notice about unrelated Adroit environments on import.
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            from gymnasium_robotics import mamujoco_v1
            self.env = mamujoco_v1.parallel_env(scenario, conf, agent_obsk=1)
        self.team = tuple(self.env.possible_agents)

    def reset(self, seed):
        observations, _ = self.env.reset(seed=seed)
        return [observations[a] for a in self.team], self.env.state()

    def step(self, native_actions):
        observations, rewards, terminations, truncations, _ = self.env.step(dict(zip(self.team, native_actions)))
        obs = [observations[a] for a in self.team]
        reward = np.array([rewards[a] for a in self.team], dtype=np.float32)
        return (obs, self.env.state(), reward,
                bool(terminations[self.team[0]]), bool(truncations[self.team[0]]))

    def native_bounds(self):
        return [(self.env.action_space(a).low, self.env.action_space(a).high) for a in self.team]

    def close(self):
        self.env.close()

