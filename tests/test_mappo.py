"""MAPPO (collectors/mappo.py): resumable bit for bit, refused where it does not apply, regenerates medium-replay."""

from __future__ import annotations

import numpy as np
import pytest

from collectors.behavior import default_config, read_zoo_index, train_behavior
from collectors.medium_replay import regenerate_medium_replay
from collectors.mappo import ValueNorm
from collectors.train_mappo import run_mappo
from madatasets.errors import MadataError

SCENARIO = "mpe-spread-3"


def tiny(**overrides):
    # 4 copies x 2 episodes x 25 steps = 200 steps per rollout.
    values = dict(steps=1_000, hidden=(16, 16), n_envs=4, n_steps=200, n_epochs=2, minibatches=2, eval_every=400,
                  eval_episodes=2, selection_episodes=0)
    return default_config(SCENARIO, algorithm="mappo", **(values | overrides))


def checksums(checkpoints):
    return [(c.step, c.actor.checksum) for c in checkpoints]


def test_interrupted_and_resumed_mappo_run_gives_the_same_actors_as_a_straight_run(tmp_path, one_torch_thread):
    config = tiny()
    straight, _, trainer = run_mappo(config, evaluate=False, progress=False)
    first, _, _ = run_mappo(config, evaluate=False, progress=False, run_dir=tmp_path, stop_at=400,
                            save_every_seconds=0)
    assert len(first) < len(straight)
    resumed, _, again = run_mappo(config, evaluate=False, progress=False, run_dir=tmp_path, resume=True)
    assert checksums(resumed) == checksums(straight)
    assert again.rollout_chain == trainer.rollout_chain
    assert again.state.updates == trainer.state.updates == 5 * 2 * 2
    with pytest.raises(MadataError, match="another configuration"):
        run_mappo(tiny(entropy_coef=0.0), evaluate=False, progress=False, run_dir=tmp_path, resume=True)
    # choosing the roles after training is not training: a finished run may be re-selected otherwise
    reselected, _, _ = run_mappo(tiny(selection_episodes=7, selection_candidates=2), evaluate=False,
                                 progress=False, run_dir=tmp_path, resume=True)
    assert checksums(reselected) == checksums(straight)


def test_mappo_is_refused_off_mpe_and_with_a_rollout_that_cuts_episodes():
    with pytest.raises(MadataError, match="never end early"):
        default_config("hopper-3x1", algorithm="mappo", steps=1_000_000)
    with pytest.raises(MadataError, match="multiple of n_envs"):
        tiny(n_steps=210)


def test_mappo_zoo_entry_regenerates_its_medium_replay(tmp_path, one_torch_thread):
    entry = train_behavior(tiny(final_eval_episodes=2), zoo_dir=tmp_path, progress=False, run_dir=tmp_path / "run")
    assert read_zoo_index(tmp_path)["scenarios"][SCENARIO]["algorithm"] == "mappo"
    episodes, report = regenerate_medium_replay(SCENARIO, zoo_dir=tmp_path, progress=False)
    assert report["reproduced"], report
    assert sum(len(e["actions"]) for e in episodes) == entry["medium_replay"]["steps"]
    assert all(len(e["actions"]) == 25 for e in episodes)
    from collectors.collect import collect
    from madatasets.store import Store
    collect(SCENARIO, "medium-replay", steps=10_000, store=tmp_path / "store", zoo=tmp_path, progress=False)
    card = Store(tmp_path / "store").card(f"{SCENARIO}/medium-replay-v1")
    assert card["total_steps"] == entry["medium_replay"]["steps"]
    assert [p["id"] for p in card["behavior_policies"]] == ["mappo-training-exploration"]
    assert "Gaussian" in card["behavior_policies"][0]["description"]


def test_value_norm_matches_the_batch_statistics():
    norm, values = ValueNorm(), np.random.default_rng(0).normal(3.0, 2.0, 1000)
    norm.update(values[:300])
    norm.update(values[300:])
    assert norm.mean == pytest.approx(values.mean())
    assert norm.std == pytest.approx(values.std())


def test_ppo_with_the_joint_actor_trains_swimmer_and_exports_a_state_actor(one_torch_thread):
    from madatasets.scenarios import get_spec
    config = default_config("swimmer-2x1", steps=4_000, hidden=(16, 16), n_envs=2, n_steps=2_000, n_epochs=1,
                            minibatches=2, eval_every=2_000, eval_episodes=1)
    checkpoints, _, trainer = run_mappo(config, evaluate=True, progress=False)
    spec = get_spec("swimmer-2x1")
    assert [c.step for c in checkpoints] == [0, 2_000, 4_000]
    assert checkpoints[-1].actor.input_size == spec.state_dim
    assert checkpoints[-1].actor.output_size == sum(spec.act_sizes)
    assert all(np.isfinite(c.eval_mean) for c in checkpoints)
    assert checkpoints[-1].actor.checksum != checkpoints[0].actor.checksum


def test_annealed_learning_rate_falls_linearly_and_resumes_bit_for_bit(tmp_path, one_torch_thread):
    config = tiny(anneal_steps=800)
    straight, _, trainer = run_mappo(config, evaluate=False, progress=False)
    # the last rollout (steps 800-1000) starts where the anneal ends: its update ran at rate 0
    assert trainer.optimizer.param_groups[0]["lr"] == 0.0
    constant, _, _ = run_mappo(tiny(), evaluate=False, progress=False)
    assert checksums(constant)[0] == checksums(straight)[0]        # the same initial actor
    assert checksums(constant)[1:] != checksums(straight)[1:]      # the second update already ran at 3/4
    _, _, first = run_mappo(config, evaluate=False, progress=False, run_dir=tmp_path, stop_at=400,
                            save_every_seconds=0)
    assert first.optimizer.param_groups[0]["lr"] == pytest.approx(first.params.learning_rate * 0.75)
    resumed, _, _ = run_mappo(config, evaluate=False, progress=False, run_dir=tmp_path, resume=True)
    assert checksums(resumed) == checksums(straight)
    with pytest.raises(MadataError, match="anneal_steps applies to algorithm=mappo only"):
        default_config("hopper-3x1", anneal_steps=1000)
