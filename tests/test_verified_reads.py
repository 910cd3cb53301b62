"""Every load checks the data: damaged bytes, missing chunks and edited metadata raise
ChecksumError naming what is wrong, never wrong data with success."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr

import madatasets
from collectors.collect import collect
from madatasets.errors import ChecksumError
from madatasets.store import Store

LEGACY = Path(__file__).parent / "data" / "legacy-store"
ID = "mpe-spread-3/random-v1"


@pytest.fixture
def group(store_path) -> Path:
    collect("mpe-spread-3", "random", steps=300, seed=0, store=store_path, progress=False)
    return Path(os.path.realpath(Path(store_path) / "mpe-spread-3" / "random-v1")) / "data.zarr"


def _shard(group: Path, name: str) -> Path:
    return next(p for p in sorted((group / name / "c").rglob("*")) if p.is_file())


def _flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x10
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name", ["rewards", "observations", "states"])
def test_a_flipped_byte_fails_the_load(group, store_path, name):
    _flip_middle_byte(_shard(group, name))
    with pytest.raises(ChecksumError, match=f"'{name}'"):
        madatasets.load(ID, store=store_path)


def test_a_deleted_chunk_is_an_error_not_zeros(group, store_path):
    _shard(group, "actions").unlink()
    with pytest.raises(ChecksumError, match="'actions'.*missing"):
        madatasets.load(ID, store=store_path)
    # Without verification too: a missing chunk is never read as fill values.
    with pytest.raises(ChecksumError, match="'actions'.*missing"):
        madatasets.load(ID, store=store_path, verify=False)


def test_an_edited_shape_fails_the_load(group, store_path):
    meta_path = group / "rewards" / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta["shape"][0] -= 1
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ChecksumError, match="'rewards'"):
        madatasets.load(ID, store=store_path)


@pytest.mark.parametrize("edit, message", [
    (lambda card: card.update(total_steps=999), "card digest"),
    (lambda card: card["returns"].update(mean=1e9), "card digest"),
    (lambda card: card["checksums"].clear(), "card digest"),
])
def test_an_edited_card_fails_the_load(group, store_path, edit, message):
    meta_path = group / "zarr.json"
    meta = json.loads(meta_path.read_text())
    edit(meta["attributes"]["card"])
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ChecksumError, match=message):
        madatasets.load(ID, store=store_path)
    with pytest.raises(ChecksumError, match=message):
        Store(store_path).verify(ID)


def test_a_garbage_group_metadata_is_one_error(group, store_path):
    (group / "zarr.json").write_bytes(b"\xff\xfe not json")
    with pytest.raises(ChecksumError, match="zarr.json is unreadable"):
        madatasets.load(ID, store=store_path)
    with pytest.raises(ChecksumError, match="zarr.json is unreadable"):
        madatasets.card(ID, store=store_path)


def test_an_array_not_in_the_checksum_table_fails_verify(group, store_path):
    extra = zarr.open_group(group, mode="r+").create_array("sneaky", shape=(3,), dtype="f4")
    extra[...] = 1.0
    with pytest.raises(ChecksumError, match="sneaky.*not covered"):
        Store(store_path).verify(ID)


def test_results_record_the_checksums_this_load_verified(group, store_path):
    dataset = madatasets.load(ID, store=store_path)
    assert dataset.verified_checksums == dataset.card["checksums"]
    assert madatasets.load(ID, store=store_path, verify=False).verified_checksums is None


def _without_integrity_record(group: Path) -> None:
    """The dataset as the store wrote it before per-chunk digests (store layout 2 still)."""
    meta_path = group / "zarr.json"
    meta = json.loads(meta_path.read_text())
    del meta["attributes"]["integrity"], meta["attributes"]["integrity_sha256"]
    meta_path.write_text(json.dumps(meta))


def test_loads_check_the_chunk_digests_not_the_sha256(group, store_path, monkeypatch):
    def no_sha256(*args, **kwargs):
        raise AssertionError("a load with an integrity record hashed the decoded arrays")
    monkeypatch.setattr("madatasets.fastread.StreamDigest", no_sha256)
    monkeypatch.setattr("madatasets.store_read.array_checksum", no_sha256)
    dataset = madatasets.load(ID, store=store_path)
    assert dataset.verified_checksums == dataset.card["checksums"]
    _flip_middle_byte(_shard(group, "observations"))
    with pytest.raises(ChecksumError, match="'observations'.*does not match its digest"):
        madatasets.load(ID, store=store_path)
    # `madata verify` recomputes the sha256 (here: refused by the stub, so it did try).
    monkeypatch.undo()
    with pytest.raises(ChecksumError, match="'observations'"):
        Store(store_path).verify(ID)


@pytest.mark.parametrize("edit", [
    lambda attributes: attributes["integrity"]["arrays"]["rewards"]["chunks"].__setitem__(0, "0" * 64),
    lambda attributes: attributes["integrity"]["arrays"].pop("actions"),
    lambda attributes: attributes.update(integrity_sha256="0" * 64),
])
def test_an_edited_integrity_record_fails_the_load(group, store_path, edit):
    meta_path = group / "zarr.json"
    meta = json.loads(meta_path.read_text())
    edit(meta["attributes"])
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ChecksumError, match="integrity record does not match its digest"):
        madatasets.load(ID, store=store_path)


def test_an_edited_array_attribute_fails_the_load(group, store_path):
    array = zarr.open_array(group / "rewards", mode="r+")
    array.attrs["description"] = "something else"
    with pytest.raises(ChecksumError, match="'rewards'.*zarr.json does not match"):
        madatasets.load(ID, store=store_path)


@pytest.mark.parametrize("name", ["rewards", "states"])
def test_datasets_without_chunk_digests_still_load_and_verify(group, store_path, name):
    dataset = madatasets.load(ID, store=store_path)
    _without_integrity_record(group)
    again = madatasets.load(ID, store=store_path)
    assert again.verified_checksums == dataset.card["checksums"]
    for key, array in dataset.arrays.items():
        np.testing.assert_array_equal(again.arrays[key], array)
    Store(store_path).verify(ID)
    _flip_middle_byte(_shard(group, name))
    with pytest.raises(ChecksumError, match=f"'{name}'"):
        madatasets.load(ID, store=store_path)


def test_plain_zarr_reads_every_array_with_its_attributes(group, store_path):
    dataset = madatasets.load(ID, store=store_path)
    with_zarr = zarr.open_group(Path(store_path) / "mpe-spread-3" / "random-v1" / "data.zarr", mode="r")
    names = sorted(name for name, _ in with_zarr.arrays())
    assert names == sorted(dataset.arrays)                     # states and final_states included
    for name, array in with_zarr.arrays():
        np.testing.assert_array_equal(array[...], dataset.arrays[name])
        attributes = dict(array.attrs)
        assert attributes["description"] and attributes["axes"] and len(attributes["axes"]) == array.ndim
        assert attributes["sha256"] == dataset.card["checksums"][name]
        if "agent" in attributes["axes"]:
            assert attributes["agents"] == list(dataset.spec.agents)
    assert with_zarr.attrs["card"]["id"] == ID


def test_zarr_does_not_warn_about_the_card_file(group, recwarn):
    zarr.open_group(group, mode="r").members()
    assert not [w for w in recwarn if "not recognized" in str(w.message)]
    assert (group.parent / "DATASET_CARD.md").exists()


# -- datasets written by the store before 2026-12 -----------------------------------------

@pytest.fixture
def legacy(tmp_path) -> Path:
    root = tmp_path / "legacy"
    shutil.copytree(LEGACY, root)
    return root


def test_legacy_datasets_load_and_verify(legacy):
    store = Store(legacy)
    assert store.list() == ["mpe-spread-3/random-v0", "mpe-tag-3v1/random-v0"]
    for dataset_id in store.list():
        dataset = madatasets.load(dataset_id, store)
        assert dataset.verified_checksums == dataset.card["checksums"]
        assert "derived_arrays" in dataset.card and dataset.states.shape[0] == len(dataset)
        store.verify(dataset_id)


def test_collection_still_gives_the_legacy_checksums(legacy, store_path):
    # Same command and seed as the committed legacy datasets: the same bytes, whatever the layout.
    collect("mpe-spread-3", "random", steps=120, seed=5, store=store_path, version=0, progress=False)
    collect("mpe-tag-3v1", "random", steps=60, seed=5, store=store_path, version=0, progress=False)
    for dataset_id in ("mpe-spread-3/random-v0", "mpe-tag-3v1/random-v0"):
        assert madatasets.card(dataset_id, store=store_path)["checksums"] == \
            madatasets.card(dataset_id, store=legacy)["checksums"]


def test_an_edited_column_map_of_a_legacy_dataset_fails_the_load(legacy):
    meta_path = legacy / "mpe-tag-3v1" / "random-v0" / "zarr.json"
    meta = json.loads(meta_path.read_text())
    columns = meta["attributes"]["card"]["derived_arrays"]["states"]["columns"]
    columns[0], columns[1] = columns[1], columns[0]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ChecksumError, match="'states'"):
        madatasets.load("mpe-tag-3v1/random-v0", store=legacy)


def test_a_corrupt_legacy_residual_fails_the_rebuilt_states(legacy):
    group = zarr.open_group(legacy / "mpe-tag-3v1" / "random-v0", mode="r+")
    residual = group["states_residual"]
    residual[0, 0] = residual[0, 0] + 1.0
    with pytest.raises(ChecksumError, match="'states'"):
        Store(legacy).verify("mpe-tag-3v1/random-v0")


@pytest.mark.parametrize("edit, message", [
    (lambda card: card["checksums"].clear(), "checksum table is empty"),
    (lambda card: card.update(total_steps=card["total_steps"] + 1), "its card says"),
])
def test_a_legacy_card_without_digest_is_still_checked(legacy, edit, message):
    meta_path = legacy / "mpe-spread-3" / "random-v0" / "zarr.json"
    meta = json.loads(meta_path.read_text())
    assert "card_sha256" not in meta["attributes"]
    edit(meta["attributes"]["card"])
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ChecksumError, match=message):
        Store(legacy).verify("mpe-spread-3/random-v0")
