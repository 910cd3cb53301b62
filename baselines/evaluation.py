"""Evaluation of any algorithm (the contract's `act`) in its dataset's scenario, on fixed episodes.

Episode k's reset seed derives from (EVALUATION_STREAM, seed, k): reproducible,
independent of the training seed stream, and identical at every evaluation
point of one run (curves compare policies on the same episodes). Stochastic
policies draw from a generator restarted at every evaluation, so a policy's score
does not depend on when it was evaluated. Per-agent (decentralized) runs also
record the rollouts and report MABCQ's diagnostics (baselines/diagnostics.py).
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch

from baselines.core.contract import Algorithm, DataSetting
from baselines.diagnostics import DIAGNOSTICS_STREAM, Diagnostics, TrajectoryRecorder, fixed_state_sample
from collectors.lockstep import run_lockstep
from baselines.results import normalized_score
from madatasets.dataset import Dataset
from madatasets.errors import MadataError
from madatasets.scenarios import ScenarioEnv, make

EVALUATION_STREAM = 0xE7A1


def evaluation_seeds(seed: int, episodes: int) -> list[int]:
    """Reset seeds of the evaluation episodes of training seed `seed`."""
    state = np.random.SeedSequence([EVALUATION_STREAM, seed]).generate_state(episodes)
    return [int(value & 0x7FFFFFFF) for value in state]


class Evaluator:
    """Runs `episodes` evaluation episodes of a scenario; keeps its environments between calls.

    With `diagnostics`, every evaluation records its rollouts and `extras` measures
    the value difference and extrapolation error of the algorithm just evaluated.
    """

    def __init__(self, scenario: str, episodes: int = 32, seed: int = 0, parallel: int = 32,
                 diagnostics: Diagnostics | None = None):
        if episodes < 1:
            raise MadataError(f"evaluation episodes must be at least 1, got {episodes}")
        self.scenario, self.episodes, self.seed = scenario, episodes, seed
        self.seeds = evaluation_seeds(seed, episodes)
        self.acting_seed = int(np.random.SeedSequence([DIAGNOSTICS_STREAM, seed, 1]).generate_state(1)[0])
        self.diagnostics = diagnostics
        self.envs: list[ScenarioEnv] = [make(scenario) for _ in range(min(episodes, max(1, parallel)))]

    @classmethod
    def for_run(cls, dataset: Dataset, setting: DataSetting, config: Any, episodes: int = 32, seed: int = 0,
                value_states: int = 1000) -> "Evaluator":
        """The evaluator of a training run; per-agent runs measure diagnostics on states of their dataset."""
        diagnostics = None
        if setting != "joint":
            inputs = fixed_state_sample(dataset, config.observation, value_states, seed)
            diagnostics = Diagnostics(config.gamma, config.observation, value_inputs=inputs)
        return cls(dataset.spec.name, episodes, seed, diagnostics=diagnostics)

    def acting_generator(self) -> torch.Generator:
        """The same stream at every evaluation."""
        return torch.Generator().manual_seed(self.acting_seed)

    def __call__(self, algorithm: Algorithm) -> np.ndarray:
        """Returns of every episode, (episodes,)."""
        generator = self.acting_generator()
        recorder = None if self.diagnostics is None else TrajectoryRecorder(self.diagnostics.observation)
        seeds: Iterator[int] = iter(self.seeds)
        returns = run_lockstep(self.envs, lambda obs, states: algorithm.act(obs, states, generator), seeds,
                               episodes=self.episodes, recorder=recorder)
        if recorder is not None:
            self.diagnostics.trajectories = recorder.episodes
        return np.asarray(returns, dtype=np.float64)

    def point(self, algorithm: Algorithm, references: dict[str, float]) -> dict[str, Any]:
        """One evaluation: mean/std return, normalized score, per-episode returns, and any diagnostics."""
        returns = self(algorithm)
        mean = float(returns.mean())
        return {"mean_return": mean, "std_return": float(returns.std()),
                "normalized": normalized_score(references, mean), "returns": returns.tolist(),
                **self.extras(algorithm)}

    def extras(self, algorithm: Algorithm) -> dict[str, Any]:
        """What a curve point adds to the returns: {"diagnostics": ...} for per-agent runs, else nothing."""
        if self.diagnostics is None:
            return {}
        return {"diagnostics": self.diagnostics.measure(algorithm, self.acting_generator())}

    def close(self) -> None:
        for env in self.envs:
            env.close()
