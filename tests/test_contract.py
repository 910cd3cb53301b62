"""The contract, the one environment loop, and the bench CLI's vocabulary."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from baselines.algorithms import ALL_ALGORITHMS, algorithm_module
from baselines.core.config import AlgorithmConfig
from baselines.core.contract import SETTINGS, Algorithm
from baselines.diagnostics import TrajectoryRecorder
from collectors.lockstep import run_lockstep
from baselines.otc.cli import route_assignments
from madatasets.cli import cli
from madatasets.errors import MadataError
from madatasets.scenarios import get_spec, make

from conftest import random_store

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("name", ALL_ALGORITHMS)
def test_every_registered_algorithm_implements_the_contract(name):
    import torch
    module = algorithm_module(name)
    assert issubclass(module.Config, AlgorithmConfig) and module.Algorithm.setting in SETTINGS
    if module.Algorithm.setting == "discrete":
        return check_discrete_contract(module)
    spec = get_spec("hopper-3x1" if module.Algorithm.setting == "per-agent" else "mpe-spread-3")
    algorithm = module.Algorithm(module.Config(), spec, torch.Generator().manual_seed(0))
    assert isinstance(algorithm, Algorithm)
    observations = np.zeros((spec.n_agents, 2, spec.obs_dim), np.float32)
    actions = algorithm.act(observations, np.zeros((2, spec.state_dim), np.float32), torch.Generator())
    assert actions.shape == (spec.n_agents, 2, spec.act_dim) and np.all(np.abs(actions) <= 1)
    again = module.Algorithm(module.Config(), spec, torch.Generator())
    again.load_state_dict(algorithm.state_dict())
    assert np.array_equal(again.act(observations, np.zeros((2, spec.state_dim), np.float32), torch.Generator()),
                          actions)


def check_discrete_contract(module) -> None:
    """Discrete algorithms: integer actions (N, E) among the legal ones, the same after a checkpoint."""
    import torch
    spec = get_spec("smax-3m")
    algorithm = module.Algorithm(module.Config(), spec, torch.Generator().manual_seed(0))
    assert isinstance(algorithm, Algorithm)
    observations = np.random.default_rng(0).normal(size=(spec.n_agents, 2, spec.obs_dim)).astype(np.float32)
    legal = np.zeros((spec.n_agents, 2, spec.act_dim), dtype=bool)
    legal[..., 4] = legal[..., 6] = True
    actions = algorithm.act(observations, np.zeros((2, spec.state_dim), np.float32), legal=legal)
    assert actions.shape == (spec.n_agents, 2) and np.isin(actions, (4, 6)).all()
    again = module.Algorithm(module.Config(), spec, torch.Generator())
    again.load_state_dict(algorithm.state_dict())
    assert np.array_equal(again.act(observations, None, legal=legal), actions)


class Pushing:
    """Every agent pushes the same (fixed, uneven) way: agents move, so consecutive states differ."""

    def __init__(self, spec):
        self.spec = spec
        self.action = np.linspace(-1.0, 1.0, spec.act_dim, dtype=np.float32)

    def __call__(self, observations, states):
        return np.broadcast_to(self.action, (self.spec.n_agents, observations.shape[1], self.spec.act_dim)).copy()


def test_lockstep_runs_whole_episodes_or_an_exact_step_budget():
    spec = get_spec("mpe-spread-3")
    envs = [make("mpe-spread-3") for _ in range(2)]
    try:
        scores = run_lockstep(envs, Pushing(spec), iter(range(100)), episodes=3)
        alone = [run_lockstep(envs[:1], Pushing(spec), iter([seed]), episodes=1)[0] for seed in range(3)]
        assert scores == alone                       # episode k's score depends on its seed only
        recorder = TrajectoryRecorder("state")
        run_lockstep(envs, Pushing(spec), iter(range(100)), episodes=2, recorder=recorder)
        states = np.stack(recorder.episodes[0]["inputs"])
        # Each recorded input is the state of its own step (not a view of the loop's buffer).
        assert len(states) == 25 and not np.array_equal(states[0], states[-1])
        with pytest.raises(MadataError, match="exactly one of episodes and steps"):
            run_lockstep(envs, Pushing(spec), iter(range(9)))
    finally:
        for env in envs:
            env.close()


def test_the_one_loop_cuts_collection_at_its_step_budget_and_hands_policies_their_masks():
    from collectors.rollout import UniformRandomPolicy, run_episode
    spec = get_spec("hopper-3x1")
    env = make("hopper-3x1")
    try:
        mask = np.ones((spec.n_agents, spec.act_dim), np.float32)
        cut = run_episode(env, UniformRandomPolicy(mask), seed=0, episode_index=3, max_steps=4)
        whole = run_episode(env, UniformRandomPolicy(mask), seed=0, episode_index=3)
        # A cut episode is the whole one's first steps, marked truncated by the budget, never terminated.
        assert len(cut["actions"]) == 4 and len(cut["observations"]) == 5
        assert cut["budget_cut"] and cut["truncated"] and not cut["terminated"]
        assert np.array_equal(cut["observations"], whole["observations"][:5])
        assert np.array_equal(cut["actions"], whole["actions"][:4])
        assert whole["terminated"] != whole["truncated"] and not whole["budget_cut"]
        # The loop scores a cut wave episode as NaN and refuses a cut with a step budget.
        scores = run_lockstep([env], lambda o, s: np.zeros((spec.n_agents, 1, spec.act_dim), np.float32),
                              iter([5]), episodes=1, max_episode_steps=2)
        assert np.isnan(scores[0])
        with pytest.raises(MadataError, match="whole-episode waves only"):
            run_lockstep([env], Pushing(spec), iter(range(9)), steps=5, max_episode_steps=2)
    finally:
        env.close()
    seen = []

    class Masks:
        def __init__(self, slot_mask):
            self.slot_mask = slot_mask

        def legal_actions(self):
            return self.slot_mask

    class Stepping(Masks):
        spec = get_spec("mpe-spread-3")

        def __init__(self, slot_mask):
            super().__init__(slot_mask)
            self.inner = make("mpe-spread-3")

        def reset_arrays(self, seed):
            return self.inner.reset_arrays(seed)

        def step_arrays(self, action):
            return self.inner.step_arrays(action)

    def masked(observations, states, legal):
        seen.append(legal.copy())
        return Pushing(Stepping.spec)(observations, states)

    wave = [Stepping(np.full((3, 5), slot == 1)) for slot in range(2)]
    try:
        run_lockstep(wave, masked, iter(range(2)), episodes=2, legal_actions=True)
        # (N, E, A): environment 1's mask in column 1, every step.
        assert len(seen) == 25 and all(m.shape == (3, 2, 5) and not m[:, 0].any() and m[:, 1].all() for m in seen)
    finally:
        for env in wave:
            env.inner.close()


def test_otc_set_keys_are_routed_to_the_backbone_or_the_protocol():
    backbone, config = route_assignments("bcq", ["batch_size=64", "deployments=3", "otc.batch_size=32",
                                                 "online_steps=7"])
    assert backbone == ("batch_size=64",)
    assert (config.deployments, config.batch_size, config.online_steps) == (3, 32, 7)
    with pytest.raises(MadataError, match="unknown hyperparameter 'nope' for otc"):
        route_assignments("bcq", ["nope=1"])


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return random_store(tmp_path_factory, steps=100)


def bench(*args: str):
    return CliRunner().invoke(cli, ["bench", *args])


def test_bench_takes_updates_and_still_takes_steps_with_a_deprecation(store, tmp_path):
    common = ["bc", "--dataset", "mpe-spread-3/random-v1", "--seed", "0", "--eval-episodes", "1", "--quiet",
              "--set", "batch_size=8", "--store", store]
    new = bench(*common, "--updates", "2", "--out", str(tmp_path / "new"))
    old = bench(*common, "--steps", "2", "--out", str(tmp_path / "old"))
    assert new.exit_code == 0 and old.exit_code == 0, new.output + old.output
    assert "--steps is now --updates" in old.output and "deprecated" not in new.output
    read = lambda out: json.loads(next((tmp_path / out).rglob("seed_0.json")).read_text())  # noqa: E731
    assert read("new")["curve"] == read("old")["curve"] and read("new")["updates"] == 2


@pytest.mark.parametrize("args,message", [
    (["--seed", "1", "--seeds", "2"], "--seed names one seed"),
    (["--updates", "2", "--steps", "2"], "give only --updates"),
    (["--set", "tau"], "--set expects key=value"),
    (["--set", "nope=1"], "unknown hyperparameter 'nope'"),
    (["--deployments", "2"], "applies to `madata bench otc` only"),
])
def test_bad_bench_input_is_one_line_and_exit_2(store, tmp_path, args, message):
    result = bench("bc", "--dataset", "mpe-spread-3/random-v1", "--store", store, "--out", str(tmp_path), *args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
