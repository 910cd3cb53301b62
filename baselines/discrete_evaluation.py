"""Evaluation of discrete (SMAX) policies: fixed episodes, masked acting, win rate beside the return.

The same schedule as `baselines.evaluation.Evaluator` (waves of E environments
from the run's evaluation seeds, one policy call per step for every live
environment), with the legal-action masks handed to the policy. Every action is
checked against its mask by the environment (`SmaxEnv.step_arrays` refuses an
illegal one), so a policy that would pick an illegal action fails loudly instead of
being silently corrected.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from baselines.evaluation import evaluation_seeds
from baselines.results import normalized_score
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
        """Returns and wins of every episode, each (episodes,)."""
        generator = torch.Generator().manual_seed(self.seed)
        returns, wins = [], []
        for first in range(0, self.episodes, len(self.envs)):
            wave = self.envs[:min(len(self.envs), self.episodes - first)]
            obs = np.stack([env.reset_arrays(self.seeds[first + i])[0] for i, env in enumerate(wave)])
            states = np.stack([env.state() for env in wave])
            rewards: list[list[np.ndarray]] = [[] for _ in wave]
            won = [False] * len(wave)
            live = list(range(len(wave)))
            while live:
                legal = np.stack([wave[slot].legal_actions() for slot in live])           # (E, N, A)
                actions = algorithm.act(obs[live].transpose(1, 0, 2), states[live], generator,
                                        legal=legal.transpose(1, 0, 2))                    # (N, E)
                still = []
                for column, slot in enumerate(live):
                    o, s, r, terminated, truncated = wave[slot].step_arrays(actions[:, column].astype(np.int32))
                    obs[slot], states[slot] = o, s
                    rewards[slot].append(r)
                    if terminated or truncated:
                        won[slot] = wave[slot].won
                    else:
                        still.append(slot)
                live = still
            # In reset order, whatever order the wave's episodes finished in.
            returns += [episode_return(np.stack(r)) for r in rewards]
            wins += won
        return np.asarray(returns, dtype=np.float64), np.asarray(wins, dtype=bool)

    def point(self, algorithm: Any, references: dict[str, float]) -> dict[str, Any]:
        returns, wins = self.run(algorithm)
        mean = float(returns.mean())
        return {"mean_return": mean, "std_return": float(returns.std()),
                "normalized": normalized_score(references, mean), "returns": returns.tolist(),
                "win_rate": float(wins.mean())}

    def close(self) -> None:
        for env in self.envs:
            env.close()
