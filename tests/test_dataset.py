from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import madatasets
from collectors.collect import collect
from collectors.rollout import episode_seeds
from madatasets.errors import MadataError
from madatasets.scenarios import make


@pytest.fixture
def hopper(store_path):
    # Hopper terminates early under random actions: many episode ends in few steps.
    collect("hopper-3x1", "random", steps=800, seed=3, store=store_path, progress=False)
    return madatasets.load("hopper-3x1/random-v1", store=store_path)


def test_next_observation_at_episode_ends_is_exact(hopper):
    transitions = hopper.transitions()
    starts = np.concatenate([[0], hopper.episode_ends[:-1]])
    assert hopper.terminations[hopper.episode_ends - 1].any()
    for episode, (start, end) in enumerate(zip(starts, hopper.episode_ends)):
        if episode >= 5:
            break
        # Replay the recorded actions from the episode's reset seed.
        env = make("hopper-3x1")
        env_seed, _ = episode_seeds(hopper.card["seed"], episode)
        obs, state = env.reset_arrays(env_seed)
        np.testing.assert_array_equal(obs, hopper.observations[start])
        for t in range(start, end):
            obs, state, *_ = env.step_arrays(hopper.actions[t])
            np.testing.assert_array_equal(obs, transitions["next_observations"][t])
            np.testing.assert_array_equal(state, transitions["next_states"][t])
        if end < len(hopper):
            # Never the reset observation of the following episode.
            assert not np.array_equal(transitions["next_observations"][end - 1], hopper.observations[end])


def test_transitions_shapes_and_dones(hopper):
    transitions = hopper.transitions()
    T = len(hopper)
    assert transitions["observations"].shape == transitions["next_observations"].shape == (T, 3, 9)
    assert transitions["states"].shape == transitions["next_states"].shape == (T, 11)
    # Within an episode the next observation is the following row.
    inner = np.setdiff1d(np.arange(T - 1), hopper.episode_ends - 1)
    np.testing.assert_array_equal(transitions["next_observations"][inner], hopper.observations[inner + 1])
    np.testing.assert_array_equal(transitions["dones"], hopper.terminations)
    episodes = list(hopper.episodes())
    assert len(episodes) == len(hopper.episode_ends)
    assert sum(len(e) for e in episodes) == T


def test_agent_view_holds_only_its_own_actions(hopper):
    for i in range(3):
        view = hopper.agent(i)
        np.testing.assert_array_equal(view.actions, hopper.actions[:, i])
        assert view.actions.shape == (len(hopper), 1)
        np.testing.assert_array_equal(view.observations, hopper.observations[:, i])
        np.testing.assert_array_equal(view.rewards, hopper.rewards[:, i])
    # By construction: changing the other agents' actions leaves agent 0's view unchanged.
    before = hopper.agent(0)
    hopper.arrays["actions"][:, 1:] = 123.0
    after = hopper.agent(0)
    for field in ("observations", "actions", "rewards", "next_observations", "states", "next_states"):
        np.testing.assert_array_equal(getattr(before, field), getattr(after, field))
    assert not np.any(after.actions == 123.0)
    with pytest.raises(MadataError, match="out of range"):
        hopper.agent(3)


def test_killed_collect_leaves_no_visible_dataset(store_path):
    command = [sys.executable, "-m", "madatasets.cli", "collect", "halfcheetah-2x3", "--env-steps", "2000000",
               "--quiet", "--store", str(store_path)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not (Path(store_path) / ".locks").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert madatasets.list_datasets(store_path) == []
    with pytest.raises(MadataError, match="not found"):
        madatasets.load("halfcheetah-2x3/random-v1", store=store_path)
    # The lock died with the process: a new collector can write the id.
    collect("halfcheetah-2x3", "random", steps=100, store=store_path, progress=False)
    assert madatasets.list_datasets(store_path) == ["halfcheetah-2x3/random-v1"]


def test_typed_card_and_episodes(hopper):
    from madatasets.episode import DatasetCard, Episode
    card = hopper.card
    assert isinstance(card, DatasetCard)
    assert (card.scenario, card.quality, card.version) == ("hopper-3x1", "random", 1)
    assert card.total_steps == len(hopper) and card["total_steps"] == len(hopper)   # still the card's mapping
    assert card.to_dict()["id"] == card.id == "hopper-3x1/random-v1"
    episodes = list(hopper.episodes())
    assert all(isinstance(e, Episode) for e in episodes)
    assert [len(e) for e in episodes] == np.diff(np.concatenate([[0], hopper.episode_ends])).tolist()
    np.testing.assert_allclose([e.total_return for e in episodes], hopper.episode_returns())
    # Terminated episodes end in a termination; the next state of the last step is the stored final state.
    last = episodes[-1]
    np.testing.assert_array_equal(last.next_states[-1], hopper.final_states[-1])
    assert hopper.transitions() is hopper.transitions()   # computed once


def test_sample_and_filter_episodes(hopper):
    first = hopper.sample_episodes(5, np.random.default_rng(1))
    again = hopper.sample_episodes(5, np.random.default_rng(1))
    assert [e.index for e in first] == [e.index for e in again] and len({e.index for e in first}) == 5
    long = hopper.filter_episodes(lambda e: len(e) > 20)
    assert long and all(len(e) > 20 for e in long)
    assert len(long) == int((np.diff(np.concatenate([[0], hopper.episode_ends])) > 20).sum())
    with pytest.raises(MadataError, match="cannot sample"):
        hopper.sample_episodes(10_000, np.random.default_rng(0))


def test_make_env_rebuilds_the_scenario(hopper):
    env = hopper.make_env()
    observations, _ = env.reset(seed=0)
    assert set(observations) == set(env.possible_agents) and len(env.possible_agents) == hopper.n_agents
