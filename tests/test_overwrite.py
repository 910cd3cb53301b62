"""Overwrite is one atomic pointer switch: readers never see a mix, a crash at any step
leaves the old or the new dataset, and what killed writers leave is collected."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import zarr

import madatasets
import madatasets.layout as layout_module
from collectors.collect import collect
from madatasets.store import Store, parse_id

LEGACY = Path(__file__).parent / "data" / "legacy-store"
ID = "mpe-spread-3/random-v1"
LEGACY_ID = "mpe-spread-3/random-v0"   # the committed legacy store holds zoo-v0 ids


@pytest.fixture
def spread(store_path):
    collect("mpe-spread-3", "random", steps=120, seed=0, store=store_path, progress=False)
    return madatasets.load(ID, store=store_path)


def _variant(dataset, k: int) -> dict[str, np.ndarray]:
    """The dataset's arrays with rewards shifted by k: same shapes, other checksums."""
    return {name: (array + np.float32(k) if name == "rewards" else array) for name, array in dataset.arrays.items()}


def _versions(store_path, dataset_id=ID) -> list[Path]:
    scenario, name = dataset_id.split("/")
    directory = Path(store_path) / scenario / ".versions" / name
    return sorted(directory.iterdir()) if directory.is_dir() else []


def test_each_write_is_a_new_directory_behind_one_symlink(spread, store_path):
    store = Store(store_path)
    pointer = store.path(parse_id(ID))
    first = Path(os.path.realpath(pointer))
    assert pointer.is_symlink() and not os.path.isabs(os.readlink(pointer))
    store.write(parse_id(ID), _variant(spread, 1), spread.card, overwrite=True)
    second = Path(os.path.realpath(pointer))
    assert second != first and not first.exists()          # superseded, nobody reading: removed
    assert _versions(store_path) == [second]
    np.testing.assert_array_equal(madatasets.load(ID, store_path).rewards, spread.rewards + 1)


def test_readers_during_repeated_overwrite_never_see_a_mix(spread, store_path):
    store = Store(store_path)
    written = {spread.card["checksums"]["rewards"]}
    stop, seen, failures = threading.Event(), [], []

    def read_loop() -> None:
        while not stop.is_set():
            try:
                dataset = madatasets.load(ID, store=store_path)     # verified: a mix would raise
                seen.append(dataset.card["checksums"]["rewards"])
                store.verify(ID)
            except Exception as error:  # noqa: BLE001 - any failure is the finding
                failures.append(repr(error))

    reader = threading.Thread(target=read_loop)
    reader.start()
    try:
        for k in range(1, 9):
            store.write(parse_id(ID), _variant(spread, k), spread.card, overwrite=True)
            written.add(madatasets.card(ID, store=store_path)["checksums"]["rewards"])
    finally:
        stop.set()
        reader.join()
    assert failures == [] and len(seen) >= 4
    assert set(seen) <= written
    # Versions a reader still held were left for the next writer: gc now finds the store clean.
    store.gc()
    assert len(_versions(store_path)) == 1


class Crash(Exception):
    pass


def _crash_at(monkeypatch, n: int) -> list[str]:
    """Make the n-th call of rename, replace, symlink, fsync or the exchange raise."""
    calls: list[str] = []
    for module, name in [(os, "rename"), (os, "replace"), (os, "symlink"), (os, "fsync"),
                         (layout_module, "exchange")]:
        original = getattr(module, name)

        def wrapper(*args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            if len(calls) == n:
                raise Crash(f"injected at call {n} ({_name})")
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)
    return calls


def _injection_points(calls: list[str]) -> list[int]:
    """Every call of a successful swap, except that a run of fsyncs (one per file written)
    is represented by its first and last call: what lies between is the same step."""
    points = []
    for i, name in enumerate(calls):
        run_edge = name != "fsync" or i == 0 or calls[i - 1] != "fsync" or i + 1 == len(calls) \
            or calls[i + 1] != "fsync"
        if run_edge:
            points.append(i + 1)
    return points


@pytest.mark.parametrize("start", ["current", "legacy", "legacy-no-exchange"])
def test_a_crash_at_any_step_of_the_swap_leaves_old_or_new(tmp_path, monkeypatch, start):
    source = Store(LEGACY)
    old = madatasets.load(LEGACY_ID, source)
    new_arrays = _variant(old, 1)
    new_rewards = old.rewards + 1

    template = LEGACY
    if start == "current":
        template = tmp_path / "template"
        Store(template, create=True).write(parse_id(LEGACY_ID), old.arrays, old.card)

    def fresh_store(label: str) -> Store:
        root = tmp_path / label
        shutil.copytree(template, root, symlinks=True)        # the pointer stays a relative symlink
        if start == "legacy-no-exchange":
            monkeypatch.setattr(layout_module, "exchange", lambda a, b: False)
        return Store(root)

    store = fresh_store("dry-run")
    calls = _crash_at(monkeypatch, 0)
    store.write(parse_id(LEGACY_ID), new_arrays, old.card, overwrite=True)
    monkeypatch.undo()
    points = _injection_points(calls)
    assert {"symlink", "replace", "fsync"} <= set(calls) and len(points) >= 5
    # After a clean swap the next writer finds nothing to remove but the superseded version.
    store.write(parse_id(LEGACY_ID), new_arrays, old.card, overwrite=True)
    assert len(_versions(store.root, LEGACY_ID)) == 1
    for n in points:
        store = fresh_store(f"crash-{n}")
        _crash_at(monkeypatch, n)
        with pytest.raises(Crash):
            store.write(parse_id(LEGACY_ID), new_arrays, old.card, overwrite=True)
        monkeypatch.undo()
        visible = madatasets.load(LEGACY_ID, store)              # verified load, recovering if needed
        assert np.array_equal(visible.rewards, old.rewards) or np.array_equal(visible.rewards, new_rewards), \
            (n, calls[n - 1])
        # gc (like the next writer) leaves nothing but what the pointer names.
        store.gc()
        current = Path(os.path.realpath(store.path(parse_id(LEGACY_ID))))
        assert set(_versions(store.root, LEGACY_ID)) <= {current}, (n, calls[n - 1])


def test_a_killed_writer_leaves_staging_that_gc_removes(spread, store_path):
    # A writer killed by SIGKILL after filling its staging version, before the switch.
    script = (
        "import sys, time\n"
        "import madatasets, madatasets.writer as writer\n"
        "from madatasets.store import Store, parse_id\n"
        "def hang(root):\n"
        "    print('staged', flush=True)\n"
        "    time.sleep(120)\n"
        "writer.fsync_tree = hang\n"
        f"store = Store({str(store_path)!r})\n"
        f"dataset = madatasets.load({ID!r}, store)\n"
        f"store.write(parse_id({ID!r}), dataset.arrays, dataset.card, overwrite=True)\n")
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                               env=os.environ | {"PYTHONPATH": str(Path(__file__).parents[1])})
    assert process.stdout.readline().strip() == "staged"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert len(_versions(store_path)) == 2                      # the current one and the orphan
    assert madatasets.load(ID, store_path).card["checksums"] == spread.card["checksums"]
    result = subprocess.run([sys.executable, "-m", "madatasets.cli", "gc", "--store", str(store_path)],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "removed 1 " in result.stdout, result.stderr
    assert _versions(store_path) == [Path(os.path.realpath(Store(store_path).path(parse_id(ID))))]


def test_gc_restores_a_dataset_stranded_by_the_old_writer(tmp_path):
    # The writer before immutable versions swapped with two renames; a crash between them
    # left the old dataset in .tmp/old-* and nothing at its id.
    root = tmp_path / "store"
    shutil.copytree(LEGACY, root)
    (root / ".tmp").mkdir()
    os.rename(root / "mpe-spread-3" / "random-v0", root / ".tmp" / "old-0123")
    (root / ".tmp" / "4567").mkdir()                              # a killed writer's staging
    store = Store(root)
    assert LEGACY_ID not in store.list()
    removed = store.gc()
    assert removed == [root / ".tmp" / "4567"] and not (root / ".tmp").exists()
    store.verify(LEGACY_ID)


def test_a_version_being_read_outlives_its_overwrite_until_released(spread, store_path):
    store = Store(store_path)
    with store.snapshot(parse_id(ID)) as held_group:
        store.write(parse_id(ID), _variant(spread, 1), spread.card, overwrite=True)
        assert held_group.exists() and len(_versions(store_path)) == 2     # not removed under the reader
        assert store.gc() == []                                            # nor by gc
        np.testing.assert_array_equal(zarr.open_array(held_group / "rewards")[...],
                                      spread.rewards)
    removed = store.gc()
    assert removed == [held_group.parent] and len(_versions(store_path)) == 1
