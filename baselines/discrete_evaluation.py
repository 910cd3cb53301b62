"""Evaluation of discrete (SMAX) policies: fixed episodes, masked acting, win rate beside the return.

The same schedule as `baselines.evaluation.Evaluator` (waves of E environments
from the run's evaluation seeds, one policy call per step for every live
environment), with the legal-action masks handed to the policy. Every action is
checked against its mask by the environment (`SmaxEnv.step_arrays` refuses an
illegal one), so a policy that would pick an illegal action fails loudly instead of
being silently corrected.

The policy is told where episodes begin and end (`begin_episodes(E)` at a wave's
first step, `end_episode(slot)` when one ends), so a recurrent one keeps its hidden
state attached to each environment slot; feed-forward policies ignore both.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from baselines.evaluation import evaluation_seeds
from baselines.results import normalized_score
from collectors.lockstep import run_lockstep
from madatasets.errors import MadataError
from madatasets.scenarios import episode_return, make


class DiscreteEvaluator:
    def __init__(self, scenario: str, episodes: int = 32, seed: int = 0, parallel: int = 32):
        if episodes < 1:
            raise MadataError(f"evaluation episodes must be at least 1, got {episodes}")
        self.episodes, self.seed = episodes, seed
        self.seeds = evaluation_seeds(seed, episodes)
        self.envs = [make(scenario) for _ in range(min(episodes, max(1, parallel)))]

    def run(self, algorithm: Any) -> tuple[np.ndarray, np.ndarray]:
        """Returns and wins of every episode, each (episodes,), in reset order."""
        generator = torch.Generator().manual_seed(self.seed)
        outcomes = _Outcomes(self.envs, self.episodes, algorithm)

        def act(observations: np.ndarray, states: np.ndarray, legal: np.ndarray) -> np.ndarray:
            if outcomes.live == 0:      # a wave's first step: run_lockstep has just reset all its environments
                outcomes.live = observations.shape[1]
                algorithm.begin_episodes(outcomes.live)
            return algorithm.act(observations, states, generator, legal=legal).astype(np.int32)

        run_lockstep(self.envs, act, iter(self.seeds), episodes=self.episodes, recorder=outcomes,
                     legal_actions=True)
        return outcomes.returns, outcomes.wins

    def point(self, algorithm: Any, references: dict[str, float]) -> dict[str, Any]:
        returns, wins = self.run(algorithm)
        mean = float(returns.mean())
        return {"mean_return": mean, "std_return": float(returns.std()),
                "normalized": normalized_score(references, mean), "returns": returns.tolist(),
                "win_rate": float(wins.mean())}

    def close(self) -> None:
        for env in self.envs:
            env.close()


class _Outcomes:
    """Recorder of each episode's return (`episode_return`, the cards' convention) and win flag,
    telling the algorithm where episodes end.

    Waves are full-width but the last, so slot s's j-th episode is episode j * E + s.
    """

    def __init__(self, envs: list[Any], episodes: int, algorithm: Any):
        self.envs, self.algorithm = envs, algorithm
        self.live = 0                    # environments of the current wave still in their episode
        self.rewards: dict[int, list[np.ndarray]] = {}
        self.done = [0] * len(envs)
        self.returns = np.zeros(episodes, dtype=np.float64)
        self.wins = np.zeros(episodes, dtype=bool)

    def step(self, slot: int, observations: np.ndarray, state: np.ndarray, actions: np.ndarray,
             rewards: np.ndarray, next_observations: np.ndarray, next_state: np.ndarray,
             terminated: bool, truncated: bool) -> None:
        self.rewards.setdefault(slot, []).append(rewards)

    def end_episode(self, slot: int, terminated: bool, cut: bool) -> None:
        index = self.done[slot] * len(self.envs) + slot
        self.done[slot] += 1
        self.returns[index] = episode_return(np.stack(self.rewards.pop(slot)))
        self.wins[index] = self.envs[slot].won
        self.live -= 1
        self.algorithm.end_episode(slot)
