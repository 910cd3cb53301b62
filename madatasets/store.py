"""The versioned dataset store: Zarr v3 groups on the local filesystem.

Layout (docs/store.md)::

    <root>/.madata-store                       marker: this directory is a store
    <root>/<scenario>/<quality>-v<N>           symlink to the current immutable version
    <root>/<scenario>/.versions/<quality>-v<N>/<uuid>/
        data.zarr/                             the Zarr group; attributes hold the card
        DATASET_CARD.md                        the card, for people
    <root>/.locks/                             one writer lock file per dataset id

Each write lands in its own directory and becomes visible by one atomic pointer
switch (madatasets/layout.py); readers resolve the pointer once and read only that
directory, under a shared lock that keeps garbage collection away from it.

Every read is verified by default: the card is checked against its own digest and
the integrity record against the card's; then every stored chunk's bytes are
checked against the record's BLAKE3 digest as they decode, and each array's
zarr.json too (datasets written before the record: each array's sha256 is computed
while it decodes and compared with the card). A mismatch, a missing chunk or an
undecodable one raises `ChecksumError` naming the array. `verify` (`madata
verify`) also recomputes every array's sha256 over the decoded values.

The verified read is madatasets/store_read.py, garbage collection madatasets/store_gc.py.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import zarr

from madatasets.derived import derive_columns, rebuild_from_columns  # noqa: F401 (re-exported)
from madatasets.card_checks import check_card, check_consistency, check_integrity, read_group_attributes
from madatasets.errors import MadataError
from madatasets.ids import IMPORTED, MAX_VERSION, QUALITIES, DatasetId, parse_id  # noqa: F401 (re-exported)
from madatasets.ids import id_namespaces
from madatasets.integrity import array_checksum  # noqa: F401 (re-exported)
from madatasets.layout import Layout, shared
from madatasets.store_gc import collect_store_garbage
from madatasets.store_read import read_logical
from madatasets.writer import STORE_LAYOUT, VersionWriter
from madatasets.writer import chunking as _chunking, compressor as _compressor  # noqa: F401  (benchmarks)

MARKER = ".madata-store"
STORE_FORMAT = 1
DEFAULT_ROOT = "madata-store"
_READ_ATTEMPTS = 5


def default_root() -> Path:
    return Path(os.environ.get("MADATA_HOME") or DEFAULT_ROOT)


class Store:
    """A dataset store rooted at a directory."""

    def __init__(self, root: str | os.PathLike | None = None, create: bool = False):
        if isinstance(root, str) and "://" in root:
            # Path() would quietly turn s3://b/p into a local folder named "s3:".
            raise MadataError(f"{root} is an object-store URL: such stores are read-only (list, info, verify, "
                              f"stats, export, madatasets.load); use a local store directory here")
        self.root = Path(root) if root is not None else default_root()
        self.layout = Layout(self.root)
        marker = self.root / MARKER
        if marker.exists():
            return
        if self.root.exists() and not self.root.is_dir():
            raise MadataError(f"{self.root} is a file, not a directory; pass --store with a store directory")
        if self.root.exists() and any(self.root.iterdir()):
            raise MadataError(f"{self.root} is not a madata store (no {MARKER} file); "
                              f"pass --store with a store directory or an empty/new path")
        if create:
            self.root.mkdir(parents=True, exist_ok=True)
            temporary = marker.with_name(marker.name + ".tmp")
            temporary.write_text(json.dumps({"format": "madata-store", "version": STORE_FORMAT}) + "\n")
            os.replace(temporary, marker)

    @property
    def exists(self) -> bool:
        return (self.root / MARKER).exists()

    def path(self, dataset_id: DatasetId) -> Path:
        """The id's pointer (a symlink to its current version, or a legacy group directory)."""
        return self.layout.pointer(dataset_id.relative_path)

    def has(self, dataset_id: DatasetId) -> bool:
        directory = self.layout.resolve(dataset_id.relative_path)
        return directory is not None and (self.layout.group_path(directory) / "zarr.json").exists()

    def list(self) -> list[str]:
        """Ids of complete datasets, sorted."""
        if not self.exists:
            return []
        ids = []
        for scenario in id_namespaces(self.root):
            directory = self.root / scenario
            if not directory.is_dir():
                continue
            for entry in sorted(directory.iterdir()):
                if entry.name.startswith("."):
                    continue
                with contextlib.suppress(MadataError):
                    if self.has(parse_id(f"{scenario}/{entry.name}")):
                        ids.append(f"{scenario}/{entry.name}")
        return ids

    def require(self, dataset_id: str) -> DatasetId:
        parsed = parse_id(dataset_id)
        if not self.has(parsed) and os.access(self.root, os.W_OK):
            # A writer that died between the two renames of the fallback swap: put the
            # parked dataset back if nobody is writing the id now.
            with contextlib.suppress(OSError), self.lock(parsed, wait=None) as held:
                if held:
                    self.layout.recover(parsed.relative_path)
        if not self.has(parsed):
            available = self.list()
            hint = ", ".join(available[:10]) if available else "none; create one with `madata collect`"
            raise MadataError(f"dataset {dataset_id!r} not found in store {self.root}; available: {hint}")
        return parsed

    # -- writing ------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, dataset_id: DatasetId, wait: bool = False) -> Iterator[bool]:
        """Exclusive per-id writer lock; released by the OS even if the writer is killed.

        Yields True; with `wait=False` a held lock raises, with `wait=None` it yields False.
        """
        locks = self.root / ".locks"
        locks.mkdir(exist_ok=True)
        handle = open(locks / (str(dataset_id).replace("/", "__") + ".lock"), "w")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                if wait is None:
                    yield False
                    return
                raise MadataError(f"another process is writing {dataset_id} in {self.root}; "
                                  f"wait for it to finish") from None
            yield True
        finally:
            handle.close()

    def check_writable(self, dataset_id: DatasetId, overwrite: bool) -> None:
        if self.has(dataset_id) and not overwrite:
            raise MadataError(f"dataset {dataset_id} already exists in {self.root}; "
                              f"pass --overwrite to replace it")

    @contextlib.contextmanager
    def writing(self, dataset_id: DatasetId, overwrite: bool = False) -> Iterator["Writer"]:
        """Hold the id's lock for a whole collection; yields a `Writer`: call it as
        `write(arrays, card) -> path`, or stream arrays through `write.version(agents)`.

        Refuses at once (before any expensive work) when the id exists and
        `overwrite` is false, or when another process holds the lock. Removes what
        earlier writers of the id left (killed mid-write, or superseded versions
        whose readers are gone).
        """
        with self.lock(dataset_id):
            self.layout.recover(dataset_id.relative_path)
            self.layout.collect_garbage(dataset_id.relative_path)
            self.check_writable(dataset_id, overwrite)
            yield Writer(self, dataset_id)

    def write(self, dataset_id: DatasetId, arrays: dict[str, np.ndarray], card: dict[str, Any],
              overwrite: bool = False) -> Path:
        """Write arrays (keys may be 'agent_0/observations') atomically; returns the dataset path."""
        with self.writing(dataset_id, overwrite) as write:
            return write(arrays, card)

    # -- reading ------------------------------------------------------------------
    @contextlib.contextmanager
    def snapshot(self, dataset_id: DatasetId) -> Iterator[Path]:
        """The group directory of the id's current version, held against garbage collection.

        Everything read inside comes from that one version, whatever writers do meanwhile.
        """
        for _ in range(_READ_ATTEMPTS):
            directory = self.layout.resolve(dataset_id.relative_path)
            if directory is None:
                break
            with shared(directory) as fd:
                if fd is None:
                    continue                # removed after we resolved it: resolve again
                group_path = self.layout.group_path(directory)
                if group_path == directory and Path(f"/proc/self/fd/{fd}").is_dir():
                    # A legacy directory is renamed, not copied, when it is replaced: read it
                    # through the open descriptor, which follows it, not through its old name.
                    group_path = Path(f"/proc/self/fd/{fd}")
                yield group_path
                return
        raise MadataError(f"dataset {dataset_id} not found in store {self.root}")

    def open_group(self, dataset_id: str) -> tuple[DatasetId, zarr.Group]:
        """The id's Zarr group, opened read-only (for direct array access)."""
        parsed = self.require(dataset_id)
        with self.snapshot(parsed) as group_path:
            return parsed, zarr.open_group(group_path, mode="r")

    def card(self, dataset_id: str, verify: bool = True) -> dict[str, Any]:
        """The id's card, checked against its digest unless `verify=False`."""
        parsed = self.require(dataset_id)
        with self.snapshot(parsed) as group_path:
            attributes = read_group_attributes(parsed, group_path)
        return dict(check_card(parsed, attributes) if verify else attributes["card"])

    def read_arrays(self, dataset_id: str, verify: bool = True,
                    full: bool = False) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The card and every array, read whole in one pass (the logical arrays users load).

        With `verify` (the default) the card must match its digest and the integrity
        record the card's; every stored chunk and array metadata must match the record
        as it decodes. Without a record, or with `full`, every array's sha256 is also
        computed as it decodes and must equal the card's.
        """
        parsed = self.require(dataset_id)
        with self.snapshot(parsed) as group_path:
            attributes = read_group_attributes(parsed, group_path)
            card = check_card(parsed, attributes) if verify else attributes["card"]
            records = check_integrity(parsed, attributes) if verify else None
            strict = attributes.get("store_layout", 1) >= STORE_LAYOUT
            arrays = read_logical(parsed, group_path, card, verify, strict, records, full)
        if verify:
            check_consistency(parsed, card, arrays)
        return dict(card), arrays

    def verify(self, dataset_id: str) -> dict[str, str]:
        """Recompute every checksum; raises ChecksumError naming the first bad array."""
        card, _ = self.read_arrays(dataset_id, verify=True, full=True)
        return dict(card["checksums"])

    def disk_bytes(self, dataset_id: str) -> int:
        parsed = self.require(dataset_id)
        with self.snapshot(parsed) as group_path:
            return sum(f.stat().st_size for f in group_path.rglob("*") if f.is_file())

    # -- garbage collection -------------------------------------------------------
    def gc(self) -> list[Path]:
        """Remove superseded versions and what killed writers left (madatasets/store_gc.py)."""
        return collect_store_garbage(self)


class Writer:
    """What `Store.writing` yields, with the id's lock held."""

    def __init__(self, store: Store, dataset_id: DatasetId):
        self.store, self.dataset_id = store, dataset_id

    def __call__(self, arrays: dict[str, np.ndarray], card: dict[str, Any]) -> Path:
        """Write whole arrays and the card as the id's new version; returns the dataset path."""
        with self.version(card.get("scenario_spec", {}).get("agents", [])) as version:
            for name, array in arrays.items():
                version.put(name, array)
            version.commit(card)
        return self.store.path(self.dataset_id)

    @contextlib.contextmanager
    def version(self, agents: list[str] | tuple[str, ...]) -> Iterator[VersionWriter]:
        """A new version to fill (`put`, `stream`) and `commit`; removed if anything fails first."""
        relative = self.dataset_id.relative_path
        version = VersionWriter(self.store.layout, relative, agents)
        try:
            yield version
        finally:
            version.discard_unless_published()
        # Superseded versions nobody is reading go now, the rest at the next write or `madata gc`.
        self.store.layout.collect_garbage(relative)
