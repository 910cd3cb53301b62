"""Simulator backends behind `ScenarioEnv`: each drives one simulator in its native
action bounds and unpadded observations (mpe2 with scripted opponents, MaMuJoCo)."""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import Any, Callable

import numpy as np

from madatasets.errors import MadataError
from madatasets.mpe_world import ContactForces, world_step
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
    """mpe2 parallel env; agents outside the learning team follow `EvasivePrey`.

    `step` drives mpe2's own scenario code (its `_set_action`, `world.step()` and reward
    functions) without the PettingZoo wrappers around it, which compute every agent's
    observation twice per step (once in `last()`, once for the result) and every
    agent's reward, the prey's included; on mpe-world-4v2 those were most of the step's
    time, and `batched` (madatasets/mpe_world.py) computes that scenario's observations
    and rewards in one pass. `step_via_pettingzoo` is the wrapped path it reproduces bit
    for bit (tests/test_mpe_step.py).
    """

    def __init__(self, make_env: Callable[[], Any], team: tuple[str, ...],
                 batched: Callable[[Any], Any] | None = None):
        self.env = make_env()
        self.raw = self.env.unwrapped
        self.team = team
        self.world = self.raw.world
        self.prey = EvasivePrey()
        self.rng = np.random.default_rng(0)
        self._spaces = [self.raw.action_space(name) for name in self.raw.possible_agents]
        self._team_index = [self.raw.possible_agents.index(name) for name in team]
        self._team_agents = [self.world.agents[i] for i in self._team_index]
        # A scenario's batched observations and adversary rewards (madatasets/mpe_world.py), if any.
        self._batched = batched(self.world) if batched is not None else None
        self._contact_forces = ContactForces(self.world)

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

    def _all_actions(self, native_actions) -> dict[str, np.ndarray]:
        """The team's actions and the scripted prey's, by agent name."""
        actions = dict(zip(self.team, native_actions))
        actions.update(self._scripted_actions())
        return actions

    def step(self, native_actions):
        actions = self._all_actions(native_actions)
        raw, world = self.raw, self.world
        for index, (agent, space) in enumerate(zip(world.agents, self._spaces)):
            action = actions[agent.name]
            if not space.contains(action):          # what mpe2's ClipOutOfBoundsWrapper does
                action = np.clip(action, space.low, space.high)
            raw.current_actions[index] = action
            # mpe2's _execute_world_step: movement entries, then communication ones.
            scenario_action = []
            if agent.movable:
                movement = world.dim_p * 2 + 1
                scenario_action.append(action[0:movement])
                action = action[movement:]
            if not agent.silent:
                scenario_action.append(action)
            raw._set_action(scenario_action, agent, space)
        world_step(world, self._contact_forces)
        raw.steps += 1
        truncated = raw.steps >= raw.max_cycles
        terminated = not truncated and bool(raw.scenario.is_terminal(world))
        if self._batched is not None:
            everyone = self._batched(world)
            team_rewards = self._batched.adversary_rewards(world)
        else:
            everyone = [raw.scenario.observation(agent, world).astype(np.float32) for agent in world.agents]
            team_rewards = self._team_rewards()
        # The parallel wrapper sums each agent's reward into an int 0 (0 + r, so -0.0 becomes 0.0).
        reward = np.array([0 + r for r in team_rewards], dtype=np.float32)
        if truncated or terminated:
            # Leave the wrapped env as the wrapper would: every agent done, none left to act.
            for name in raw.possible_agents:
                raw.truncations[name], raw.terminations[name] = truncated, terminated
        return [everyone[i] for i in self._team_index], np.concatenate(everyone), reward, terminated, truncated

    def _team_rewards(self) -> list[float]:
        """mpe2's rewards of the team's agents (its _execute_world_step, for those agents only:
        the rewards have no side effects, and the others' are never used)."""
        raw, world = self.raw, self.world
        global_reward = 0.0
        if raw.local_ratio is not None:
            global_reward = float(raw.scenario.global_reward(world))
        rewards = []
        for agent in self._team_agents:
            agent_reward = float(raw.scenario.reward(agent, world))
            if raw.local_ratio is not None:
                rewards.append(global_reward * (1 - raw.local_ratio) + agent_reward * raw.local_ratio)
            else:
                rewards.append(agent_reward)
        return rewards

    def step_via_pettingzoo(self, native_actions):
        """The same step through mpe2's wrapped parallel API (the reference `step` matches)."""
        observations, rewards, terminations, truncations, _ = self.env.step(self._all_actions(native_actions))
        obs = [observations[a] for a in self.team]
        reward = np.array([rewards[a] for a in self.team], dtype=np.float32)
        return (obs, self._state(observations), reward,
                any(terminations[a] for a in self.team), any(truncations[a] for a in self.team))

    def native_bounds(self):
        return [(self.env.action_space(a).low, self.env.action_space(a).high) for a in self.team]

    def pursuit_distance(self, lead: float = 0.0) -> float:
        """Sum over adversaries of the distance to the nearest good agent (with `lead`, to
        the nearest point `lead` seconds ahead of a good agent at its current velocity).

        This is the term mpe2's predator-prey scenarios subtract (times 0.1) from the
        adversaries' reward when built with shape=True; behaviour-policy training may
        use it as a dense signal. Datasets always keep the environment's own reward.
        """
        adversaries = np.array([a.state.p_pos for a in self.world.agents if getattr(a, "adversary", False)])
        prey = np.array([a.state.p_pos + lead * a.state.p_vel if lead else a.state.p_pos
                         for a in self.world.agents if not getattr(a, "adversary", False)])
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

