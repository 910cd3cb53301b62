"""Behaviour-policy training, the zoo and reference/normalized scores."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import madatasets.scenarios as scenarios
from collectors.behavior import (ROLES, ZOO_DIR, MLPActor, default_config, export_actor, load_zoo_actor,
                                 read_zoo_index, select_checkpoints, train_behavior)
from collectors.medium_replay import regenerate_medium_replay
from collectors.collect import save_reference
from madatasets.cli import cli
from madatasets.errors import ChecksumError, MadataError
from madatasets.scores import normalized_score

SCENARIO = "mpe-spread-3"


def tiny_config(**overrides):
    values = dict(steps=600, hidden=(16, 16), learning_starts=100, eval_every=200, eval_episodes=2,
                  final_eval_episodes=3, batch_size=32)
    return default_config(SCENARIO, **({"algorithm": "td3"} | values | overrides))


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory):
    zoo = tmp_path_factory.mktemp("zoo")
    entry = train_behavior(tiny_config(), zoo_dir=zoo, progress=False)
    return zoo, entry


def test_tiny_training_writes_loadable_checkpoints_with_returns(tiny_zoo):
    zoo, entry = tiny_zoo
    assert [c["step"] for c in entry["checkpoints"]] == [100, 200, 400, 600]   # warm-up end, then every 200
    assert [c["before_updates"] for c in entry["checkpoints"]] == [True, False, False, False]
    assert all(np.isfinite(c["eval_mean"]) for c in entry["checkpoints"])
    spec = scenarios.get_spec(SCENARIO)
    for role in ROLES:
        actor, info = load_zoo_actor(SCENARIO, role, zoo)
        assert info["episodes"] == 3 and np.isfinite(info["return_mean"]) and info["return_std"] >= 0
        assert info["step"] in (100, 200, 400, 600)
        assert actor.input_size == spec.state_dim and actor.output_size == sum(spec.act_sizes)
        out = actor(np.zeros((4, spec.state_dim), dtype=np.float32))
        assert out.shape == (4, 15) and out.dtype == np.float32 and np.all(np.abs(out) <= 1)
    steps = entry["policies"]
    assert steps["early"]["step"] <= steps["medium"]["step"] <= steps["expert"]["step"]
    assert entry["medium_replay"]["stop_step"] == steps["medium"]["step"]
    assert entry["medium_replay"]["steps"] == steps["medium"]["step"]
    assert read_zoo_index(zoo)["scenarios"][SCENARIO]["command"].startswith("madata train-behavior")


def test_medium_replay_rerun_reproduces_the_zoo_checksums(tiny_zoo):
    zoo, entry = tiny_zoo
    episodes, report = regenerate_medium_replay(SCENARIO, zoo, progress=False)
    assert report["reproduced"], report
    assert sum(len(e["actions"]) for e in episodes) == entry["medium_replay"]["steps"]


def test_tiny_ppo_training_keeps_clip_actors_and_reproduces_its_replay(tmp_path):
    config = tiny_config(algorithm="ppo", learning_starts=0, n_steps=200, batch_size=50, n_epochs=2)
    entry = train_behavior(config, zoo_dir=tmp_path, progress=False)
    assert [c["before_updates"] for c in entry["checkpoints"]] == [True, False, False]   # 200 = first rollout
    for role in ROLES:
        actor, _ = load_zoo_actor(SCENARIO, role, tmp_path)
        assert actor.output == "clip"
    assert entry["policies"]["expert"]["step"] in (400, 600)
    episodes, report = regenerate_medium_replay(SCENARIO, tmp_path, progress=False)
    assert report["reproduced"], report
    assert np.all(np.concatenate([e["behavior_ids"] for e in episodes]) == 1)   # PPO has no random warm-up


def test_corrupt_zoo_file_is_detected(tiny_zoo, tmp_path):
    zoo, _ = tiny_zoo
    copy = tmp_path / "zoo"
    import shutil
    shutil.copytree(zoo, copy)
    actor = MLPActor.load(copy / SCENARIO / "expert.npz")
    actor.biases[-1] = actor.biases[-1] + 1e-3
    actor.save(copy / SCENARIO / "expert.npz")
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        load_zoo_actor(SCENARIO, "expert", copy)
    with pytest.raises(MadataError, match="train-behavior swimmer-2x1"):
        load_zoo_actor("swimmer-2x1", "expert", copy)


def test_select_checkpoints_follows_the_documented_rule():
    # random -30, best -10 (index 3): medium is the first >= -30 + 20/3 = -23.3, early the one before.
    assert select_checkpoints([-30, -25, -20, -10, -12], -30.0) == {"early": 1, "medium": 2, "expert": 3}
    # a later, worse checkpoint never becomes medium; medium may be the first checkpoint.
    assert select_checkpoints([-5, -40, -4], -30.0) == {"early": 0, "medium": 0, "expert": 2}
    # a run that never beats random: medium is the first checkpoint as good as expert.
    assert select_checkpoints([-40, -35, -36], -30.0) == {"early": 0, "medium": 1, "expert": 1}
    # the untrained end-of-warm-up snapshot is never medium or expert, but can be early.
    assert select_checkpoints([-1, -5, -40, -4], -30.0, [True, False, False, False]) == {
        "early": 0, "medium": 1, "expert": 3}


def test_medium_check_skips_a_checkpoint_whose_fresh_episodes_fall_short():
    # target -23.3: index 1 reached it only on its lucky periodic episodes (fresh: -27), so the
    # check moves medium to index 2; only the candidates the periodic figures nominate are checked.
    fresh = {1: -27.0, 2: -21.0, 3: -10.0}
    checked = []

    def confirm(k):
        checked.append(k)
        return fresh[k]
    assert select_checkpoints([-30, -23, -20, -10], -30.0, confirm=confirm) == {"early": 1, "medium": 2, "expert": 3}
    assert checked == [1, 2]
    # no candidate confirms: the periodic rule's choice stands.
    assert select_checkpoints([-30, -23, -20, -10], -30.0, confirm=lambda k: -29.0)["medium"] == 1


@pytest.mark.parametrize("algorithm", ["td3", "sac", "ppo"])
def test_exported_actor_matches_the_sb3_deterministic_policy(algorithm, tmp_path):
    import torch
    from stable_baselines3 import PPO, SAC, TD3
    from collectors.behavior import JointEnv
    torch.set_num_threads(1)
    env = JointEnv("halfcheetah-2x3", seed=0)
    if algorithm == "ppo":
        model = PPO("MlpPolicy", env, policy_kwargs={"net_arch": [32, 32], "activation_fn": torch.nn.ReLU},
                    seed=1, device="cpu", n_steps=64, batch_size=64)
        with torch.no_grad():   # a mean outside [-1, 1] so that the clip is exercised
            model.policy.action_net.bias.fill_(0.9)
    else:
        model = {"td3": TD3, "sac": SAC}[algorithm]("MlpPolicy", env, policy_kwargs={"net_arch": [32, 32]},
                                                   seed=1, device="cpu", buffer_size=10)
    states = np.random.default_rng(0).normal(size=(16, env.spec.state_dim)).astype(np.float32)
    expected, _ = model.predict(states, deterministic=True)
    actor = export_actor(model, algorithm)
    np.testing.assert_allclose(actor(states), expected, atol=1e-5)
    actor.save(tmp_path / "actor.npz")
    reloaded = MLPActor.load(tmp_path / "actor.npz")
    assert reloaded.output == actor.output and reloaded.checksum == actor.checksum
    np.testing.assert_array_equal(reloaded(states), actor(states))


def test_ppo_config_has_no_warm_up_and_its_first_rollout_is_untrained():
    from collectors.behavior import first_update_step
    config = default_config("halfcheetah-2x3", algorithm="ppo")
    assert config.algorithm == "ppo" and config.learning_starts == 0
    assert first_update_step(config) == config.n_steps
    with pytest.raises(MadataError, match="learning_starts must be 0"):
        default_config("halfcheetah-2x3", algorithm="ppo", learning_starts=100)


def test_train_behavior_cli_rejects_a_budget_too_small():
    result = CliRunner().invoke(cli, ["train-behavior", SCENARIO, "--steps", "100"])
    assert result.exit_code == 2
    assert "at least two checkpoint intervals" in result.output


def test_committed_zoo_checksums_and_sizes_match():
    index = read_zoo_index(ZOO_DIR)
    assert index["scenarios"], "the shipped zoo has no trained scenario"
    total = 0
    for scenario, entry in index["scenarios"].items():
        for role in ROLES:
            load_zoo_actor(scenario, role)  # raises ChecksumError on mismatch
            size = (ZOO_DIR / entry["policies"][role]["file"]).stat().st_size
            assert size < 2 * 1024 * 1024
            total += size
        assert entry["policies"]["expert"]["episodes"] >= 100
    assert total < 20 * 1024 * 1024


def test_normalized_score_maps_random_to_0_and_expert_to_100(reference_file):
    with pytest.raises(MadataError, match="no expert reference"):
        save_reference(SCENARIO, "random", {"mean": -24.0, "scenario_version": 0}, path=reference_file)
        normalized_score(SCENARIO, -24.0)
    save_reference(SCENARIO, "expert", {"mean": -12.0, "scenario_version": 0}, path=reference_file)
    assert json.loads(reference_file.read_text())[SCENARIO].keys() == {"random", "expert"}
    assert normalized_score(SCENARIO, -24.0) == pytest.approx(0.0)
    assert normalized_score(f"{SCENARIO}/expert-v0", -12.0) == pytest.approx(100.0)
    np.testing.assert_allclose(normalized_score(SCENARIO, np.array([-18.0, -6.0])), [50.0, 150.0])


def test_shipped_reference_scores_normalize_random_to_0_and_expert_to_100():
    measured = [name for name in scenarios.scenario_names()
                if {"random", "expert"} <= scenarios.get_spec(name).reference_scores.keys()]
    assert measured, "no scenario has both reference scores yet"
    for name in measured:
        references = scenarios.get_spec(name).reference_scores
        assert normalized_score(name, references["random"]) == pytest.approx(0.0)
        assert normalized_score(name, references["expert"]) == pytest.approx(100.0)


WRITE_ENTRIES = """
import sys
from pathlib import Path
from collectors.zoo_index import update_zoo_index
for i in range(150):
    update_zoo_index(Path(sys.argv[1]), f"scenario-{sys.argv[2]}-{i}", {"worker": int(sys.argv[2])})
"""


def test_concurrent_trainings_never_lose_each_others_index_entries(tmp_path):
    # Two trainings finishing together each rewrite index.json; without the lock one of the
    # read-modify-writes drops the other's entry. Separate interpreters, as real trainings are.
    import subprocess
    import sys
    from collectors.zoo_index import read_zoo_index
    workers = [subprocess.Popen([sys.executable, "-c", WRITE_ENTRIES, str(tmp_path), str(k)]) for k in range(4)]
    assert [process.wait(timeout=120) for process in workers] == [0, 0, 0, 0]
    assert len(read_zoo_index(tmp_path)["scenarios"]) == 600
