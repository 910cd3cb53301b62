"""`madata import minari`: tiny real Minari datasets written by minari's own DataCollector
(HalfCheetah-v5, Hopper-v5, Walker2d-v5 with seeded random actions), converted into the
MaMuJoCo scenarios; the state-to-observation mapping checked against the environments."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

import madatasets
from cli_runner import one_line_error, run_cli
from madatasets.hub.importers.minari import local_actions, local_observations, mapping, on_clip
from madatasets.scenarios import MAMUJOCO_TASKS
from madatasets.store import Store

minari = pytest.importorskip("minari")
import gymnasium  # noqa: E402  (after the skip: minari brings the MuJoCo envs' dependencies)

CHEETAH_ID = "imported/minari-halfcheetah-2x3/expert-v0"


def collect(root: Path, env_id: str, dataset_id: str, episodes: int, steps: int, seed: int = 0,
            **make_kwargs) -> Path:
    """A Minari dataset of `episodes` seeded random episodes of at most `steps` steps; returns its folder."""
    with pytest.MonkeyPatch.context() as patch:
        # Set before the DataCollector exists: it keeps its temporary files there (never in ~/.minari).
        patch.setenv("MINARI_DATASETS_PATH", str(root))
        env = minari.DataCollector(gymnasium.make(env_id, max_episode_steps=steps, **make_kwargs))
        env.action_space.seed(seed)
        for k in range(episodes):
            env.reset(seed=seed + k)        # episode k starts from seed + k (the replay test relies on it)
            while True:
                *_, terminated, truncated, _ = env.step(env.action_space.sample())
                if terminated or truncated:
                    break
        references = {"ref_min_score": -300.0, "ref_max_score": 5000.0} if "cheetah" in dataset_id else {}
        env.create_dataset(dataset_id, algorithm_name="random", description="madata test fixture", **references)
        env.close()
    return root / dataset_id


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("minari")
    return {"root": root,
            "cheetah": collect(root, "HalfCheetah-v5", "test/halfcheetah/expert-v0", episodes=3, steps=8),
            "hopper": collect(root, "Hopper-v5", "test/hopper/medium-v0", episodes=3, steps=40, seed=5),
            "walker": collect(root, "Walker2d-v5", "test/walker2d/random-v0", episodes=1, steps=20)}


def minari_episodes(folder: Path) -> list:
    """The episodes as minari's own loader reads them (independent of the importer's h5py reads)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MINARI_DATASETS_PATH", str(folder.parents[2]))
        return list(minari.load_dataset(folder.relative_to(folder.parents[2]).as_posix()).iterate_episodes())


def test_import_round_trips(sources, tmp_path, capsys):
    store = tmp_path / "store"
    code, out, err = run_cli(capsys, "import", "minari", str(sources["cheetah"]), "--scenario", "halfcheetah-2x3",
                             "--store", str(store))
    assert code == 0, err
    assert out.startswith(f"imported {CHEETAH_ID}: 24 steps, 3 episodes") and err == ""
    dataset = madatasets.load(CHEETAH_ID, store)
    episodes = minari_episodes(sources["cheetah"])
    assert dataset.observations.shape == (24, 2, 12) and dataset.actions.shape == (24, 2, 3)
    assert dataset.states.shape == (24, 17) and dataset.final_observations.shape == (3, 2, 12)
    np.testing.assert_array_equal(dataset.episode_ends, [8, 16, 24])
    states = np.concatenate([e.observations[:-1] for e in episodes]).astype(np.float32)
    np.testing.assert_array_equal(dataset.states, states)
    np.testing.assert_array_equal(dataset.final_states,
                                  np.stack([e.observations[-1] for e in episodes]).astype(np.float32))
    actions = np.concatenate([e.actions for e in episodes])
    # HalfCheetah 2x3: agent_0 drives the back leg (joints 0-2), agent_1 the front leg (3-5).
    np.testing.assert_array_equal(dataset.actions.reshape(24, 6), actions)
    rewards = np.concatenate([e.rewards for e in episodes]).astype(np.float32)
    np.testing.assert_array_equal(dataset.rewards, np.stack([rewards, rewards], axis=1))
    assert dataset.truncations[[7, 15, 23]].all() and dataset.truncations.sum() == 6
    assert not dataset.terminations.any()
    np.testing.assert_array_equal(dataset.observations, local_observations(states, "halfcheetah-2x3"))
    card = dataset.card
    assert card["quality"] == "expert" and card["scenario"] == "halfcheetah-2x3" and card["reference_scores"] == {}
    assert card["returns"]["mean"] == pytest.approx(np.mean([e.rewards.sum() for e in episodes]), rel=1e-5)
    provenance = card["provenance"]
    assert provenance["source"] == "minari" and provenance["minari_dataset_id"] == "test/halfcheetah/expert-v0"
    assert provenance["env_spec_id"] == "HalfCheetah-v5" and "single-agent policy" in provenance["note"]
    assert provenance["their_reference_scores"] == {"random": -300.0, "expert": 5000.0}
    digest = hashlib.sha256((sources["cheetah"] / "data" / "main_data.hdf5").read_bytes()).hexdigest()
    assert provenance["original_files"]["data/main_data.hdf5"]["sha256"] == digest
    assert "clipped_velocity_rows" not in provenance
    json.dumps(card)
    code, out, _ = run_cli(capsys, "verify", CHEETAH_ID, "--store", str(store))
    assert code == 0 and f"ok {CHEETAH_ID}" in out


def test_imported_episodes_replay_in_the_scenario(sources, tmp_path):
    """Stepping halfcheetah-2x3 from each episode's seed with the imported actions gives back the
    imported observations, states and rewards: the conversion is the multi-agent view of the same run."""
    from madatasets.hub.importers import run_import
    list(run_import("minari", sources["cheetah"], tmp_path / "store", scenario="halfcheetah-2x3"))
    dataset = madatasets.load(CHEETAH_ID, tmp_path / "store")
    env = madatasets.make("halfcheetah-2x3")
    start = 0
    for k, end in enumerate(dataset.episode_ends):
        obs, state = env.reset_arrays(seed=k)
        for t in range(start, end):
            np.testing.assert_allclose(obs, dataset.observations[t], rtol=0, atol=1e-6)
            np.testing.assert_allclose(state, dataset.states[t], rtol=0, atol=1e-6)
            obs, state, reward, _, _ = env.step_arrays(dataset.actions[t])
            np.testing.assert_allclose(reward, dataset.rewards[t], rtol=0, atol=1e-5)
        np.testing.assert_allclose(obs, dataset.final_observations[k], rtol=0, atol=1e-6)
        start = end
    env.close()


@pytest.mark.parametrize("scenario", list(MAMUJOCO_TASKS))
def test_mapping_matches_what_the_environment_observes(scenario):
    """For states of the real environment, the importer's mapping of the global state is what the
    environment gives each agent, and its action split is gymnasium-robotics' inverse."""
    spec, m = madatasets.get_spec(scenario), mapping(scenario)
    env = madatasets.make(scenario)
    backend = env._backend
    rng = np.random.default_rng(1)
    obs, state = env.reset_arrays(seed=2)
    compared = clipped = 0
    for _ in range(12):
        if on_clip(state[None], scenario) is None or not on_clip(state[None], scenario)[0]:
            np.testing.assert_array_equal(local_observations(state[None], scenario)[0], obs)
            compared += 1
        else:       # Walker2d / Hopper: a velocity past the single-agent observation's clip (docs/hub.md)
            clipped += 1
            assert not np.array_equal(local_observations(state[None], scenario)[0], obs)
        joint = rng.uniform(-1, 1, size=len(m.low)).astype(np.float32)
        split = local_actions(joint[None], scenario)[0]
        back = backend.env.map_local_actions_to_global_action(
            {agent: split[i, :size] for i, (agent, size) in enumerate(zip(backend.team, spec.act_sizes))})
        np.testing.assert_array_equal(back, joint)
        assert not split[~spec.act_mask].any()
        obs, state, _, terminated, truncated = env.step_arrays(split)
        if terminated or truncated:
            obs, state = env.reset_arrays(seed=3)
    env.close()
    assert compared >= 2 and (clipped > 0) == (scenario == "walker2d-2x3")


def test_terminations_and_uneven_observations(sources, tmp_path, capsys):
    code, out, err = run_cli(capsys, "import", "minari", str(sources["hopper"]), "--scenario", "hopper-3x1",
                             "--store", str(tmp_path / "store"))
    assert code == 0, err
    dataset = madatasets.load("imported/minari-hopper-3x1/medium-v0", tmp_path / "store")
    episodes = minari_episodes(sources["hopper"])
    last = dataset.episode_ends - 1
    np.testing.assert_array_equal(dataset.terminations[last, 0], [bool(e.terminations[-1]) for e in episodes])
    np.testing.assert_array_equal(dataset.truncations[last, 0], [bool(e.truncations[-1]) for e in episodes])
    assert dataset.terminations.any()              # random Hopper falls within 40 steps
    assert dataset.observations.shape[1:] == (3, 9) and not dataset.observations[:, [0, 2], 8].any()


def test_clipped_velocities_are_counted_and_said(sources, tmp_path, capsys):
    code, out, err = run_cli(capsys, "import", "minari", str(sources["walker"]), "--scenario", "walker2d-2x3",
                             "--store", str(tmp_path / "store"))
    assert code == 0, err
    card = madatasets.load("imported/minari-walker2d-2x3/random-v0", tmp_path / "store").card
    rows = card["provenance"]["clipped_velocity_rows"]
    assert rows > 0 and f"{rows} of " in card["provenance"]["warning"]
    assert err.startswith("madata: warning: imported/minari-walker2d-2x3/random-v0: ") and len(err.splitlines()) == 1


def _edited(source: Path, into: Path, **metadata_changes) -> Path:
    """A copy of a Minari dataset whose metadata.json (and env_spec) has some fields changed."""
    copy = into / source.name
    shutil.copytree(source, copy)
    path = copy / "data" / "metadata.json"
    metadata = json.loads(path.read_text())
    env_spec = json.loads(metadata["env_spec"])
    for key, value in metadata_changes.items():
        if key.startswith("env_"):
            env_spec[key.removeprefix("env_")] = value
        else:
            metadata[key] = value
    metadata["env_spec"] = json.dumps(env_spec)
    path.write_text(json.dumps(metadata))
    return copy


@pytest.mark.parametrize("case, args, expected", [
    ("cheetah", ["--scenario", "hopper-3x1"],
     "comes from HalfCheetah-v5, scenario hopper-3x1 runs Hopper-v5; pass --scenario halfcheetah-2x3"),
    ("hopper", ["--scenario", "halfcheetah-2x3"],
     "comes from Hopper-v5, scenario halfcheetah-2x3 runs HalfCheetah-v5; pass --scenario hopper-3x1"),
    ("cheetah", ["--scenario", "mpe-spread-3"], "scenario mpe-spread-3 is not a MuJoCo scenario"),
    ("cheetah", ["--scenario", "nope"], "unknown scenario 'nope'"),
    ("cheetah", [], "madata import minari needs --scenario"),
    ("cheetah", ["--scenario", "halfcheetah-2x3", "--quality", "great"], "not a madata quality"),
    ("empty", ["--scenario", "halfcheetah-2x3"], "no Minari dataset"),
    ("v4", ["--scenario", "halfcheetah-2x3"], "comes from HalfCheetah-v4, scenario halfcheetah-2x3 runs "
                                             "HalfCheetah-v5; no madata scenario runs it"),
    ("kwargs", ["--scenario", "halfcheetah-2x3"], "made with non-default ctrl_cost_weight"),
    ("simple", ["--scenario", "halfcheetah-2x3"], "cannot tell the quality from the Minari id"),
    ("no-metadata", ["--scenario", "halfcheetah-2x3"], "metadata.json: missing or not readable JSON"),
    ("bad-hdf5", ["--scenario", "halfcheetah-2x3"], "not a readable HDF5 file"),
    ("wide-state", ["--scenario", "halfcheetah-2x3"], "observations has shape (9, 18); scenario halfcheetah-2x3"),
    ("root", ["--scenario", "halfcheetah-2x3"], "comes from Hopper-v5"),     # checked before writing any
    ("twins", ["--scenario", "halfcheetah-2x3"], "several Minari datasets map to the same id"),
])
def test_refusals_are_one_line(sources, tmp_path, capsys, case, args, expected):
    source = sources.get(case, sources["cheetah"])
    if case == "empty":
        source = tmp_path / "empty"
        source.mkdir()
    elif case == "v4":
        source = _edited(source, tmp_path, env_id="HalfCheetah-v4")
    elif case == "kwargs":
        source = _edited(source, tmp_path, env_kwargs={"ctrl_cost_weight": 0.5, "render_mode": None})
    elif case == "simple":
        source = _edited(source, tmp_path, dataset_id="test/halfcheetah/simple-v0")
    elif case == "no-metadata":
        source = _edited(source, tmp_path)
        (source / "data" / "metadata.json").unlink()
    elif case == "bad-hdf5":
        source = _edited(source, tmp_path)
        (source / "data" / "main_data.hdf5").write_bytes(b"not hdf5")
    elif case == "twins":
        source = tmp_path / "twins"
        for name in ("a", "b"):
            shutil.copytree(sources["cheetah"], source / name)
    elif case == "wide-state":
        # Data whose observations keep the x position (18 values): the metadata is edited to claim the
        # default env, so only the shape check can catch it.
        wide = collect(tmp_path / "wide", "HalfCheetah-v5", "test/halfcheetah/expert-v0", episodes=1, steps=8,
                       exclude_current_positions_from_observation=False)
        source = _edited(wide, tmp_path, env_kwargs={})
    code, _, err = run_cli(capsys, "import", "minari", str(source), *args, "--store", str(tmp_path / "store"))
    one_line_error(code, err, expected)
    assert not Store(tmp_path / "store").exists or Store(tmp_path / "store").list() == []


def test_quality_flag_overwrite_and_archives(sources, tmp_path, capsys):
    store = tmp_path / "store"
    simple = _edited(sources["cheetah"], tmp_path, dataset_id="test/halfcheetah/simple-v0")
    archive = tmp_path / "simple.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(simple.rglob("*")):
            handle.write(path, path.relative_to(tmp_path).as_posix())
    dataset_id = "imported/minari-halfcheetah-2x3/medium-v0"
    import_args = ("import", "minari", str(archive), "--scenario", "halfcheetah-2x3", "--quality", "medium",
                   "--store", str(store))
    code, out, err = run_cli(capsys, *import_args)
    assert code == 0 and out.startswith(f"imported {dataset_id}: 24 steps"), err
    assert madatasets.load(dataset_id, store).card["provenance"]["original_quality"] == "simple-v0"
    assert not list(store.glob(".import-*"))
    code, _, err = run_cli(capsys, *import_args)
    one_line_error(code, err, "already exists")
    # --overwrite replaces it, here with another Minari dataset labelled the same tier.
    code, _, err = run_cli(capsys, "import", "minari", str(sources["cheetah"]), "--scenario", "halfcheetah-2x3",
                           "--quality", "medium", "--store", str(store), "--overwrite")
    assert code == 0, err
    assert Store(store).list() == [dataset_id]
    assert Store(store).card(dataset_id)["provenance"]["original_quality"] == "expert-v0"
    code, _, err = run_cli(capsys, "import", "nope", ".", "--store", str(store))
    one_line_error(code, err, "valid: omar, og-marl, minari")
