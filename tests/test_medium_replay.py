"""medium-replay pooled over seeds (collectors/medium_replay.py): an extra run stops at its own
medium checkpoint, is recorded in the zoo, and is regenerated bit for bit after the zoo's run."""

from __future__ import annotations

import json

import pytest

from collectors.behavior import default_config, read_zoo_index, train_behavior
from collectors.medium_replay import regenerate_medium_replay, train_replay_run
from madatasets.errors import MadataError

SCENARIO = "mpe-spread-3"


def tiny_zoo(tmp_path):
    config = default_config(SCENARIO, algorithm="mappo", steps=1_200, hidden=(16, 16), n_envs=4, n_steps=200,
                            n_epochs=2, minibatches=2, eval_every=400, eval_episodes=2, selection_episodes=0,
                            final_eval_episodes=2)
    train_behavior(config, zoo_dir=tmp_path, progress=False, run_dir=tmp_path / "run")
    return tmp_path


def set_target(zoo, value):
    """Make the medium target `value` (random reference and expert evaluation both at it)."""
    path = zoo / "index.json"
    index = json.loads(path.read_text())
    entry = index["scenarios"][SCENARIO]
    entry["random_reference"] = value
    entry["policies"]["expert"]["periodic_eval_mean"] = value
    path.write_text(json.dumps(index))


def test_an_extra_seed_stops_at_its_medium_checkpoint_and_is_regenerated_after_the_zoos_run(tmp_path,
                                                                                           one_torch_thread):
    zoo = tiny_zoo(tmp_path)
    set_target(zoo, -1e9)                     # every trained checkpoint is "medium": stop at the first
    extra = train_replay_run(SCENARIO, seed=3, zoo_dir=zoo, progress=False)
    assert extra["seed"] == 3 and extra["stop_step"] == 400
    entry = read_zoo_index(zoo)["scenarios"][SCENARIO]
    assert entry["medium_replay"]["extra_runs"] == [extra]
    assert entry["medium_replay"]["total_steps"] == entry["medium_replay"]["stop_step"] + 400
    episodes, report = regenerate_medium_replay(SCENARIO, zoo, progress=False)
    assert report["reproduced"], report
    assert [r["seed"] for r in report["runs"]] == [0, 3]
    assert sum(len(e["actions"]) for e in episodes) == entry["medium_replay"]["total_steps"]
    with pytest.raises(MadataError, match="already has the run of seed 3"):
        train_replay_run(SCENARIO, seed=3, zoo_dir=zoo, progress=False)


def test_an_extra_seed_passes_the_entrys_medium_check_on_fresh_episodes(tmp_path, one_torch_thread, monkeypatch):
    # An entry whose config sets medium_check_episodes (world's) chose its medium with that check;
    # an extra seed must pass it too: the first trained snapshot (step 400) fails it here, 800 passes.
    import collectors.medium_replay as medium_replay
    zoo = tiny_zoo(tmp_path)
    set_target(zoo, -1e9)
    path = zoo / "index.json"
    index = json.loads(path.read_text())
    index["scenarios"][SCENARIO]["config"]["medium_check_episodes"] = 2
    path.write_text(json.dumps(index))
    fresh = iter([-2e9, -5.0])
    checked = []

    def check(config, actor):
        checked.append((config.medium_check_episodes, actor.checksum))
        return next(fresh)
    monkeypatch.setattr(medium_replay, "medium_check_mean", check)
    extra = train_replay_run(SCENARIO, seed=3, zoo_dir=zoo, progress=False)
    assert extra["stop_step"] == 800 and extra["medium_check_mean"] == -5.0
    assert [episodes for episodes, _ in checked] == [2, 2] and checked[1][1] == extra["medium_sha256"]
    episodes, report = regenerate_medium_replay(SCENARIO, zoo, progress=False)
    assert report["reproduced"], report


def test_a_seed_that_never_reaches_medium_adds_nothing(tmp_path, one_torch_thread):
    zoo = tiny_zoo(tmp_path)
    set_target(zoo, 1e9)
    before = (zoo / "index.json").read_text()
    with pytest.raises(MadataError, match="did not reach the medium target"):
        train_replay_run(SCENARIO, seed=1, zoo_dir=zoo, progress=False, max_steps=800)
    assert (zoo / "index.json").read_text() == before


def test_the_cli_refuses_a_seed_already_in_the_tier_and_flags_that_do_not_apply(tmp_path, capsys, one_torch_thread):
    from tests.cli_runner import one_line_error, run_cli
    zoo = tiny_zoo(tmp_path)
    code, _, err = run_cli(capsys, "train-behavior", SCENARIO, "--for-medium-replay", "--seed", "0", "--zoo", str(zoo))
    one_line_error(code, err, "already has the run of seed 0")
    code, _, err = run_cli(capsys, "train-behavior", SCENARIO, "--for-medium-replay", "--algorithm", "td3",
                           "--zoo", str(zoo))
    one_line_error(code, err, "--for-medium-replay takes the zoo entry's own configuration")


def test_a_td3_extra_seed_never_stops_at_its_untrained_warm_up_snapshot(tmp_path, one_torch_thread):
    # On Ant the end-of-warm-up actor stands still above the medium target; only trained snapshots count.
    config = default_config(SCENARIO, algorithm="td3", steps=400, hidden=(16, 16), learning_starts=100,
                            eval_every=200, eval_episodes=2, final_eval_episodes=2, batch_size=32,
                            selection_episodes=0)
    train_behavior(config, zoo_dir=tmp_path, progress=False)
    set_target(tmp_path, -1e9)
    extra = train_replay_run(SCENARIO, seed=2, zoo_dir=tmp_path, progress=False)
    assert extra["stop_step"] == 200                     # the first trained snapshot, not step 100
    episodes, report = regenerate_medium_replay(SCENARIO, tmp_path, progress=False)
    assert report["reproduced"], report
    assert sum(len(e["actions"]) for e in episodes) == read_zoo_index(tmp_path)["scenarios"][SCENARIO][
        "medium_replay"]["total_steps"]
