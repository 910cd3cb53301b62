"""Garbage collection of a store (`madata gc`): superseded versions and what killed writers left."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any, ContextManager, Protocol

from madatasets.card_checks import read_group_attributes
from madatasets.errors import MadataError
from madatasets.ids import DatasetId, id_namespaces, parse_id
from madatasets.layout import VERSIONS



class Store(Protocol):
    """What garbage collection uses of `madatasets.store.Store` (which calls it from `Store.gc`)."""

    root: Path
    layout: Any

    @property
    def exists(self) -> bool: ...

    def lock(self, dataset_id: DatasetId, wait: bool | None = False) -> ContextManager[bool]: ...

    def path(self, dataset_id: DatasetId) -> Path: ...


def collect_store_garbage(store: Store) -> list[Path]:
    """Remove superseded versions and what killed writers left; returns what was removed.

    Ids being written (lock held) and versions being read are left alone.
    """
    if not store.exists:
        return []
    removed: list[Path] = []
    for scenario in id_namespaces(store.root):
        versions = store.root / scenario / VERSIONS
        if not versions.is_dir():
            continue
        for entry in sorted(versions.iterdir()):
            with contextlib.suppress(MadataError):
                dataset_id = parse_id(f"{scenario}/{entry.name}")
                with store.lock(dataset_id, wait=None) as held:
                    if held:
                        store.layout.recover(dataset_id.relative_path)
                        removed += store.layout.collect_garbage(dataset_id.relative_path)
    removed += _gc_legacy_staging(store)
    return removed


def _gc_legacy_staging(store: Store) -> list[Path]:
    """`.tmp/` of the writer before immutable versions: a dataset stranded there by a
    crash between its two renames is put back when its id has none; the rest is litter."""
    staging = store.root / ".tmp"
    removed: list[Path] = []
    if not staging.is_dir():
        return removed
    for entry in sorted(staging.iterdir()):
        with contextlib.suppress(MadataError, OSError):
            if entry.name.startswith("old-"):
                dataset_id = parse_id(read_group_attributes(DatasetId("x", "x", 0), entry)["card"]["id"])
                with store.lock(dataset_id, wait=None) as held:
                    if held and not os.path.lexists(store.path(dataset_id)):
                        store.path(dataset_id).parent.mkdir(parents=True, exist_ok=True)
                        os.rename(entry, store.path(dataset_id))
                        continue
        if entry.exists():
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink()
            removed.append(entry)
    with contextlib.suppress(OSError):
        staging.rmdir()
    return removed
