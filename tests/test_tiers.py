"""The zoo-driven quality tiers, on a synthetic zoo of three distinct random actors
(so that every check can tell early, medium and expert apart) and, for medium-replay,
on a tiny real training run."""

from __future__ import annotations

import numpy as np
import pytest

import madatasets
from collectors.behavior import (ROLES, ZOO_VERSION, MLPActor, default_config, joint_to_padded, train_behavior,
                                 update_zoo_index)
from collectors.collect import collect
from collectors.tiers import MIXED_PARTS, NOISE_SIGMA, split_steps
from madatasets.errors import MadataError
from madatasets.scenarios import get_spec
from madatasets.stats import behavior_mix, plot_returns

SCENARIO = "mpe-spread-3"


def random_actor(spec, seed: int, hidden: int = 16) -> MLPActor:
    rng = np.random.default_rng(seed)
    sizes = [spec.state_dim, hidden, int(sum(spec.act_sizes))]
    return MLPActor([rng.normal(0, 1 / np.sqrt(a), (a, b)).astype(np.float32) for a, b in zip(sizes, sizes[1:])],
                    [rng.normal(0, 0.3, b).astype(np.float32) for b in sizes[1:]])


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """A zoo entry for spread with three different actors (synthetic weights, real file format)."""
    root = tmp_path_factory.mktemp("zoo")
    spec = get_spec(SCENARIO)
    policies = {}
    for k, role in enumerate(ROLES):
        actor = random_actor(spec, seed=k)
        actor.save(root / SCENARIO / f"{role}.npz")
        policies[role] = {"id": f"zoo/{SCENARIO}/{role}", "file": f"{SCENARIO}/{role}.npz", "sha256": actor.checksum,
                          "step": 1000 * (k + 1), "return_mean": -20.0 + k, "return_std": 1.0, "episodes": 100}
    update_zoo_index(root, SCENARIO, {"scenario_version": spec.version, "seed": 0, "algorithm": "td3",
                                      "config": {}, "command": "synthetic", "policies": policies})
    return root


@pytest.fixture(scope="module")
def actors(zoo):
    return {role: MLPActor.load(zoo / SCENARIO / f"{role}.npz") for role in ROLES}


def collected(tmp_path, quality, zoo, steps=300, **kwargs):
    collect(SCENARIO, quality, steps=steps, store=tmp_path, zoo=zoo, progress=False, **kwargs)
    return madatasets.load(f"{SCENARIO}/{quality}-v{ZOO_VERSION}", tmp_path)   # datasets take the zoo's version


def residual(dataset_actions, states, actor, spec, agent=None):
    """|recorded action - the actor's own action| on real dims (the noise, where that actor acted)."""
    expected = joint_to_padded(spec, actor(states))
    if agent is None:
        return np.abs(dataset_actions - expected)[:, spec.act_mask]
    return np.abs(dataset_actions - expected[:, agent])[:, spec.act_mask[agent]]


@pytest.mark.parametrize("role", ["medium", "expert"])
def test_single_policy_tiers_roll_out_their_zoo_actor_with_noise(tmp_path, zoo, actors, role):
    spec = get_spec(SCENARIO)
    data = collected(tmp_path, role, zoo)
    assert data.total_steps == 300 and data.layout == "joint"
    assert [p["id"] for p in data.card["behavior_policies"]] == [f"zoo/{SCENARIO}/{role}"]
    assert data.card["behavior_policies"][0]["checksum"] == actors[role].checksum
    assert data.card["collection"]["action_noise"]["sigma"] == NOISE_SIGMA
    assert np.all(data.behavior_ids == 0)
    noise = residual(data.actions, data.states, actors[role], spec)
    # Gaussian noise of std sigma (a little less after clipping at the bounds), and nothing else.
    assert 0.6 * NOISE_SIGMA < np.sqrt(np.mean(noise ** 2)) < 1.1 * NOISE_SIGMA
    other = "expert" if role == "medium" else "medium"
    assert np.mean(residual(data.actions, data.states, actors[other], spec)) > 3 * np.mean(noise)


def test_medium_expert_is_half_medium_then_half_expert(tmp_path, zoo, actors):
    spec = get_spec(SCENARIO)
    data = collected(tmp_path, "medium-expert", zoo, steps=310)
    assert [p["role"] for p in data.card["behavior_policies"]] == ["medium", "expert"]
    ids = data.behavior_ids
    assert np.all(ids[:155] == 0) and np.all(ids[155:] == 1)
    assert residual(data.actions[:155], data.states[:155], actors["medium"], spec).max() < 6 * NOISE_SIGMA
    assert residual(data.actions[155:], data.states[155:], actors["expert"], spec).max() < 6 * NOISE_SIGMA


def test_tier_data_do_not_depend_on_the_worker_count(tmp_path, zoo):
    one = collected(tmp_path / "one", "medium-expert", zoo, steps=260, workers=1)
    two = collected(tmp_path / "two", "medium-expert", zoo, steps=260, workers=2)
    assert one.card["checksums"] == two.card["checksums"]


def test_mixed_gives_each_agent_its_own_dataset_in_the_mabcq_proportions(tmp_path, zoo, actors):
    spec = get_spec(SCENARIO)
    steps = 400
    data = collected(tmp_path, "mixed", zoo, steps=steps)
    assert data.layout == "per-agent"
    assert [p["role"] for p in data.card["behavior_policies"]] == list(ROLES)
    early, medium, expert = 0, 1, 2
    counts = dict(zip([part for part, _ in MIXED_PARTS], split_steps(steps, [f for _, f in MIXED_PARTS])))
    assert counts == {"all-early": 80, "self-medium-others-expert": 140, "self-expert-others-medium": 140,
                      "all-expert": 40}
    with pytest.raises(MadataError, match="per agent"):
        data.actions
    datasets = [data.agent(i) for i in range(spec.n_agents)]
    for i, own in enumerate(datasets):
        assert len(own) == steps and own.actions.shape == (steps, spec.act_dim)
        full_ids = data.arrays[f"agent_{i}/behavior_ids"]           # (T, N): every agent's behaviour
        others = np.delete(full_ids, i, axis=1)
        rows = {
            "all-early": np.all(full_ids == early, axis=1),
            "self-medium-others-expert": (full_ids[:, i] == medium) & np.all(others == expert, axis=1),
            "self-expert-others-medium": (full_ids[:, i] == expert) & np.all(others == medium, axis=1),
            "all-expert": np.all(full_ids == expert, axis=1),
        }
        assert {part: int(r.sum()) for part, r in rows.items()} == counts
        np.testing.assert_array_equal(own.behavior_ids, full_ids[:, i])
        # agent i's recorded action is its slice of the policy its behaviour id names.
        for role_index, role in enumerate(ROLES):
            acted = own.behavior_ids == role_index
            noise = residual(own.actions[acted], own.states[acted], actors[role], spec, agent=i)
            assert noise.max() < 6 * NOISE_SIGMA
    for mix in behavior_mix(data):   # agent i's own column in B_i: 20% early, 35% medium, 35% + 10% expert
        assert mix == pytest.approx({f"zoo/{SCENARIO}/early": 0.2, f"zoo/{SCENARIO}/medium": 0.35,
                                     f"zoo/{SCENARIO}/expert": 0.45})
    plot = tmp_path / "returns.png"
    plot_returns([data, collected(tmp_path, "expert", zoo, steps=100)], str(plot))
    assert plot.stat().st_size > 1000
    # B_0 and B_1 are collected separately: different episodes, not copies.
    assert not np.array_equal(datasets[0].observations, datasets[1].observations)


def test_medium_replay_is_the_training_buffer_up_to_medium(tmp_path):
    zoo = tmp_path / "zoo"
    config = default_config(SCENARIO, algorithm="td3", steps=600, hidden=(16, 16), learning_starts=100, eval_every=200,
                            eval_episodes=2, final_eval_episodes=2, batch_size=32)
    entry = train_behavior(config, zoo_dir=zoo, progress=False)
    data = collected(tmp_path / "store", "medium-replay", zoo, steps=1_000_000)
    buffer = entry["medium_replay"]
    assert data.total_steps == buffer["steps"] == entry["policies"]["medium"]["step"]  # not padded
    assert data.card["collection"]["regeneration"]["reproduced"]
    ids = data.behavior_ids[:, 0]
    assert np.all(ids[:100] == 0) and np.all(ids[100:] == 1)   # warm-up, then the learner
    with pytest.raises(MadataError, match="--seed 0"):
        collect(SCENARIO, "medium-replay", steps=100, seed=3, store=tmp_path / "store", zoo=zoo, progress=False)


def test_zoo_tiers_refuse_scenarios_without_a_policy_and_tiny_mixtures(tmp_path, zoo):
    with pytest.raises(MadataError, match="madata train-behavior hopper-3x1"):
        collect("hopper-3x1", "expert", steps=100, store=tmp_path, zoo=zoo, progress=False)
    with pytest.raises(MadataError, match="too small"):
        collect(SCENARIO, "mixed", steps=3, store=tmp_path, zoo=zoo, progress=False)
    assert not (tmp_path / SCENARIO / f"mixed-v{ZOO_VERSION}").exists()


def test_joint_actions_fill_the_padded_layout_in_agent_order():
    spec = get_spec("mpe-world-4v2")       # act sizes 9, 5, 5, 5 padded to 9
    joint = np.arange(24, dtype=np.float32)
    padded = joint_to_padded(spec, joint)
    assert padded.shape == (4, 9)
    np.testing.assert_array_equal(padded[0], np.arange(9))
    np.testing.assert_array_equal(padded[1, :5], np.arange(9, 14))
    assert np.all(padded[1:, 5:] == 0)
