"""Importers: OMAR's numpy layout (written here in their layout), OG-MARL vaults (written
here by flashbax), archives that try to escape, and the imported/ namespace."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

import madatasets
from cli_runner import one_line_error, run_cli
from madatasets.errors import MadataError
from madatasets.hub import download, publish
from madatasets.store import Store, parse_id

OMAR_ID = "imported/omar-mpe-spread-3-s0/expert-v0"
EPISODES = (25, 25, 10)






def write_omar_seed(folder: Path, seed: int = 0, agents: int = 3, obs_size: int = 18, act_size: int = 5):
    """A seed folder in OMAR's layout: per agent obs/acs/rews/next_obs/dones, episodes of
    25 steps cut at the end, next_obs[t] == obs[t + 1] inside an episode."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    steps = sum(EPISODES)
    for i in range(agents):
        obs, next_obs = np.empty((steps, obs_size)), np.empty((steps, obs_size))
        start = 0
        for length in EPISODES:
            trajectory = rng.normal(size=(length + 1, obs_size))
            obs[start:start + length], next_obs[start:start + length] = trajectory[:-1], trajectory[1:]
            start += length
        np.save(folder / f"obs_{i}.npy", obs)
        np.save(folder / f"next_obs_{i}.npy", next_obs)
        np.save(folder / f"acs_{i}.npy", rng.uniform(-1, 1, size=(steps, act_size)))
        np.save(folder / f"rews_{i}.npy", rng.normal(size=steps) + 5.0)
        np.save(folder / f"dones_{i}.npy", np.zeros(steps))
    return folder


@pytest.fixture
def omar_tree(tmp_path):
    root = tmp_path / "datasets"
    write_omar_seed(root / "simple_spread" / "expert" / "seed_0_data")
    return root


def check_omar_import(store, source_folder):
    dataset = madatasets.load(OMAR_ID, store)
    assert dataset.card["quality"] == "expert" and dataset.card["scenario"] == "mpe-spread-3"
    np.testing.assert_array_equal(dataset.episode_ends, np.cumsum(EPISODES))
    assert dataset.truncations[np.cumsum(EPISODES) - 1].all() and not dataset.terminations.any()
    obs0 = np.load(source_folder / "obs_0.npy")
    np.testing.assert_array_equal(dataset.observations[:, 0], obs0.astype(np.float32))
    np.testing.assert_array_equal(dataset.final_observations[:, 1],
                                  np.load(source_folder / "next_obs_1.npy")[np.cumsum(EPISODES) - 1].astype(np.float32))
    np.testing.assert_array_equal(dataset.states, dataset.observations.reshape(len(dataset), -1))
    rewards = np.stack([np.load(source_folder / f"rews_{i}.npy") for i in range(3)], axis=1).astype(np.float32)
    assert dataset.card["returns"]["mean"] == pytest.approx(np.mean(
        [rewards[s:e].mean(axis=1).sum() for s, e in zip((0, 25, 50), np.cumsum(EPISODES))]), rel=1e-5)
    provenance = dataset.card["provenance"]
    assert provenance["source"] == "omar" and "modified MPE" in provenance["note"]
    assert provenance["their_reference_scores"] == {"random": 159.8, "expert": 516.8}
    assert dataset.card["reference_scores"] == {} and "normalized_return_mean" not in dataset.card
    digest = hashlib.sha256((source_folder / "acs_2.npy").read_bytes()).hexdigest()
    assert provenance["original_files"]["acs_2.npy"]["sha256"] == digest
    assert len(provenance["original_files"]) == 15


def test_import_omar_folder(omar_tree, tmp_path, capsys):
    store = tmp_path / "store"
    code, out, err = run_cli(capsys, "import", "omar", str(omar_tree), "--scenario", "mpe-spread-3",
                             "--store", str(store))
    assert code == 0, err
    assert out.startswith(f"imported {OMAR_ID}: 60 steps, 3 episodes")
    check_omar_import(store, omar_tree / "simple_spread" / "expert" / "seed_0_data")
    code, out, _ = run_cli(capsys, "list", "--store", str(store))
    assert OMAR_ID in out
    code, out, _ = run_cli(capsys, "verify", OMAR_ID, "--store", str(store))
    assert code == 0 and f"ok {OMAR_ID}" in out
    code, _, err = run_cli(capsys, "import", "omar", str(omar_tree), "--scenario", "mpe-spread-3",
                           "--store", str(store))
    one_line_error(code, err, "already exists")
    code, _, err = run_cli(capsys, "import", "omar", str(omar_tree), "--scenario", "mpe-spread-3",
                           "--store", str(store), "--overwrite")
    assert code == 0, err


def test_import_omar_archive(omar_tree, tmp_path, capsys):
    archive = tmp_path / "spread.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(omar_tree.rglob("*.npy")):
            handle.write(path, path.relative_to(omar_tree.parent).as_posix())
    code, out, err = run_cli(capsys, "import", "omar", str(archive), "--scenario", "mpe-spread-3",
                             "--store", str(tmp_path / "store"))
    assert code == 0, err
    check_omar_import(tmp_path / "store", omar_tree / "simple_spread" / "expert" / "seed_0_data")
    assert not list((tmp_path / "store").glob(".import-*"))        # the unpacked copy is gone


def _zip_with(tmp_path, member: str, symlink: bool = False) -> Path:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("datasets/simple_spread/expert/seed_0_data/readme.txt", "x")
        info = zipfile.ZipInfo(member)
        if symlink:
            info.external_attr = (0o120777 << 16)
        handle.writestr(info, "/etc/passwd" if symlink else "evil")
    return archive


@pytest.mark.parametrize("member, symlink, expected", [
    ("/tmp/madata-evil-absolute.npy", False, "is an absolute path; refused"),
    ("datasets/../../madata-evil.npy", False, "has a '..' component; refused"),
    ("datasets/link", True, "is a symbolic link; refused"),
])
def test_archives_that_escape_are_refused(tmp_path, capsys, member, symlink, expected):
    archive = _zip_with(tmp_path, member, symlink)
    store = tmp_path / "store"
    code, _, err = run_cli(capsys, "import", "omar", str(archive), "--scenario", "mpe-spread-3", "--store", str(store))
    one_line_error(code, err, expected)
    assert not Path("/tmp/madata-evil-absolute.npy").exists() and not (tmp_path / "madata-evil.npy").exists()
    assert Store(store).list() == [] and not list(store.glob(".import-*"))


def test_a_tar_with_a_parent_member_is_refused(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as handle:
        data = b"evil"
        info = tarfile.TarInfo("../madata-evil.npy")
        info.size = len(data)
        handle.addfile(info, io.BytesIO(data))
    with pytest.raises(MadataError, match="has a '..' component"):
        list(__import__("madatasets.hub.importers", fromlist=["run_import"]).run_import(
            "omar", archive, tmp_path / "store", scenario="mpe-spread-3"))
    assert not (tmp_path / "madata-evil.npy").exists()


@pytest.mark.parametrize("args, expected", [
    (["import", "nope", "."], "unknown import source 'nope'; valid: omar, og-marl"),
    (["import", "omar", "{tree}"], "needs --scenario"),
    (["import", "omar", "{tree}", "--scenario", "halfcheetah-2x3"], "3 agents' files"),
    (["import", "omar", "{tree}", "--scenario", "mpe-spread-3", "--quality", "great"], "not a madata quality"),
    (["import", "omar", "{empty}", "--scenario", "mpe-spread-3"], "no OMAR seed folder"),
    (["download", "og-marl/smacv1-99m"], "not a known og-marl dataset"),
])
def test_bad_imports_are_one_line(omar_tree, tmp_path, capsys, args, expected):
    (tmp_path / "empty").mkdir()
    args = [a.format(tree=omar_tree, empty=tmp_path / "empty") for a in args]
    code, _, err = run_cli(capsys, *args, "--store", str(tmp_path / "store"))
    one_line_error(code, err, expected)
    assert not Store(tmp_path / "store").exists or Store(tmp_path / "store").list() == []


def test_damaged_source_files_are_one_line(omar_tree, tmp_path, capsys):
    folder = omar_tree / "simple_spread" / "expert" / "seed_0_data"
    np.save(folder / "acs_1.npy", np.full((60, 5), 3.0))
    code, _, err = run_cli(capsys, "import", "omar", str(omar_tree), "--scenario", "mpe-spread-3",
                           "--store", str(tmp_path / "store"))
    one_line_error(code, err, "actions outside [-1, 1]")
    (folder / "rews_2.npy").write_bytes(b"not numpy")
    code, _, err = run_cli(capsys, "import", "omar", str(omar_tree), "--scenario", "mpe-spread-3",
                           "--store", str(tmp_path / "store"))
    one_line_error(code, err, "not a readable numpy array")


def test_imported_ids_live_in_their_own_namespace(omar_tree, tmp_path):
    from madatasets.hub.importers import run_import
    store = Store(tmp_path / "store", create=True)
    list(run_import("omar", omar_tree, store, scenario="mpe-spread-3"))
    assert parse_id(OMAR_ID).relative_path == Path("imported/omar-mpe-spread-3-s0/expert-v0")
    with pytest.raises(MadataError, match="invalid imported dataset id"):
        parse_id("imported/../expert-v0")
    # The imported id travels through the hub like any other.
    publish(OMAR_ID, str(tmp_path / "remote"), store)
    result = download(OMAR_ID, tmp_path / "other", [str(tmp_path / "remote")], progress=False)
    assert result.installed
    assert madatasets.load(OMAR_ID, tmp_path / "other").card["provenance"]["source"] == "omar"
    assert store.gc() == []


def write_vault(vaults: Path, quality: str = "Good"):
    """A flashbax vault in OG-MARL's layout with halfcheetah-2x3's shapes: 40 steps, an episode
    that terminates at step 14, then one cut by the limit at step 39."""
    import jax.numpy as jnp
    from flashbax.buffers.trajectory_buffer import TrajectoryBufferState
    from flashbax.vault import Vault
    spec = madatasets.get_spec("halfcheetah-2x3")
    steps, n = 40, spec.n_agents
    rng = np.random.default_rng(3)
    terminals = np.zeros((1, steps, n), dtype=bool)
    truncations = np.zeros((1, steps, n), dtype=bool)
    terminals[0, 14] = True            # an episode that terminates, then one cut by the limit
    truncations[0, 39] = True
    experience = {
        "observations": jnp.asarray(rng.normal(size=(1, steps, n, spec.obs_dim)), dtype=jnp.float32),
        "actions": jnp.asarray(rng.uniform(-1, 1, size=(1, steps, n, spec.act_dim)), dtype=jnp.float32),
        "rewards": jnp.asarray(rng.normal(size=(1, steps, n)), dtype=jnp.float32),
        "terminals": jnp.asarray(terminals), "truncations": jnp.asarray(truncations),
        "infos": {"state": jnp.asarray(rng.normal(size=(1, steps, spec.state_dim)), dtype=jnp.float32)},
    }
    state = TrajectoryBufferState(experience=experience, current_index=jnp.asarray(steps), is_full=jnp.asarray(False))
    Vault(vault_name="2halfcheetah.vlt", experience_structure=experience, rel_dir=str(vaults),
          vault_uid=quality).write(state)
    return experience


def test_og_marl_vault_written_by_flashbax(tmp_path, capsys):
    pytest.importorskip("flashbax")
    vaults = tmp_path / "vaults"
    experience = write_vault(vaults)
    capsys.readouterr()
    code, out, err = run_cli(capsys, "import", "og-marl", str(vaults / "2halfcheetah.vlt"), "--scenario",
                             "halfcheetah-2x3", "--store", str(tmp_path / "store"))
    assert code == 0, err
    dataset_id = "imported/og-marl-halfcheetah-2x3/expert-v0"
    assert out.startswith(f"imported {dataset_id}: 40 steps, 2 episodes")
    dataset = madatasets.load(dataset_id, tmp_path / "store")
    np.testing.assert_array_equal(dataset.episode_ends, [15, 40])
    assert dataset.terminations[14].all() and dataset.truncations[39].all()
    assert not dataset.terminations[39].any() and not dataset.truncations[14].any()
    np.testing.assert_array_equal(dataset.observations, np.asarray(experience["observations"][0]))
    np.testing.assert_array_equal(dataset.states, np.asarray(experience["infos"]["state"][0]))
    provenance = dataset.card["provenance"]
    assert provenance["original_quality"] == "Good" and provenance["source"] == "og-marl"
    assert provenance["original_files"]["files"] > 3 and len(provenance["original_files"]["sha256"]) == 64
    json.dumps(dataset.card)


def test_download_from_a_known_source_fetches_and_converts(tmp_path, capsys, monkeypatch):
    pytest.importorskip("flashbax")
    from hub_servers import FileServer
    vaults = tmp_path / "vaults"
    write_vault(vaults, "Good")
    write_vault(vaults, "Medium")
    served = tmp_path / "served" / "core" / "mamujoco"
    served.mkdir(parents=True)
    with zipfile.ZipFile(served / "2halfcheetah.zip", "w") as handle:
        for path in sorted(vaults.rglob("*")):
            if path.is_file():
                handle.write(path, path.relative_to(vaults).as_posix())
    zip_bytes = (served / "2halfcheetah.zip").read_bytes()
    capsys.readouterr()         # flashbax's own messages while writing the vaults
    monkeypatch.setenv("MADATA_BACKOFF", "0.01")
    with FileServer(tmp_path / "served") as server:
        listing = {"format": "madata-sources", "format_version": 1, "sources": {"og-marl": {
            "importer": "og-marl", "base_url": server.url, "datasets": {"mamujoco-2halfcheetah": {
                "path": "core/mamujoco/2halfcheetah.zip", "qualities": ["Good", "Medium"],
                "scenario": "halfcheetah-2x3"}}}}}
        (tmp_path / "sources.json").write_text(json.dumps(listing))
        monkeypatch.setenv("MADATA_SOURCES", str(tmp_path / "sources.json"))
        server.behaviour.drop_after["core/mamujoco/2halfcheetah.zip"] = len(zip_bytes) // 2
        code, out, err = run_cli(capsys, "download", "og-marl/mamujoco-2halfcheetah/Medium",
                                 "--store", str(tmp_path / "store"), "--quiet")
        assert code == 0, err
        ranges = [r for p, r in server.behaviour.requests if p.endswith(".zip") and r]
        assert ranges == [f"bytes={len(zip_bytes) // 2}-"]          # resumed after the drop
        code, _, err = run_cli(capsys, "download", "og-marl/mamujoco-2halfcheetah/Poor", "--store",
                               str(tmp_path / "store"))
        one_line_error(code, err, "name a quality")
        server.behaviour.missing.add("core/mamujoco/2halfcheetah.zip")
        code, _, err = run_cli(capsys, "download", "og-marl/mamujoco-2halfcheetah/Good", "--store",
                               str(tmp_path / "store"))
        one_line_error(code, err, "not found")
    dataset_id = "imported/og-marl-halfcheetah-2x3/medium-v0"
    assert out.startswith("downloaded og-marl/mamujoco-2halfcheetah/Medium from http://127.0.0.1:")
    assert f"imported {dataset_id}: 40 steps, 2 episodes" in out
    fetched = madatasets.load(dataset_id, tmp_path / "store").card["provenance"]["fetched"]
    assert fetched["sha256"] == hashlib.sha256(zip_bytes).hexdigest() and fetched["sha256_published"] is False
    assert Store(tmp_path / "store").list() == [dataset_id]
    assert not list((tmp_path / "store").glob(".import-*"))
    assert not list((tmp_path / "store" / ".downloads").rglob("*.zip*"))


def test_sources_that_cannot_be_converted_say_why(tmp_path, capsys, monkeypatch):
    from madatasets.scenarios import scenario_names
    shipped = json.loads((Path(madatasets.__file__).parent / "hub" / "sources.json").read_text())
    # Every shipped OG-MARL source names a registered scenario (SMACv2's are import-only ones).
    assert all(d["scenario"] in scenario_names() for d in shipped["sources"]["og-marl"]["datasets"].values())
    listing = {"format": "madata-sources", "format_version": 1, "sources": {"og-marl": {
        "importer": "og-marl", "base_url": "http://127.0.0.1:9", "datasets": {"smacv3-x": {
            "path": "x.zip", "qualities": ["Replay"], "scenario": None, "note": "no such shapes here"}}}}}
    (tmp_path / "sources.json").write_text(json.dumps(listing))
    monkeypatch.setenv("MADATA_SOURCES", str(tmp_path / "sources.json"))
    code, _, err = run_cli(capsys, "download", "og-marl/smacv3-x/Replay", "--store", str(tmp_path / "store"))
    one_line_error(code, err, "no madata scenario has the shapes")
    monkeypatch.delenv("MADATA_SOURCES")
    code, _, err = run_cli(capsys, "download", "omar/simple_spread/expert", "--store", str(tmp_path / "store"))
    one_line_error(code, err, "download them by hand and run `madata import omar PATH --scenario mpe-spread-3`")
