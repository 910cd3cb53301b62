"""Evaluation rollouts of deterministic policies in a dataset's scenario.

Episodes run in lockstep, one environment each, so one policy call per step
covers every agent of every running episode: observations (N, E, O) -> actions
(N, E, A). Episode k's reset seed derives from (EVALUATION_STREAM, seed, k):
reproducible, independent of the training seed stream, and identical at every
evaluation point of one run (curves compare policies on the same episodes).
Score of an episode = sum over steps of the mean reward over agents (the
dataset cards' convention).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from madatasets.errors import MadataError
from madatasets.scenarios import ScenarioEnv, make

EVALUATION_STREAM = 0xE7A1
Policy = Callable[[np.ndarray], np.ndarray]


def evaluation_seeds(seed: int, episodes: int) -> list[int]:
    """Reset seeds of the evaluation episodes of training seed `seed`."""
    state = np.random.SeedSequence([EVALUATION_STREAM, seed]).generate_state(episodes)
    return [int(value & 0x7FFFFFFF) for value in state]


class Evaluator:
    """Runs `episodes` evaluation episodes of a scenario; keeps its environments between calls."""

    def __init__(self, scenario: str, episodes: int = 32, seed: int = 0, parallel: int = 32):
        if episodes < 1:
            raise MadataError(f"evaluation episodes must be at least 1, got {episodes}")
        self.scenario, self.episodes, self.seed = scenario, episodes, seed
        self.seeds = evaluation_seeds(seed, episodes)
        self.envs: list[ScenarioEnv] = [make(scenario) for _ in range(min(episodes, max(1, parallel)))]

    def __call__(self, policy: Policy) -> np.ndarray:
        """Returns of every episode, (episodes,)."""
        returns = np.zeros(self.episodes, dtype=np.float64)
        width = len(self.envs)
        for start in range(0, self.episodes, width):
            seeds = self.seeds[start:start + width]
            envs = self.envs[: len(seeds)]
            observations = np.stack([env.reset_arrays(seed)[0] for env, seed in zip(envs, seeds)])   # (E, N, O)
            active = np.ones(len(envs), dtype=bool)
            while active.any():
                live = np.flatnonzero(active)
                actions = policy(observations[live].transpose(1, 0, 2))                           # (N, E, A)
                for column, index in enumerate(live):
                    obs, _, rewards, terminated, truncated = envs[index].step_arrays(actions[:, column])
                    observations[index] = obs
                    returns[start + index] += float(np.mean(rewards, dtype=np.float64))
                    if terminated or truncated:
                        active[index] = False
        return returns

    def close(self) -> None:
        for env in self.envs:
            env.close()
