from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import madatasets
from collectors.collect import collect
from madatasets.cards import return_statistics
from madatasets.errors import ChecksumError, MadataError
from madatasets.store import Store, array_checksum, parse_id


def _collect(store_path, scenario="mpe-spread-3", steps=300, seed=0, workers=1, **kwargs):
    return collect(scenario, "random", steps=steps, seed=seed, workers=workers, store=store_path,
                   progress=False, **kwargs)


def test_round_trip_and_card(store_path):
    _collect(store_path, steps=310, seed=4)
    dataset = madatasets.load("mpe-spread-3/random-v1", store=store_path)
    card = dataset.card
    assert dataset.observations.shape == (310, 3, 18) and dataset.observations.dtype == np.float32
    assert dataset.actions.shape == (310, 3, 5)
    assert dataset.rewards.shape == (310, 3) and dataset.states.shape == (310, 54)
    assert dataset.episode_ends[-1] == 310 and dataset.final_observations.shape == (13, 3, 18)
    # 12 full 25-step episodes plus one 10-step episode cut by the step budget.
    assert dataset.truncations[dataset.episode_ends - 1].all()
    assert card["total_steps"] == 310 and card["total_episodes"] == 13
    assert card["returns"]["episodes"] == 12
    assert card["scenario_version"] == 0 and "mpe2" in card["package_versions"]
    assert card["behavior_policies"][0]["id"] == "uniform-random"
    assert card["command"] and card["created"] and card["madata_version"] == madatasets.__version__
    for name, digest in card["checksums"].items():
        assert array_checksum(dataset.arrays[name]) == digest
    markdown = (Path(store_path) / "mpe-spread-3" / "random-v1" / "DATASET_CARD.md").read_text()
    assert "mpe-spread-3/random-v1" in markdown and card["checksums"]["actions"] in markdown
    assert madatasets.list_datasets(store_path) == ["mpe-spread-3/random-v1"]
    assert madatasets.card("mpe-spread-3/random-v1", store=store_path)["id"] == "mpe-spread-3/random-v1"


def test_actions_are_uniform_in_range_and_padding_zero(store_path):
    collect("mpe-world-4v2", "random", steps=200, store=store_path, progress=False)
    dataset = madatasets.load("mpe-world-4v2/random-v1", store=store_path)
    real = dataset.actions[:, dataset.spec.act_mask]
    assert real.min() >= -1 and real.max() <= 1 and abs(real.mean()) < 0.1
    assert np.all(dataset.actions[:, ~dataset.spec.act_mask] == 0)


def test_collection_is_deterministic_across_runs_and_workers(tmp_path):
    cards = []
    for name, workers in [("a", 1), ("b", 1), ("c", 2)]:
        _collect(tmp_path / name, scenario="hopper-3x1", steps=1500, seed=7, workers=workers)
        cards.append(madatasets.card("hopper-3x1/random-v1", store=tmp_path / name)["checksums"])
    assert cards[0] == cards[1] == cards[2]
    _collect(tmp_path / "d", scenario="hopper-3x1", steps=1500, seed=8)
    assert madatasets.card("hopper-3x1/random-v1", store=tmp_path / "d")["checksums"] != cards[0]


def test_random_actions_drawn_per_episode_equal_per_step_draws():
    from collectors.rollout import UniformRandomPolicy
    from madatasets.scenarios import get_spec

    spec = get_spec("mpe-world-4v2")                       # has padded action dimensions
    per_step, per_episode = UniformRandomPolicy(spec.act_mask), UniformRandomPolicy(spec.act_mask, 25)
    for episode in range(2):
        rng_step, rng_episode = np.random.default_rng(episode), np.random.default_rng(episode)
        per_step.start_episode(episode, rng_step)
        per_episode.start_episode(episode, rng_episode)
        for _ in range(25):
            expected, ids = per_step.act(None, None, rng_step)
            actual, same_ids = per_episode.act(None, None, rng_episode)
            assert actual.tobytes() == expected.tobytes() and np.array_equal(ids, same_ids)


def test_verify_catches_one_flipped_byte(store_path):
    _collect(store_path, steps=400)
    store = Store(store_path)
    store.verify("mpe-spread-3/random-v1")
    chunk = next(p for p in (Path(store_path) / "mpe-spread-3" / "random-v1" / "data.zarr" / "rewards").rglob("*")
                 if p.is_file() and p.name != "zarr.json")
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0x01
    chunk.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="'rewards'"):
        store.verify("mpe-spread-3/random-v1")


def test_existing_id_is_refused_without_overwrite(store_path):
    _collect(store_path, steps=100, seed=1)
    first = madatasets.card("mpe-spread-3/random-v1", store=store_path)["checksums"]
    with pytest.raises(MadataError, match="--overwrite"):
        _collect(store_path, steps=100, seed=2)
    assert madatasets.card("mpe-spread-3/random-v1", store=store_path)["checksums"] == first
    _collect(store_path, steps=100, seed=2, overwrite=True)
    assert madatasets.card("mpe-spread-3/random-v1", store=store_path)["checksums"] != first


def test_failed_write_leaves_nothing_visible(store_path, monkeypatch):
    import madatasets.layout as layout_module

    def broken_replace(*args, **kwargs):
        raise OSError("disk full")

    Store(store_path, create=True)
    monkeypatch.setattr(layout_module.os, "replace", broken_replace)
    with pytest.raises(OSError):
        _collect(store_path, steps=50)
    monkeypatch.undo()
    assert madatasets.list_datasets(store_path) == []
    # The half-published version is gone; only the link the failed rename left may remain,
    # and the next writer of the id removes it.
    versions = Path(store_path) / "mpe-spread-3" / ".versions" / "random-v1"
    assert [p for p in versions.iterdir() if p.is_dir() and not p.is_symlink()] == []
    _collect(store_path, steps=50)
    assert [p.name for p in versions.iterdir()] == [Path(os.readlink(Path(store_path) / "mpe-spread-3" / "random-v1")).name]


def test_lock_refuses_a_second_writer(store_path):
    store = Store(store_path, create=True)
    dataset_id = parse_id("mpe-spread-3/random-v1")
    with store.lock(dataset_id):
        with pytest.raises(MadataError, match="another process"):
            _collect(store_path, steps=50)


def test_not_a_store_and_bad_ids(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(MadataError, match="not a madata store"):
        Store(tmp_path)
    with pytest.raises(MadataError, match="not a directory"):
        Store(tmp_path / "notes.txt")
    with pytest.raises(MadataError, match="expected <scenario>/<quality>-v<N>"):
        parse_id("mpe-spread-3")
    with pytest.raises(MadataError, match="unknown quality"):
        parse_id("mpe-spread-3/great-v1")
    with pytest.raises(MadataError, match="unknown scenario"):
        parse_id("nope/random-v1")
    # SMAC map names carry underscores: their ids parse, and the imported namespace takes them too.
    assert str(parse_id("smax-5m_vs_6m/random-v0")) == "smax-5m_vs_6m/random-v0"
    assert parse_id("imported/og-marl-smacv1-5m_vs_6m/expert-v0").quality == "expert"
    with pytest.raises(MadataError, match="expected <scenario>/<quality>-v<N>"):
        parse_id("_smax-3m/random-v0")
    store = Store(tmp_path / "empty", create=True)
    with pytest.raises(MadataError, match="not found"):
        madatasets.load("mpe-spread-3/random-v1", store=store)


def test_chunks_are_at_least_a_megabyte_or_whole_array(store_path):
    _collect(store_path, steps=30000 // 10)
    meta = json.loads((Path(store_path) / "mpe-spread-3" / "random-v1" / "data.zarr" / "observations" / "zarr.json")
                      .read_text())
    codec = meta["codecs"][0]
    assert codec["name"] == "sharding_indexed"
    inner = codec["configuration"]["chunk_shape"]
    assert inner[0] == 3000 or inner[0] * 3 * 18 * 4 >= 1024 * 1024
    assert any(c["name"] == "blosc" and c["configuration"]["cname"] == "lz4hc"
               for c in codec["configuration"]["codecs"])


def _tiny_shards(monkeypatch):
    import madatasets.writer as writer_module
    # Tiny chunks so that there are several shards and a partial edge chunk.
    monkeypatch.setattr(writer_module, "CHUNK_BYTES", 256)
    monkeypatch.setattr(writer_module, "CHUNKS_PER_SHARD", 3)


def _tiny_arrays():
    rng = np.random.default_rng(0)
    arrays = {
        "observations": rng.standard_normal((1001, 2, 3)).astype(np.float32),
        "flags": np.zeros((1001, 2), dtype=bool),
        "ends": np.arange(1, 38, dtype=np.int64),
    }
    arrays["flags"][500] = True
    # Zeros: whole shards (rows 0-299) and one chunk (rows 310-319) that zarr's default
    # (the writer before 2026-12) omits.
    arrays["observations"][:300] = 0.0
    arrays["observations"][310:320] = 0.0
    return arrays


def test_fast_reader_equals_zarr_including_edge_and_empty_chunks(tmp_path, monkeypatch):
    import zarr

    import madatasets.store as store_module
    from madatasets.fastread import read_array, read_arrays, read_verified

    _tiny_shards(monkeypatch)
    arrays = _tiny_arrays()
    # The legacy writer's layout: zarr's defaults omit all-zero chunks and shards.
    for name, array in arrays.items():
        chunks, shards = store_module._chunking(array.shape, array.dtype.itemsize)
        stored = zarr.create_array(tmp_path / name, shape=array.shape, dtype=array.dtype, chunks=chunks,
                                   shards=shards, compressors=store_module._compressor(), fill_value=0)
        stored[...] = array
    assert not (tmp_path / "observations" / "c" / "0").exists()
    for name, array in arrays.items():
        fast = read_array(tmp_path / name)
        np.testing.assert_array_equal(fast, array)
        np.testing.assert_array_equal(fast, zarr.open_array(tmp_path / name, mode="r")[...])
        # The stream digest over decoded and filled rows alike is the whole array's checksum.
        (_, digest), = read_verified([tmp_path / name])
        assert digest == array_checksum(array)
    # Every row reaches the after-chunk hooks exactly once, empty chunks included.
    seen = np.zeros(1001, dtype=int)

    def count(rows: np.ndarray, first: int) -> None:
        np.testing.assert_array_equal(rows, arrays["observations"][first:first + len(rows)])
        seen[first:first + len(rows)] += 1

    read_arrays([tmp_path / "observations"], after_chunk=[[count]])
    assert (seen == 1).all()
    # A layout we did not write (no sharding) is left to zarr.
    other = zarr.create_array(tmp_path / "plain", shape=(10,), chunks=(5,), dtype="f4")
    other[...] = np.arange(10)
    assert read_array(tmp_path / "plain") is None


def test_writer_stores_every_chunk_and_the_reader_agrees(tmp_path, monkeypatch):
    from madatasets.fastread import read_array

    _tiny_shards(monkeypatch)
    arrays = _tiny_arrays()
    store = Store(tmp_path / "s", create=True)
    dataset_id = parse_id("mpe-spread-3/random-v1")
    store.write(dataset_id, arrays, {"id": str(dataset_id), "layout": "joint", "returns": return_statistics(np.array([])),
                                     "reference_scores": {}, "behavior_policies": [], "package_versions": {},
                                     "scenario": "mpe-spread-3", "scenario_version": 0, "quality": "random",
                                     "total_steps": 1001, "total_episodes": 0, "seed": 0, "madata_version": "x",
                                     "created": "x", "command": "x"})
    group = store.path(dataset_id) / "data.zarr"
    assert (group / "observations" / "c" / "0" / "0" / "0").exists()     # all-zero shard written
    assert len(list((group / "observations" / "c").iterdir())) > 3        # several shards
    for name, array in arrays.items():
        np.testing.assert_array_equal(read_array(group / name, strict=True), array)


def test_fast_reader_detects_a_corrupt_shard_index(store_path):
    _collect(store_path, steps=200)
    shard = Path(store_path) / "mpe-spread-3" / "random-v1" / "data.zarr" / "rewards" / "c" / "0" / "0"
    data = bytearray(shard.read_bytes())
    data[-10] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="'rewards'.*shard index"):
        madatasets.load("mpe-spread-3/random-v1", store=store_path)
    with pytest.raises(ChecksumError, match="'rewards'"):
        Store(store_path).verify("mpe-spread-3/random-v1")


def test_derived_columns_are_bitwise_exact():
    from madatasets.store import derive_columns, rebuild_from_columns
    rng = np.random.default_rng(0)
    source = rng.normal(size=(50, 2, 3)).astype(np.float32)
    source[:, 1, 2] = 0.0
    target = np.stack([source[:, 0, 1], source[:, 0, 2], -source[:, 1, 2], rng.normal(size=50)], axis=1)
    target = target.astype(np.float32)
    columns = derive_columns(target, source)
    # -0.0 equals 0.0 numerically but not bitwise, so it is not taken from the source.
    assert columns.tolist() == [1, 2, -1, -1]
    rebuilt = rebuild_from_columns(source, columns, target[:, columns < 0])
    assert array_checksum(rebuilt) == array_checksum(target)
    assert derive_columns(rng.normal(size=(50, 2)).astype(np.float32), source) is None
