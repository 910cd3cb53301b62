"""`JointEnv`: a scenario seen as one agent (state in, concatenated real action dims out,
mean reward), the view every behaviour-policy learner trains on."""

from __future__ import annotations

import hashlib
from typing import Any

import gymnasium
import numpy as np

from collectors.actors import joint_to_padded
from collectors.rollout import assemble, episode_seeds
from madatasets.scenarios import make
from madatasets.store import array_checksum


class JointEnv(gymnasium.Env):
    """A scenario as one agent: state in, concatenated real action dims out, mean reward.

    With `record=True` it keeps every transition it executes in the dataset schema
    (per-agent observations, states, padded actions, per-agent rewards), which is the
    replay buffer content that medium-replay stores. Behaviour id 0 marks the uniform
    random warm-up steps, 1 the learner's exploration policy.
    """

    metadata = {"render_modes": []}

    def __init__(self, scenario: str, seed: int, learning_starts: int = 0, record: bool = False,
                 reward_shaping: float = 0.0, shaping_lead: float = 0.0):
        self.env = make(scenario)
        self.reward_shaping, self.shaping_lead = reward_shaping, shaping_lead
        self.spec = self.env.spec
        self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (self.spec.state_dim,), np.float32)
        self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (int(sum(self.spec.act_sizes)),), np.float32)
        self.seed_value = seed
        self.learning_starts = learning_starts
        self.record = record
        self.episode_index = 0
        self.total_steps = 0
        self.episodes: list[dict[str, Any]] = []
        self._current: dict[str, list] | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        # Episode k always starts from SeedSequence([seed, k]) whatever SB3 passes.
        env_seed, _ = episode_seeds(self.seed_value, self.episode_index)
        self.episode_index += 1
        obs, state = self.env.reset_arrays(env_seed)
        if self.record:
            self._current = {"observations": [obs], "states": [state], "actions": [], "rewards": [],
                             "behavior_ids": []}
        return state, {}

    def step(self, action: np.ndarray):
        padded = joint_to_padded(self.spec, np.clip(action, -1.0, 1.0))
        obs, state, reward, terminated, truncated = self.env.step_arrays(padded)
        if self.record:
            behavior = 0 if self.total_steps < self.learning_starts else 1
            current = self._current
            current["observations"].append(obs)
            current["states"].append(state)
            current["actions"].append(padded)
            current["rewards"].append(reward)
            current["behavior_ids"].append(np.full(self.spec.n_agents, behavior, dtype=np.int16))
            if terminated or truncated:
                self.episodes.append(self._finish(terminated, truncated, budget_cut=False))
                self._current = None
        self.total_steps += 1
        training_reward = float(np.mean(reward, dtype=np.float64))
        if self.reward_shaping:
            training_reward -= self.reward_shaping * self.env.pursuit_distance(self.shaping_lead)
        return state, training_reward, terminated, truncated, {}

    def _finish(self, terminated: bool, truncated: bool, budget_cut: bool) -> dict[str, Any]:
        current = self._current
        return {name: np.stack(values) for name, values in current.items()} | {
            "terminated": terminated, "truncated": truncated, "budget_cut": budget_cut}

    def recorded_episodes(self) -> list[dict[str, Any]]:
        """Every transition executed so far; an unfinished last episode is cut (truncated)."""
        episodes = list(self.episodes)
        if self._current is not None and self._current["actions"]:
            episodes.append(self._finish(False, True, budget_cut=True))
        return episodes


def buffer_checksum(episodes: list[dict[str, Any]], n_agents: int) -> str:
    arrays = assemble(episodes, n_agents)
    digest = hashlib.sha256()
    for name in sorted(arrays):
        digest.update(f"{name}:{array_checksum(arrays[name])}".encode())
    return digest.hexdigest()
