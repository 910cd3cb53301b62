from __future__ import annotations

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

import madatasets
from madatasets.errors import MadataError
from madatasets.scenarios import episode_return, get_spec, make, scenario_names


# SMAX compiles per map (seconds to tens of seconds); smax-3m stands for the family here and
# tests/test_smax.py runs every map with MADATA_SLOW_TESTS=1.
# Import-only scenarios (SMAC, no simulator) have their own tests in tests/test_smac_import.py.
FAST_SCENARIOS = [n for n in scenario_names() if (get_spec(n).family != "smax" or n == "smax-3m")
                  and get_spec(n).simulator]


@pytest.mark.parametrize("name", FAST_SCENARIOS)
def test_parallel_api(name):
    env = make(name)
    parallel_api_test(env, num_cycles=20)
    spec = env.spec
    observations, infos = env.reset(seed=1)
    assert set(observations) == set(spec.agents)
    assert all(o.dtype == np.float32 and o.shape == (spec.obs_dim,) for o in observations.values())
    assert env.state().shape == (spec.state_dim,) and env.state().dtype == np.float32


@pytest.mark.parametrize("name", FAST_SCENARIOS)
def test_padding_masks_and_versions(name):
    spec = get_spec(name)
    env = make(name)
    obs, state = env.reset_arrays(0)
    # Padded observation entries are exactly zero.
    assert np.all(obs[~spec.obs_mask] == 0)
    assert spec.obs_mask.sum(axis=1).tolist() == list(spec.obs_sizes)
    assert spec.act_mask.sum(axis=1).tolist() == list(spec.act_sizes)
    versions = spec.package_versions()
    assert set(versions) == set(spec.packages) and all(versions.values())


def test_same_seed_same_episode():
    def run(seed):
        env = make("mpe-tag-3v1")
        env.reset_arrays(seed)
        rng = np.random.default_rng(0)
        return np.stack([env.step_arrays(rng.uniform(-1, 1, (3, 5)))[0] for _ in range(10)])

    np.testing.assert_array_equal(run(5), run(5))
    assert not np.array_equal(run(5), run(6))


def test_mpe_actions_are_rescaled_to_native_box():
    env = make("mpe-spread-3")
    env.reset_arrays(0)
    # [-1, 1] maps onto mpe2's [0, 1]: the all -1 action is "no force at all".
    before = np.array([a.state.p_vel.copy() for a in env._backend.world.agents])
    env.step_arrays(-np.ones((3, 5), dtype=np.float32))
    after = np.array([a.state.p_vel for a in env._backend.world.agents])
    # Without force, damping only shrinks velocity.
    assert np.all(np.abs(after) <= np.abs(before) + 1e-9)


def test_episode_return_is_sum_of_mean_over_agents():
    rewards = np.array([[1.0, 3.0], [2.0, 2.0]])
    assert episode_return(rewards) == pytest.approx(4.0)


def test_unknown_scenario_names_valid_choices():
    with pytest.raises(MadataError, match="valid: mpe-spread-3"):
        madatasets.make("mpe-nope")
