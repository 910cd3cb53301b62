"""The SMAX zoo: a tiny JAX MAPPO run that resumes bit for bit, roles, exported actors, and the
zoo tiers collected from them (masks respected, byte-identical for a seed).

One tiny configuration (4 environments x 8 steps per update) on smax-3m keeps the
number of compiled programs small; the real budgets are documented commands (docs/smax.md).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("jaxmarl")

from madatasets.smax import single_thread_flags  # noqa: E402

single_thread_flags()

from collectors.collect import collect  # noqa: E402
from collectors.smax_mappo import SmaxPPOConfig  # noqa: E402
from collectors.smax_zoo import choose_roles, train_smax, train_smax_behavior  # noqa: E402
from collectors.zoo_index import ZOO_VERSION, load_zoo_actor  # noqa: E402
from madatasets.errors import ChecksumError, MadataError  # noqa: E402
from madatasets.store import Store  # noqa: E402

TINY = dict(n_envs=4, n_steps=8, hidden=(16, 16), n_epochs=2, minibatches=2)
PER_UPDATE = 32


def test_a_stopped_and_resumed_run_equals_one_run_straight_through(tmp_path):
    config = SmaxPPOConfig(**TINY)
    schedule = dict(eval_every=64, eval_episodes=4, dense_until=0)
    straight = train_smax("smax-3m", PER_UPDATE * 4, 1, config, tmp_path / "a", **schedule)
    train_smax("smax-3m", PER_UPDATE * 4, 1, config, tmp_path / "b", stop_at=PER_UPDATE * 3, **schedule)
    with pytest.raises(MadataError, match="--resume"):
        train_smax("smax-3m", PER_UPDATE * 4, 1, config, tmp_path / "b", **schedule)
    resumed = train_smax("smax-3m", PER_UPDATE * 4, 1, config, tmp_path / "b", resume=True, **schedule)
    assert [s["step"] for s in straight["snapshots"]] == [s["step"] for s in resumed["snapshots"]] == [0, 64, 128]
    assert [s["actor"].checksum for s in straight["snapshots"]] == [s["actor"].checksum for s in resumed["snapshots"]]
    with pytest.raises(MadataError, match="other settings"):
        train_smax("smax-3m", PER_UPDATE * 4, 1, SmaxPPOConfig(**(TINY | {"n_epochs": 3})), tmp_path / "b",
                   resume=True, **schedule)


def test_roles_expert_by_win_rate_medium_at_a_third_of_the_return_span():
    snapshots = [{"step": 0, "eval_mean": 0.1, "win_rate": 0.0, "before_updates": True},
                 {"step": 1, "eval_mean": 0.3, "win_rate": 0.0, "before_updates": False},
                 {"step": 2, "eval_mean": 0.8, "win_rate": 0.2, "before_updates": False},
                 {"step": 3, "eval_mean": 1.9, "win_rate": 0.9, "before_updates": False},
                 {"step": 4, "eval_mean": 2.0, "win_rate": 0.8, "before_updates": False}]
    # expert: the best win rate (not the best return); medium: first return >= 0.1 + (1.9 - 0.1) / 3.
    assert choose_roles(snapshots, random_reference=0.1) == {"early": 1, "medium": 2, "expert": 3}


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("smax-zoo")
    entry = train_smax_behavior("smax-3m", PER_UPDATE * 4, 0, zoo_dir=root / "zoo", run_dir=root / "run",
                                overrides=TINY, eval_every=32, eval_episodes=4, final_episodes=8,
                                selection_episodes=8)
    return root, entry


def test_expert_is_the_best_re_evaluated_of_the_best_periodic_snapshots(tiny_zoo):
    _, entry = tiny_zoo
    selection = entry["expert_selection"]
    trained = [c for c in entry["checkpoints"] if not c["before_updates"]]
    candidates = selection["candidates"]
    # The candidates are the best periodic snapshots, best first, re-evaluated on their own seeds.
    assert selection["episodes"] == 8 and selection["seed"] not in (entry["policies"]["expert"]["eval_seed"],)
    assert len(candidates) == min(5, len(trained))
    periodic = sorted(((c["win_rate"], c["eval_mean"]) for c in trained), reverse=True)[:len(candidates)]
    assert [c["periodic_win_rate"] for c in candidates] == [p[0] for p in periodic]
    best = max(candidates, key=lambda c: (c["win_rate"], c["return_mean"]))
    assert entry["policies"]["expert"]["step"] == best["step"]


def test_training_writes_three_checked_policies_into_the_zoo(tiny_zoo, tmp_path):
    import shutil
    root, entry = tiny_zoo
    index = json.loads((root / "zoo" / "index.json").read_text())
    assert index["zoo_version"] == ZOO_VERSION and index["scenarios"]["smax-3m"]["algorithm"] == "smax-mappo"
    for role in ("early", "medium", "expert"):
        actor, info = load_zoo_actor("smax-3m", role, root / "zoo")
        assert info["episodes"] == 8 and 0.0 <= info["win_rate"] <= 1.0 and actor.checksum == info["sha256"]
    # A policy file that is not the one the index names is refused (on a copy of the zoo).
    copy = shutil.copytree(root / "zoo", tmp_path / "zoo")
    (copy / entry["policies"]["expert"]["file"]).write_bytes((copy / entry["policies"]["early"]["file"]).read_bytes())
    if entry["policies"]["expert"]["sha256"] != entry["policies"]["early"]["sha256"]:
        with pytest.raises(ChecksumError):
            load_zoo_actor("smax-3m", "expert", copy)


def test_zoo_tiers_sample_legal_actions_and_are_byte_identical_for_a_seed(tiny_zoo, tmp_path):
    root, _ = tiny_zoo
    store = Store(tmp_path / "store", create=True)
    collect("smax-3m", "medium-expert", steps=300, seed=5, store=store, progress=False, zoo=root / "zoo")
    dataset_id = f"smax-3m/medium-expert-v{ZOO_VERSION}"
    card = store.card(dataset_id)
    _, arrays = store.read_arrays(dataset_id)
    assert card["total_steps"] == 300 and card["zoo_version"] == ZOO_VERSION
    rows = np.arange(len(arrays["actions"]))[:, None]
    agents = np.arange(arrays["actions"].shape[1])[None, :]
    assert arrays["legal_actions"][rows, agents, arrays["actions"]].all()     # every action was legal
    # Half the steps from each part: behaviour ids 0 (medium) then 1 (expert).
    assert (arrays["behavior_ids"][:150] == 0).all() and (arrays["behavior_ids"][150:] == 1).all()
    assert [p["id"] for p in card["behavior_policies"]] == ["zoo/smax-3m/medium", "zoo/smax-3m/expert"]
    again = Store(tmp_path / "again", create=True)
    collect("smax-3m", "medium-expert", steps=300, seed=5, store=again, progress=False, zoo=root / "zoo")
    assert store.card(dataset_id)["checksums"] == again.card(dataset_id)["checksums"]
    with pytest.raises(MadataError, match="SMAX zoo of version"):
        collect("smax-3m", "expert", steps=50, seed=0, store=store, progress=False, zoo=root / "zoo", version=0)


def test_mixed_tier_holds_one_dataset_per_ally_with_its_roles(tiny_zoo, tmp_path):
    from collectors.tiers import MIXED_PARTS, mixed_assignment
    root, _ = tiny_zoo
    store = Store(tmp_path / "store", create=True)
    collect("smax-3m", "mixed", steps=200, seed=3, store=store, progress=False, zoo=root / "zoo")
    dataset_id = f"smax-3m/mixed-v{ZOO_VERSION}"
    card = store.card(dataset_id)
    _, arrays = store.read_arrays(dataset_id)
    assert card["layout"] == "per-agent" and card["total_steps"] == 3 * 200
    assert [p["id"] for p in card["behavior_policies"]] == [f"zoo/smax-3m/{r}" for r in ("early", "medium", "expert")]
    for agent in range(3):
        prefix = f"agent_{agent}/"
        ids, actions, legal = (arrays[prefix + n] for n in ("behavior_ids", "actions", "legal_actions"))
        assert len(actions) == 200 and arrays[prefix + "episode_ends"][-1] == 200
        rows, allies = np.arange(len(actions))[:, None], np.arange(3)[None, :]
        assert legal[rows, allies, actions].all()
        # Parts in order, each row's behaviour ids the part's roles: B_i's own ally differs from the others.
        start = 0
        for (part, fraction), count in zip(MIXED_PARTS, (40, 70, 70, 20)):
            assert round(fraction * 200) == count
            assert (ids[start:start + count] == mixed_assignment(part, agent, 3)).all(), (agent, part)
            start += count
    # The ally's own role differs between B_0 and B_1 where the part says "self".
    assert (arrays["agent_0/behavior_ids"][40:110, 0] == 1).all() and (arrays["agent_1/behavior_ids"][40:110, 0] == 2).all()
    # The decentralized view: ally 1's own B_1, masks included; the joint discrete baselines refuse it.
    import madatasets
    from baselines.core.discrete import DiscreteReplay
    dataset = madatasets.load(dataset_id, store=store)
    own = dataset.agent(1)
    np.testing.assert_array_equal(own.actions, arrays["agent_1/actions"][:, 1])
    assert own.legal_actions.shape == (200, 8) and own.legal_actions[np.arange(200), own.actions].all()
    with pytest.raises(MadataError, match="one dataset per agent"):
        DiscreteReplay(dataset)


def test_medium_replay_re_runs_the_training_to_medium_and_pools_extra_seeds(tiny_zoo, tmp_path):
    import shutil
    from collectors.smax_medium_replay import regenerate
    from collectors.smax_zoo import train_replay_run
    root, entry = tiny_zoo
    zoo = shutil.copytree(root / "zoo", tmp_path / "zoo")
    main = entry["medium_replay"]["main"]
    assert main["stop_step"] == entry["policies"]["medium"]["step"] and main["medium_sha256"] == \
        entry["policies"]["medium"]["sha256"]
    extra = train_replay_run("smax-3m", 7, zoo)
    assert extra["eval_mean"] >= extra["target"] and extra["stop_step"] % PER_UPDATE == 0
    with pytest.raises(MadataError, match="already part"):
        train_replay_run("smax-3m", 7, zoo)
    episodes, report = regenerate("smax-3m", zoo)
    assert report["reproduced"] and [r["seed"] for r in report["runs"]] == [0, 7]
    # Every executed transition, once: the runs' stop steps add up to the tier's size.
    assert sum(len(e["actions"]) for e in episodes) == main["stop_step"] + extra["stop_step"]
    for episode in episodes:
        assert len(episode["observations"]) == len(episode["actions"]) + 1
        assert not (episode["budget_cut"] and episode["terminated"])   # cut episodes are truncations
    store = Store(tmp_path / "store", create=True)
    collect("smax-3m", "medium-replay", steps=1, seed=0, store=store, progress=False, zoo=zoo)
    card = store.card(f"smax-3m/medium-replay-v{ZOO_VERSION}")
    assert card["total_steps"] == main["stop_step"] + extra["stop_step"]
    assert [p["id"] for p in card["behavior_policies"]] == ["smax-mappo-training-seed0", "smax-mappo-training-seed7"]
