"""Zoo v1: the resumable TD3 learner, scripted yardsticks, tier checks and versioned references."""

from __future__ import annotations

import numpy as np
import pytest

from collectors.behavior import ZOO_VERSION, default_config, read_zoo_index, train_behavior
from collectors.rollout import UniformRandomPolicy, rollout
from collectors.tier_check import TierReturn, check_tiers, tier_rows
from collectors.train_td3 import joint_view, run_td3
from collectors.yardsticks import scripted_policy
from madatasets.errors import MadataError
from madatasets.scenarios import episode_return, get_spec

SCENARIO = "mpe-spread-3"


def tiny(**overrides):
    values = dict(steps=600, hidden=(16, 16), learning_starts=100, eval_every=200, eval_episodes=1,
                  batch_size=32, selection_episodes=0)
    return default_config(SCENARIO, algorithm="td3", **(values | overrides))


def checksums(checkpoints):
    return [(c.step, c.actor.checksum) for c in checkpoints]


def test_interrupted_and_resumed_run_gives_the_same_actors_as_a_straight_run(tmp_path, one_torch_thread):
    config = tiny()
    straight, _, trainer = run_td3(config, evaluate=False, progress=False)
    # Stop mid-run (saving at every episode boundary), then continue from the folder.
    first, _, _ = run_td3(config, evaluate=False, progress=False, run_dir=tmp_path, stop_at=337, save_every_seconds=0)
    assert len(first) < len(straight)
    resumed, _, again = run_td3(config, evaluate=False, progress=False, run_dir=tmp_path, resume=True)
    assert checksums(resumed) == checksums(straight)
    assert again.state.step == trainer.state.step == 600
    assert again.state.updates == trainer.state.updates


def test_resume_refuses_another_configuration_and_an_unasked_restart(tmp_path, one_torch_thread):
    run_td3(tiny(), evaluate=False, progress=False, run_dir=tmp_path, stop_at=300, save_every_seconds=0)
    with pytest.raises(MadataError, match="--resume"):
        run_td3(tiny(), evaluate=False, progress=False, run_dir=tmp_path)
    with pytest.raises(MadataError, match="another configuration"):
        run_td3(tiny(learning_rate=3e-4), evaluate=False, progress=False, run_dir=tmp_path, resume=True)


def test_one_run_serves_scenarios_with_the_same_joint_view():
    assert joint_view("ant-2x4") == joint_view("ant-4x2")
    assert joint_view("halfcheetah-2x3") != joint_view("walker2d-2x3")


def test_trained_zoo_records_its_version(tmp_path, one_torch_thread):
    entry = train_behavior(tiny(), zoo_dir=tmp_path, progress=False)
    assert entry["zoo_version"] == ZOO_VERSION == read_zoo_index(tmp_path)["zoo_version"]
    assert entry["medium_replay"]["steps"] == entry["policies"]["medium"]["step"]


@pytest.mark.parametrize("scenario", ["mpe-spread-3", "mpe-tag-3v1", "mpe-world-4v2"])
def test_scripted_yardsticks_beat_uniform_random(scenario):
    spec = get_spec(scenario)

    def mean_return(policy):
        episodes = rollout(scenario, policy, None, 11, 1, False, episodes_wanted=30)
        return np.mean([episode_return(e["rewards"]) for e in episodes])

    assert mean_return(scripted_policy(scenario)) > mean_return(UniformRandomPolicy(spec.act_mask)) + 3.0


def test_scripted_yardstick_is_refused_where_none_exists():
    with pytest.raises(MadataError, match="no scripted yardstick"):
        scripted_policy("hopper-3x1")


def tiers(**means):
    return {tier.replace("_", "-"): TierReturn(mean, 1.0, 100) for tier, mean in means.items()}


def test_tier_check_accepts_ordered_tiers_with_medium_at_a_third():
    good = tiers(random=0.0, medium_replay=20.0, medium=35.0, medium_expert=65.0, expert=98.0)
    assert check_tiers(good, random=0.0, expert=100.0) == []
    rows = tier_rows(good, 0.0, 100.0)
    assert [r["tier"] for r in rows] == ["random", "medium-replay", "medium", "medium-expert", "expert"]
    assert rows[2]["share"] == pytest.approx(0.35) and rows[0]["separated_from_next"]


def test_tier_check_names_inversions_and_a_medium_outside_its_band():
    inverted = tiers(random=0.0, medium_replay=40.0, medium=30.0, expert=100.0)
    assert any("medium-replay (40) is not below medium (30)" in p for p in check_tiers(inverted, 0.0, 100.0))
    too_good = tiers(random=0.0, medium=70.0, expert=100.0)
    assert any("70.0% of the random-to-expert span" in p for p in check_tiers(too_good, 0.0, 100.0))
    too_weak = tiers(random=-30.0, medium=-27.0, expert=-10.0)   # 15% of a negative-return span
    assert any("15.0%" in p for p in check_tiers(too_weak, -30.0, -10.0))
    assert "does not exceed" in check_tiers(too_good, 5.0, 5.0)[0]


def test_overlapping_confidence_intervals_are_reported():
    close = {"medium": TierReturn(30.0, 50.0, 10), "expert": TierReturn(40.0, 50.0, 10)}
    assert tier_rows(close, 0.0, 100.0)[0]["separated_from_next"] is False


def test_a_new_zoo_version_leaves_old_cards_their_references(reference_file, tmp_path):
    import madatasets
    from baselines.results import normalized_score as _normalized
    from collectors.collect import collect
    from collectors.references import save_reference
    from madatasets.stats import summary
    for tier, mean in (("random", -24.0), ("expert", -12.0)):
        save_reference(SCENARIO, tier, {"mean": mean, "stderr": 0.1, "episodes": 1000, "scenario_version": 0},
                       path=reference_file)
    store = tmp_path / "store"
    collect(SCENARIO, "random", steps=100, store=store, version=0, progress=False)
    # A new zoo version re-measures its expert; the dataset made before keeps what it was made with.
    save_reference(SCENARIO, "expert", {"mean": -6.0, "stderr": 0.1, "episodes": 1000, "scenario_version": 0,
                                        "zoo_version": 1}, path=reference_file)
    collect(SCENARIO, "random", steps=100, store=store, version=1, progress=False)
    old, new = madatasets.load(f"{SCENARIO}/random-v0", store), madatasets.load(f"{SCENARIO}/random-v1", store)
    assert old.card["reference_scores"]["expert"] == -12.0 and new.card["reference_scores"]["expert"] == -6.0
    assert new.card["reference_details"]["expert"]["zoo_version"] == 1
    assert _normalized(old.card["reference_scores"], -18.0) == pytest.approx(50.0)
    assert _normalized(new.card["reference_scores"], -18.0) == pytest.approx(100 * 6 / 18)
    mean = old.episode_returns().mean()
    assert float(summary(old)["normalized"]) == pytest.approx(100 * (mean + 24) / 12, abs=0.05)


def test_zoo_tiers_refuse_a_dataset_version_other_than_the_zoo_version(tmp_path, one_torch_thread):
    from collectors.collect import collect
    zoo = tmp_path / "zoo"
    train_behavior(tiny(), zoo_dir=zoo, progress=False)
    with pytest.raises(MadataError, match=f"-v{ZOO_VERSION}; got --version 0"):
        collect(SCENARIO, "medium", steps=100, store=tmp_path / "store", zoo=zoo, version=0, progress=False)


@pytest.mark.parametrize("scenario", ["mpe-spread-3", "mpe-world-4v2"])
def test_shared_actor_exports_to_the_same_joint_function(scenario, one_torch_thread):
    import torch
    from collectors.behavior import MLPActor
    config = default_config(scenario, algorithm="td3", steps=300, hidden=(16, 16), learning_starts=100, eval_every=100,
                            batch_size=32, selection_episodes=0, actor="shared")
    checkpoints, env, trainer = run_td3(config, evaluate=False, progress=False)
    states = torch.randn(9, env.observation_space.shape[0])
    with torch.no_grad():
        expected = trainer.actor(states).numpy()
    exported = MLPActor(*trainer.actor.numpy_layers())
    np.testing.assert_allclose(exported(states.numpy()), expected, atol=1e-5)
    # Decentralized: agent 0's action does not move when another agent's observation does.
    spec = get_spec(scenario)
    moved = states.clone()
    moved[:, spec.obs_sizes[0]:2 * spec.obs_sizes[0]] += 1.0
    first = spec.act_sizes[0]
    np.testing.assert_array_equal(exported(moved.numpy())[:, :first], exported(states.numpy())[:, :first])
    assert checkpoints[-1].actor.input_size == spec.state_dim


def test_shared_actor_is_refused_where_the_state_is_not_the_observations():
    with pytest.raises(MadataError, match="shared actor"):
        run_td3(default_config("hopper-3x1", steps=300, learning_starts=100, eval_every=100, actor="shared"),
                evaluate=False, progress=False)


def test_an_older_dataset_version_is_made_with_the_zoo_of_that_version(tmp_path, monkeypatch):
    import json
    from collectors import zoo_index
    for folder, version in (("zoo", 1), ("zoo-v0", 0)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "index.json").write_text(json.dumps({"format": 1, "zoo_version": version,
                                                                  "scenarios": {}}))
    monkeypatch.setattr(zoo_index, "ZOO_DIR", tmp_path / "zoo")
    assert zoo_index.zoo_dir_for_version(1) == tmp_path / "zoo"
    assert zoo_index.zoo_dir_for_version(0) == tmp_path / "zoo-v0"
    with pytest.raises(MadataError, match="shipped zoo versions: 0, 1"):
        zoo_index.zoo_dir_for_version(7)


def test_a_card_never_takes_another_zoo_versions_expert_reference(reference_file):
    from madatasets.spec import record_reference
    spec = get_spec(SCENARIO)
    record_reference(SCENARIO, "random", {"mean": -25.0, "scenario_version": spec.version}, reference_file)
    record_reference(SCENARIO, "expert", {"mean": -19.0, "scenario_version": spec.version}, reference_file)  # zoo 0
    scores, details = spec.references_for(0)
    assert scores == {"random": -25.0, "expert": -19.0} and set(details) == {"random", "expert"}
    scores, details = spec.references_for(1)
    assert scores == {"random": -25.0} and set(details) == {"random"}
    record_reference(SCENARIO, "expert", {"mean": -10.3, "scenario_version": spec.version, "zoo_version": 1},
                     reference_file)
    assert spec.references_for(1)[0] == {"random": -25.0, "expert": -10.3}
    # The zoo-v0 expert is archived, not lost: -v0 datasets and their normalized scores keep it.
    assert spec.references_for(0)[0] == {"random": -25.0, "expert": -19.0}
    assert spec.reference_scores == {"random": -25.0, "expert": -10.3}
    from madatasets.scores import reference_scores
    assert reference_scores(f"{SCENARIO}/expert-v0")["expert"] == -19.0
    assert reference_scores(f"{SCENARIO}/expert-v1")["expert"] == -10.3
    assert reference_scores(SCENARIO)["expert"] == -10.3
