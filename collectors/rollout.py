"""Deterministic, parallel rollouts of a behaviour policy in a scenario.

Episode k of a collection is a pure function of (seed, k): its environment reset
seed and its action-noise generator both derive from `SeedSequence([seed, k])`.
Workers run disjoint blocks of episodes and the parent assembles them in episode
order, so the collected arrays are byte-identical whatever the worker count.
The last episode is cut at the step budget and marked truncated.
"""

from __future__ import annotations

import collections
import multiprocessing
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np
from tqdm.auto import tqdm

from collectors.lockstep import run_lockstep
from madatasets.scenarios import ScenarioEnv, get_spec, make


class BehaviorPolicy(Protocol):
    """What a collector rolls out. Must be picklable (workers receive a copy)."""

    def describe(self) -> list[dict[str, Any]]:
        """One entry per behaviour policy: {'id', 'checksum', 'description'}; behavior_ids index it."""

    def start_episode(self, episode_index: int, rng: np.random.Generator) -> None:
        """Called before each episode (mixtures pick their per-episode assignment here)."""

    def act(self, observations: np.ndarray, state: np.ndarray,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Actions (N, A) in [-1, 1] and the behaviour id of each agent's action (N,)."""


@dataclass
class UniformRandomPolicy:
    """Uniform random actions in [-1, 1] on every real action dimension (padding stays 0).

    With `episode_limit`, the whole episode's actions are drawn in one call when it
    starts (the generator yields the same numbers in the same order as one draw per
    step, so the data are identical) and each step returns its row: a per-step draw
    costs more Python than stepping a light simulator does.
    """

    act_mask: np.ndarray
    episode_limit: int | None = None

    def describe(self) -> list[dict[str, Any]]:
        return [{"id": "uniform-random", "checksum": None,
                 "description": "uniform random actions in [-1, 1] per action dimension"}]

    def start_episode(self, episode_index: int, rng: np.random.Generator) -> None:
        if self.episode_limit is not None:
            self._episode_actions = self._draw(rng, (self.episode_limit, *self.act_mask.shape))
            self._episode_actions.flags.writeable = False
            self._step = 0

    def act(self, observations, state, rng):
        if self.episode_limit is None:
            return self._draw(rng, self.act_mask.shape), self._behavior_ids
        actions = self._episode_actions[self._step]
        self._step += 1
        return actions, self._behavior_ids

    def _draw(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        actions = rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)
        actions *= self.act_mask
        return actions

    def __post_init__(self) -> None:
        # Read-only and shared across steps: the rollout copies it into its own buffer.
        self._behavior_ids = np.zeros(self.act_mask.shape[0], dtype=np.int16)
        self._behavior_ids.flags.writeable = False


def episode_seeds(seed: int, episode_index: int) -> tuple[int, np.random.Generator]:
    sequence = np.random.SeedSequence([seed, episode_index])
    env_seed = int(sequence.generate_state(1)[0] & 0x7FFFFFFF)
    return env_seed, np.random.default_rng(sequence)


def run_episode(env: ScenarioEnv, policy: BehaviorPolicy, seed: int, episode_index: int,
                max_steps: int | None = None) -> dict[str, Any]:
    """One episode through the lockstep loop (one environment); observations and states
    include the final next observation (L + 1 rows)."""
    env_seed, rng = episode_seeds(seed, episode_index)
    policy.start_episode(episode_index, rng)
    limit = env.spec.episode_limit if max_steps is None else min(max_steps, env.spec.episode_limit)
    recorder = _EpisodeArrays(env.spec, limit)

    def act(observations: np.ndarray, states: np.ndarray) -> np.ndarray:   # (N, 1, O), (1, S)
        action, recorder.behavior = policy.act(observations[:, 0], states[0], rng)
        return action[:, None]

    run_lockstep([env], act, iter([env_seed]), episodes=1, recorder=recorder, max_episode_steps=limit)
    return recorder.episode()


class _EpisodeArrays:
    """Recorder of one episode into the collection's arrays (preallocated to the step limit)."""

    def __init__(self, spec: Any, limit: int):
        self.observations = np.zeros((limit + 1, spec.n_agents, spec.obs_dim), dtype=np.float32)
        self.states = np.zeros((limit + 1, spec.state_dim), dtype=np.float32)
        self.actions = np.zeros((limit, spec.n_agents, spec.act_dim), dtype=np.float32)
        self.rewards = np.zeros((limit, spec.n_agents), dtype=np.float32)
        self.behavior_ids = np.zeros((limit, spec.n_agents), dtype=np.int16)
        self.behavior: np.ndarray | None = None     # the behaviour ids of the action being stepped
        self.length, self.terminated, self.truncated, self.budget_cut = 0, False, False, False

    def step(self, slot: int, observations: np.ndarray, state: np.ndarray, actions: np.ndarray,
             rewards: np.ndarray, next_observations: np.ndarray, next_state: np.ndarray,
             terminated: bool, truncated: bool) -> None:
        t = self.length
        if t == 0:
            self.observations[0], self.states[0] = observations, state
        self.actions[t], self.rewards[t], self.behavior_ids[t] = actions, rewards, self.behavior
        self.observations[t + 1], self.states[t + 1] = next_observations, next_state
        self.length, self.truncated = t + 1, truncated

    def end_episode(self, slot: int, terminated: bool, cut: bool) -> None:
        # Stopping at the step budget is a truncation, exactly as cutting a longer episode is.
        self.terminated, self.budget_cut = terminated, cut

    def episode(self) -> dict[str, Any]:
        n = self.length
        return {"observations": self.observations[: n + 1], "states": self.states[: n + 1],
                "actions": self.actions[:n], "rewards": self.rewards[:n], "behavior_ids": self.behavior_ids[:n],
                "terminated": self.terminated, "truncated": self.truncated or self.budget_cut, "budget_cut": self.budget_cut}


# -- worker processes -----------------------------------------------------------
_worker: dict[str, Any] = {}


def _init_worker(scenario: str, policy: BehaviorPolicy) -> None:
    try:
        import torch
        torch.set_num_threads(1)  # one process per core; intra-op threads would oversubscribe
    except ImportError:
        pass
    _worker["env"] = make(scenario)
    _worker["policy"] = policy


def _run_block(seed: int, episode_indices: list[int]) -> list[dict[str, Any]]:
    return [run_episode(_worker["env"], _worker["policy"], seed, k) for k in episode_indices]


def rollout(scenario: str, policy: BehaviorPolicy, steps: int | None, seed: int, workers: int = 1,
            progress: bool = True, description: str = "collect",
            episodes_wanted: int | None = None,
            on_episode: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Episodes in order until `steps` environment steps (the last one cut to fit),
    or, with `steps=None`, exactly `episodes_wanted` whole episodes.

    With `on_episode`, each episode is handed to it in order instead of kept (the
    returned list is then empty): a streaming writer keeps memory bounded whatever
    the step budget."""
    if (steps is None) == (episodes_wanted is None):
        raise ValueError("give exactly one of steps and episodes_wanted")
    spec = get_spec(scenario)
    env = make(scenario) if workers == 1 else None
    block = max(1, 2000 // spec.episode_limit)
    episodes: list[dict[str, Any]] = []
    collected = 0
    bar = tqdm(total=steps or episodes_wanted, unit="step" if steps else "episode", desc=description,
               disable=not progress, leave=False, mininterval=0.5)

    def accept(episode: dict[str, Any]) -> bool:
        nonlocal collected
        if steps is None:
            episodes.append(episode)
            bar.update(1)
            return len(episodes) >= episodes_wanted
        remaining = steps - collected
        length = len(episode["actions"])
        if length > remaining:
            episode = _cut(episode, remaining)
            length = remaining
        (on_episode or episodes.append)(episode)
        collected += length
        bar.update(length)
        return collected >= steps

    try:
        if workers == 1:
            index = 0
            while not accept(run_episode(env, policy, seed, index,
                                         max_steps=None if steps is None else steps - collected)):
                index += 1
        else:
            context = multiprocessing.get_context("spawn")
            with context.Pool(workers, initializer=_init_worker, initargs=(scenario, policy)) as pool:
                pending: collections.deque = collections.deque()
                next_block = 0

                def submit() -> None:
                    nonlocal next_block
                    indices = list(range(next_block * block, (next_block + 1) * block))
                    pending.append(pool.apply_async(_run_block, (seed, indices)))
                    next_block += 1

                for _ in range(2 * workers):
                    submit()
                done = False
                while not done:
                    for episode in pending.popleft().get():
                        if accept(episode):
                            done = True
                            break
                    if not done:
                        submit()
                # Terminating a pool with blocks still in flight can deadlock on its
                # handler threads; let the few outstanding blocks finish, then join.
                for result in pending:
                    result.wait()
                pool.close()
                pool.join()
    finally:
        bar.close()
    return episodes


def _cut(episode: dict[str, Any], length: int) -> dict[str, Any]:
    """Keep the first `length` steps; the budget cut is a truncation, never a termination."""
    cut = {name: value[: length + 1] if name in ("observations", "states") else value[:length]
           for name, value in episode.items() if isinstance(value, np.ndarray)}
    return cut | {"terminated": False, "truncated": True, "budget_cut": True}


def assemble(episodes: list[dict[str, Any]], n_agents: int) -> dict[str, np.ndarray]:
    """Concatenate episodes into the store's time-major schema."""
    lengths = np.array([len(e["actions"]) for e in episodes], dtype=np.int64)
    total = int(lengths.sum())
    episode_ends = np.cumsum(lengths)
    terminations = np.zeros((total, n_agents), dtype=bool)
    truncations = np.zeros((total, n_agents), dtype=bool)
    last = episode_ends - 1
    terminations[last[[e["terminated"] for e in episodes]]] = True
    truncations[last[[e["truncated"] and not e["terminated"] for e in episodes]]] = True
    return {
        "observations": np.concatenate([e["observations"][:-1] for e in episodes]),
        "actions": np.concatenate([e["actions"] for e in episodes]),
        "rewards": np.concatenate([e["rewards"] for e in episodes]),
        "terminations": terminations,
        "truncations": truncations,
        "states": np.concatenate([e["states"][:-1] for e in episodes]),
        "behavior_ids": np.concatenate([e["behavior_ids"] for e in episodes]),
        "episode_ends": episode_ends,
        "final_observations": np.stack([e["observations"][-1] for e in episodes]),
        "final_states": np.stack([e["states"][-1] for e in episodes]),
    }


def episode_rows(episode: dict[str, Any], n_agents: int) -> dict[str, np.ndarray]:
    """One episode's rows of each per-step array of `assemble`'s schema, and its final rows
    (`final_observations`, `final_states`: one row each); `assemble` of a list of episodes
    is these rows concatenated (plus `episode_ends`)."""
    length = len(episode["actions"])
    terminations = np.zeros((length, n_agents), dtype=bool)
    truncations = np.zeros((length, n_agents), dtype=bool)
    if length:
        terminations[-1] = episode["terminated"]
        truncations[-1] = episode["truncated"] and not episode["terminated"]
    return {
        "observations": episode["observations"][:-1],
        "actions": episode["actions"],
        "rewards": episode["rewards"],
        "terminations": terminations,
        "truncations": truncations,
        "states": episode["states"][:-1],
        "behavior_ids": episode["behavior_ids"],
        "final_observations": episode["observations"][-1:],
        "final_states": episode["states"][-1:],
    }
