"""The one environment loop of the baselines: E environments stepped in lockstep by one policy.

Every step, one policy call covers every agent of every live environment:
observations (N, E, O) and states (E, S) -> actions (N, E, A). Evaluation
(baselines/evaluation.py, with or without MABCQ's trajectory recorder) and OTC's
online deployments (baselines/otc/online.py) both run here; they differ only in
their schedule:

  episodes=K   waves of E episodes from fresh resets; an environment whose episode
               ended idles until its wave is over (evaluation: episode k always runs
               beside the same others, so stochastic policies draw the same numbers);
  steps=M      exactly M environment steps; an environment whose episode ended is
               reset at once with the next seed, and the last episodes are cut by the
               budget (deployments).

Episode score = sum over steps of the mean reward over agents (the dataset cards'
convention). Shaped like collectors/rollout.run_episode's per-step contract
(policy in, transition out) so that the collectors could later step through this
loop too (docs/architecture.md).
"""

from __future__ import annotations

from typing import Callable, Iterator, Protocol, Sequence

import numpy as np

from madatasets.errors import MadataError
from madatasets.scenarios import ScenarioEnv

# observations (N, E, O), states (E, S) -> actions (N, E, A)
Policy = Callable[[np.ndarray, np.ndarray], np.ndarray]


class Recorder(Protocol):
    """Receives every transition of the loop; `slot` is the environment's index."""

    def step(self, slot: int, observations: np.ndarray, state: np.ndarray, actions: np.ndarray,
             rewards: np.ndarray, next_observations: np.ndarray, next_state: np.ndarray,
             terminated: bool, truncated: bool) -> None:
        ...

    def end_episode(self, slot: int, terminated: bool, cut: bool) -> None:
        """The slot's episode is over: terminated/truncated by the env, or `cut` by the step budget."""
        ...


def run_lockstep(envs: Sequence[ScenarioEnv], policy: Policy, seeds: Iterator[int], *, episodes: int | None = None,
                 steps: int | None = None, recorder: Recorder | None = None) -> list[float]:
    """Run `episodes` whole episodes or exactly `steps` steps; returns the finished episodes' scores.

    With `episodes`, scores are in reset order (episode k used the k-th seed); with
    `steps`, in the order episodes finished (cut episodes are not scores).
    """
    if (episodes is None) == (steps is None):
        raise MadataError("run_lockstep needs exactly one of episodes and steps")
    if not envs:
        raise MadataError("run_lockstep needs at least one environment")
    if episodes is not None:
        scores: list[float] = []
        while len(scores) < episodes:
            wave = envs[:min(len(envs), episodes - len(scores))]
            scores += _run(wave, policy, [next(seeds) for _ in wave], seeds, None, recorder)
        return scores
    return _run(envs, policy, [next(seeds) for _ in envs], seeds, steps, recorder)


def _run(envs: Sequence[ScenarioEnv], policy: Policy, first_seeds: list[int], seeds: Iterator[int],
         budget: int | None, recorder: Recorder | None) -> list[float]:
    """One wave (budget None: every env runs one episode) or one step budget (envs reset on done)."""
    resets = [env.reset_arrays(seed) for env, seed in zip(envs, first_seeds)]
    observations = np.stack([obs for obs, _ in resets])           # (E, N, O)
    states = np.stack([state for _, state in resets])             # (E, S)
    totals = np.zeros(len(envs), dtype=np.float64)
    finished: dict[int, float] = {}                               # wave: slot -> score
    scores: list[float] = []                                      # budget: in finishing order
    active = np.ones(len(envs), dtype=bool)
    taken = 0
    while active.any() if budget is None else taken < budget:
        live = np.flatnonzero(active) if budget is None else np.arange(min(len(envs), budget - taken))
        actions = policy(observations[live].transpose(1, 0, 2), states[live])     # (N, E, A)
        for column, slot in enumerate(live):
            obs, state, rewards, terminated, truncated = envs[slot].step_arrays(actions[:, column])
            if recorder is not None:
                recorder.step(slot, observations[slot], states[slot], actions[:, column], rewards, obs, state,
                              terminated, truncated)
            totals[slot] += float(np.mean(rewards, dtype=np.float64))
            taken += 1
            if terminated or truncated:
                if recorder is not None:
                    recorder.end_episode(slot, bool(terminated), cut=False)
                if budget is None:
                    finished[slot] = float(totals[slot])
                    active[slot] = False
                else:
                    scores.append(float(totals[slot]))
                    totals[slot] = 0.0
                    obs, state = envs[slot].reset_arrays(next(seeds))
            observations[slot], states[slot] = obs, state
    if budget is None:
        return [finished[slot] for slot in range(len(envs))]
    if recorder is not None:
        for slot in range(len(envs)):
            recorder.end_episode(slot, False, cut=True)
    return scores
