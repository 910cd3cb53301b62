from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import madatasets
from collectors.collect import collect
from madatasets.errors import MadataError
from madatasets.export import export_hdf5, export_minari


@pytest.fixture
def spread(store_path):
    collect("mpe-spread-3", "random", steps=120, seed=2, store=store_path, progress=False)
    return madatasets.load("mpe-spread-3/random-v1", store=store_path)


def test_hdf5_holds_every_array_and_the_card(spread, tmp_path):
    path = export_hdf5(spread, tmp_path / "spread.h5")
    with h5py.File(path, "r") as handle:
        assert json.loads(handle.attrs["card"])["checksums"] == spread.card["checksums"]
        for name, array in spread.arrays.items():
            np.testing.assert_array_equal(handle[name][...], array)
    with pytest.raises(MadataError, match="--overwrite"):
        export_hdf5(spread, path)


def test_minari_agent_dataset_round_trip(spread, tmp_path):
    import minari

    minari_id = export_minari(spread, 1, "local", minari_root=tmp_path / "minari")
    exported = minari.load_dataset(minari_id)
    assert exported.total_steps == 120
    view = spread.agent(1)
    episodes = list(exported.iterate_episodes())
    np.testing.assert_array_equal(np.concatenate([e.actions for e in episodes]), view.actions)
    np.testing.assert_array_equal(np.concatenate([e.rewards for e in episodes]), view.rewards)
    first = episodes[0]
    np.testing.assert_array_equal(first.observations[-1], view.next_observations[24])


def test_minari_export_carries_reference_scores_minari_reads_back(spread, tmp_path):
    import minari

    minari_id = export_minari(spread, 0, "local", minari_root=tmp_path / "minari")
    exported = minari.load_dataset(minari_id)
    references = spread.card["reference_scores"]
    returns = np.array([references["random"], references["expert"]])
    np.testing.assert_allclose(minari.get_normalized_score(exported, returns), [0.0, 1.0])


def test_minari_export_twice_needs_overwrite_and_replaces(spread, tmp_path):
    import minari

    root = tmp_path / "minari"
    minari_id = export_minari(spread, 0, "local", minari_root=root)
    with pytest.raises(MadataError, match="--overwrite"):
        export_minari(spread, 0, "local", minari_root=root)
    export_minari(spread, 0, "state", minari_root=root, overwrite=True)
    replaced = minari.load_dataset(minari_id)
    assert replaced.observation_space.shape == (spread.spec.state_dim,)
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []     # no staging left


def test_a_failed_minari_export_leaves_nothing_minari_lists(spread, tmp_path, monkeypatch):
    import errno
    import os

    import minari
    from minari.dataset.minari_storage import MinariStorage

    root = tmp_path / "minari"
    original = MinariStorage.update_metadata

    def disk_full(self, metadata):
        if "ref_min_score" in metadata:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.data_path))
        return original(self, metadata)

    monkeypatch.setattr(MinariStorage, "update_metadata", disk_full)
    with pytest.raises(OSError):
        export_minari(spread, 0, "local", minari_root=root)
    monkeypatch.undo()
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    assert minari.list_local_datasets() == {}
    assert list(root.iterdir()) == []


def test_exports_that_cannot_fit_are_refused_before_writing(spread, tmp_path, monkeypatch):
    from collections import namedtuple

    import madatasets.export as export_module

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(export_module.shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(MadataError, match="free some space"):
        export_hdf5(spread, tmp_path / "spread.h5")
    with pytest.raises(MadataError, match="free some space"):
        export_minari(spread, 0, "local", minari_root=tmp_path / "minari")
    assert not (tmp_path / "spread.h5").exists() and not (tmp_path / "spread.h5.partial").exists()
