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
    return madatasets.load("mpe-spread-3/random-v0", store=store_path)


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
