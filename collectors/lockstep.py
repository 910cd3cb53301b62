"""The one environment loop of madata: E environments stepped in lockstep by one policy.

Every step, one policy call covers every agent of every live environment:
observations (N, E, O) and states (E, S) [and legal-action masks (N, E, A)] ->
actions (N, E, A). Collection (collectors/rollout.run_episode: one environment,
one episode, a recorder that keeps the arrays), evaluation (baselines/evaluation.py,
with or without MABCQ's trajectory recorder; baselines/discrete_evaluation.py with
the masks), and OTC's online deployments (baselines/otc/online.py) all run here;
they differ only in their schedule:

  episodes=K   waves of E episodes from fresh resets; an environment whose episode
               ended idles until its wave is over (evaluation: episode k always runs
               beside the same others, so stochastic policies draw the same numbers);
  steps=M      exactly M environment steps; an environment whose episode ended is
               reset at once with the next seed, and the last episodes are cut by the
               budget (deployments).

With `max_episode_steps`, a wave's episode that reaches that many steps ends there,
cut (collection's step budget: the recorder is told `cut=True`, and the cut
episode is no score). Episode score = sum over steps of the mean reward over agents
(the dataset cards' convention).
"""

from __future__ import annotations

from typing import Callable, Iterator, Protocol, Sequence

import numpy as np

from madatasets.errors import MadataError
from madatasets.scenarios import ScenarioEnv

# observations (N, E, O), states (E, S) -> actions (N, E, A); with legal_actions=True the policy
# also receives the live environments' masks (N, E, A) as a third argument.
Policy = Callable[..., np.ndarray]


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
                 steps: int | None = None, recorder: Recorder | None = None, max_episode_steps: int | None = None,
                 legal_actions: bool = False) -> list[float]:
    """Run `episodes` whole episodes or exactly `steps` steps; returns the finished episodes' scores.

    With `episodes`, scores are in reset order (episode k used the k-th seed; an
    episode cut at `max_episode_steps` is NaN); with `steps`, in the order episodes
    finished (cut episodes are not scores).
    """
    if (episodes is None) == (steps is None):
        raise MadataError("run_lockstep needs exactly one of episodes and steps")
    if not envs:
        raise MadataError("run_lockstep needs at least one environment")
    if max_episode_steps is not None and (steps is not None or max_episode_steps < 1):
        raise MadataError("max_episode_steps (at least 1) applies to whole-episode waves only")
    if episodes is not None:
        scores: list[float] = []
        while len(scores) < episodes:
            wave = envs[:min(len(envs), episodes - len(scores))]
            scores += _run(wave, policy, seeds, None, recorder, max_episode_steps, legal_actions)
        return scores
    return _run(envs, policy, seeds, steps, recorder, None, legal_actions)


def _run(envs: Sequence[ScenarioEnv], policy: Policy, seeds: Iterator[int], budget: int | None,
         recorder: Recorder | None, max_episode_steps: int | None, legal_actions: bool) -> list[float]:
    """One wave (budget None: every env runs one episode) or one step budget (envs reset on done)."""
    # This loop is collection's inner loop too: it passes views, not copies, while every
    # environment is live, and sums an episode's rewards once, when the episode ends.
    n_envs = len(envs)
    resets = [env.reset_arrays(next(seeds)) for env in envs]
    observations = np.stack([obs for obs, _ in resets])           # (E, N, O)
    states = np.stack([state for _, state in resets])             # (E, S)
    episode_rewards: list[list[np.ndarray]] = [[] for _ in envs]
    finished: dict[int, float] = {}                               # wave: slot -> score
    scores: list[float] = []                                      # budget: in finishing order
    active = [True] * n_envs
    n_active, taken, wave_step = n_envs, 0, 0
    while n_active if budget is None else taken < budget:
        if budget is not None:
            live: Sequence[int] = range(min(n_envs, budget - taken))
            rows: slice | list[int] = slice(0, len(live))
        elif n_active == n_envs:
            live, rows = range(n_envs), slice(None)
        else:
            live = rows = [slot for slot in range(n_envs) if active[slot]]
        inputs = [observations[rows].transpose(1, 0, 2), states[rows]]
        if legal_actions:
            inputs.append(np.stack([envs[slot].legal_actions() for slot in live]).transpose(1, 0, 2))
        actions = policy(*inputs)                                                   # (N, E, A)
        wave_step += 1
        for column, slot in enumerate(live):
            action = actions[:, column]
            obs, state, rewards, terminated, truncated = envs[slot].step_arrays(action)
            if recorder is not None:
                recorder.step(slot, observations[slot], states[slot], action, rewards, obs, state,
                              terminated, truncated)
            episode_rewards[slot].append(rewards)
            taken += 1
            if terminated or truncated:
                if recorder is not None:
                    recorder.end_episode(slot, bool(terminated), cut=False)
                score = _score(episode_rewards[slot])
                episode_rewards[slot] = []
                if budget is None:
                    finished[slot], active[slot] = score, False
                    n_active -= 1
                else:
                    scores.append(score)
                    obs, state = envs[slot].reset_arrays(next(seeds))
            elif budget is None and wave_step == max_episode_steps:
                if recorder is not None:
                    recorder.end_episode(slot, False, cut=True)
                finished[slot], active[slot] = float("nan"), False
                n_active -= 1
            observations[slot], states[slot] = obs, state
    if budget is None:
        return [finished[slot] for slot in range(n_envs)]
    if recorder is not None:
        for slot in range(n_envs):
            recorder.end_episode(slot, False, cut=True)
    return scores


def _score(rewards: list[np.ndarray]) -> float:
    """Sum over steps of the mean reward over agents, added step by step in float64 (the
    cumulative sum adds in the same order as a running total, so the scores are those of one)."""
    return float(np.cumsum(np.mean(np.stack(rewards), axis=1, dtype=np.float64))[-1])
