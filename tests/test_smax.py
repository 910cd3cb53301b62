"""SMAX scenarios: registry shapes, PettingZoo API, exact terminal rows, masks, vectorized collection.

Compiling SMAX programs dominates these tests (tens of seconds per program on a
loaded 2-core machine, seconds once JAX's persistent cache holds them), so they
share one map (3m), one single-environment step and one vectorized configuration.
Set MADATA_SLOW_TESTS=1 to also run every map through PettingZoo's API test and
compare two slot counts directly.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("jaxmarl")

from madatasets.smax import SMAX_MAPS, single_thread_flags  # noqa: E402

single_thread_flags()

from madatasets.errors import MadataError  # noqa: E402
from madatasets.scenarios import get_spec, make, scenario_names  # noqa: E402
from madatasets.smax import core, import_jax  # noqa: E402
from madatasets.smax_vector import vector_rollout  # noqa: E402

SLOW = os.environ.get("MADATA_SLOW_TESTS") == "1"
SEED = 3


@pytest.fixture(scope="module")
def episodes() -> list[dict]:
    # 5 whole episodes over 3 slots: slots finish at different times and refill.
    return vector_rollout("3m", "random", 3).run(SEED, episodes=5)


def test_every_map_is_registered_with_the_environments_shapes():
    jax = import_jax()
    assert [n for n in scenario_names() if n.startswith("smax-")] == list(SMAX_MAPS)
    for name, (map_name, allies, _) in SMAX_MAPS.items():
        spec = get_spec(name)
        assert spec.discrete and spec.family == "smax" and spec.n_agents == allies
        # Shapes from tracing the reset, without compiling it.
        _, first = jax.eval_shape(core(map_name).reset_fn, jax.random.PRNGKey(0))
        assert first.obs.shape == (allies, spec.obs_dim), name
        assert first.state.shape == (spec.state_dim,), name
        assert first.legal.shape == (allies, spec.act_dim), name
        assert {"jaxmarl", "jax"} <= spec.to_dict()["package_versions"].keys()


@pytest.mark.skipif(not SLOW, reason="compiles every map (tests/test_scenarios.py runs smax-3m); MADATA_SLOW_TESTS=1")
@pytest.mark.parametrize("name", list(SMAX_MAPS))
def test_parallel_api_on_every_map(name):
    from pettingzoo.test import parallel_api_test
    env = make(name)
    parallel_api_test(env, num_cycles=30)
    assert env.state().shape == (env.spec.state_dim,)


def test_pettingzoo_step_replaces_an_illegal_action_by_stop_and_says_so():
    env = make("smax-3m")
    env.reset(seed=0)
    _, _, _, _, infos = env.step({"ally_0": 7, "ally_1": 4, "ally_2": 99})   # attacks out of range at the start
    assert [infos[a]["illegal_action"] for a in env.possible_agents] == [True, False, True]
    assert infos["ally_0"]["action_mask"].shape == (env.spec.act_dim,)


def test_vectorized_episodes_replay_step_for_step_in_the_single_env(episodes):
    jax = import_jax()
    env = make("smax-3m")
    base = jax.random.PRNGKey(SEED)
    for k, episode in enumerate(episodes):
        obs, state = env.reset_key(jax.random.fold_in(base, k))
        np.testing.assert_array_equal(obs, episode["observations"][0])
        np.testing.assert_array_equal(state, episode["states"][0])
        for t, action in enumerate(episode["actions"]):
            np.testing.assert_array_equal(env.legal_actions(), episode["legal_actions"][t])
            obs, state, reward, terminated, truncated = env.step_arrays(action.astype(np.int32))
            np.testing.assert_array_equal(reward, episode["rewards"][t])
            np.testing.assert_array_equal(obs, episode["observations"][t + 1])
            np.testing.assert_array_equal(state, episode["states"][t + 1])
        # The recorded final rows are the true terminal ones (the single env never resets).
        assert (terminated, truncated) == (episode["terminated"], episode["truncated"])
        assert terminated or truncated
        assert env.won == episode["won"]
        np.testing.assert_array_equal(env.legal_actions(), episode["legal_actions"][-1])


def test_terminal_rows_are_not_jaxmarls_auto_reset(episodes):
    # JaxMARL's `step` returns the reset observation at the end; ours must differ from it.
    jax = import_jax()
    smax = core("3m")
    episode = next(e for e in episodes if e["terminated"])
    length = len(episode["actions"])
    k = episodes.index(episode)
    key = jax.random.fold_in(jax.random.PRNGKey(SEED), k)
    env_state, _ = smax.reset(key)
    for t in range(length):
        env_state, out = smax.step(key, t, env_state, episode["actions"][t].astype(np.int32))
    np.testing.assert_array_equal(np.asarray(out.obs), episode["observations"][-1])
    actions = {a: int(episode["actions"][-1][i]) for i, a in enumerate(smax.env.agents)}
    # Rebuild the state before the last step and call JaxMARL's auto-resetting step.
    env_state, _ = smax.reset(key)
    for t in range(length - 1):
        env_state, _ = smax.step(key, t, env_state, episode["actions"][t].astype(np.int32))
    auto_obs, *_ = smax.env.step(jax.random.PRNGKey(0), env_state, actions)
    assert not np.array_equal(np.stack([np.asarray(auto_obs[a]) for a in smax.env.agents]),
                              episode["observations"][-1])


def test_actions_respect_the_masks_and_illegal_actions_are_refused(episodes):
    for episode in episodes:
        legal = episode["legal_actions"][:-1]
        actions = episode["actions"].astype(np.int64)
        assert np.take_along_axis(legal, actions[..., None], axis=-1).all()
    env = make("smax-3m")
    env.reset(seed=0)
    legal = env.legal_actions()
    illegal = np.argmin(legal, axis=1).astype(np.int32)   # attacks are out of range at the start
    assert not legal[np.arange(3), illegal].all()
    with pytest.raises(MadataError, match="illegal action"):
        env.step_arrays(illegal)


def test_collection_is_a_function_of_the_seed_alone(episodes):
    again = vector_rollout("3m", "random", 3).run(SEED, episodes=5)
    for a, b in zip(episodes, again, strict=True):
        for name, value in a.items():
            np.testing.assert_array_equal(value, b[name])
    # A step budget takes the same episodes in order and cuts the last one.
    cut = vector_rollout("3m", "random", 3).run(SEED, steps=len(episodes[0]["actions"]) + 2)
    np.testing.assert_array_equal(cut[0]["observations"], episodes[0]["observations"])
    assert len(cut[1]["actions"]) == 2 and cut[1]["budget_cut"] and cut[1]["truncated"]
    np.testing.assert_array_equal(cut[1]["observations"], episodes[1]["observations"][:3])


@pytest.mark.skipif(not SLOW, reason="compiles a second vectorized program; MADATA_SLOW_TESTS=1")
def test_collection_does_not_depend_on_the_slot_count(episodes):
    other = vector_rollout("3m", "random", 5, 4).run(SEED, episodes=5)
    for a, b in zip(episodes, other, strict=True):
        for name, value in a.items():
            np.testing.assert_array_equal(value, b[name])


def test_streamed_pieces_are_the_one_shot_block_cut_into_whole_episodes(episodes):
    rollout = vector_rollout("3m", "random", 3)
    steps = sum(len(e["actions"]) for e in episodes[:4]) + 2         # the fifth episode is cut
    whole = rollout.run_block(SEED, steps=steps)
    # block_rows=1: a piece as soon as the next episode in index order is complete.
    pieces = list(rollout.stream_blocks(SEED, steps, block_rows=1))
    assert len(pieces) >= 2                                             # the budget spans several pieces
    assert [int(p.ends[-1]) for p in pieces[:-1]] == [len(p.actions) for p in pieces[:-1]]
    assert not any(p.budget_cut.any() for p in pieces[:-1]) and pieces[-1].budget_cut[-1]
    offsets = np.cumsum([0] + [len(p.actions) for p in pieces[:-1]])
    np.testing.assert_array_equal(np.concatenate([p.ends + o for p, o in zip(pieces, offsets)]), whole.ends)
    for field in whole._fields:
        if field != "ends":
            np.testing.assert_array_equal(np.concatenate([getattr(p, field) for p in pieces]), getattr(whole, field))
