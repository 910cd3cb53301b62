"""A remote used as a read-only store: `madatasets.load(id, store="s3://bucket/prefix")`,
`madata info|verify|stats|list --store URL`.

Nothing is written locally: each listed file is fetched into memory (resumed and
retried like a download), checked against the index's size and sha256, and the
arrays are decoded from those bytes with the same verification as a local load
(madatasets/hub/verify.py).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import numpy as np

from madatasets.errors import ChecksumError, MadataError
from madatasets.hub.index import select, split_revision
from madatasets.hub.paths import safe_relative
from madatasets.hub.remotes import open_remote
from madatasets.hub.requirements import check_requirements
from madatasets.hub.transfer import MemorySink, transfer
from madatasets.hub.verify import read_group
from madatasets.integrity import array_checksum
from madatasets.shard_layout import MemoryFiles
from madatasets.store import parse_id


def is_url(store: object) -> bool:
    return isinstance(store, str) and "://" in store and not store.startswith("file://")


class RemoteStore:
    """The read side of `Store` over a remote's index."""

    read_only = True

    def __init__(self, url: str):
        self.remote = open_remote(url)
        self.root = self.remote.url
        self._index: dict[str, Any] | None = None

    def index(self) -> dict[str, Any]:
        if self._index is None:
            self._index = self.remote.index()
        return self._index

    @property
    def exists(self) -> bool:
        return True

    def list(self) -> list[str]:
        return sorted({entry["id"] for entry in self.index()["datasets"]})

    def entry(self, spec: str) -> dict[str, Any]:
        dataset_id, prefix = split_revision(spec)
        parse_id(dataset_id)
        entry = select(self.index(), dataset_id, prefix)
        if entry is None:
            available = self.list()
            raise MadataError(f"dataset {spec!r} not found in remote store {self.root}; available: "
                              f"{', '.join(available[:10]) if available else 'none'}")
        return entry

    def card(self, dataset_id: str, verify: bool = True) -> dict[str, Any]:
        # The index was validated on read: the card matches the entry's card digest.
        return dict(self.entry(dataset_id)["card"])

    def disk_bytes(self, dataset_id: str) -> int:
        return int(self.entry(dataset_id)["total_bytes"])

    def read_arrays(self, dataset_id: str, verify: bool = True,
                    full: bool = False) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        if not verify:
            raise MadataError("reads from a remote store are always verified; drop verify=False")
        entry = self.entry(dataset_id)
        check_requirements(entry)
        parsed = parse_id(entry["id"])
        files: dict[str, bytes] = {}
        for listed in entry["files"]:
            name = str(safe_relative(listed["path"], f"{self.root} entry {entry['id']}"))
            sink = MemorySink()
            transfer(self.remote, f"{entry['path']}/{name}", listed["size"], listed["sha256"], sink)
            files[name] = bytes(sink.data)
        card, arrays = read_group(parsed, list(files), MemoryFiles(files), PurePosixPath(),
                                  expected_card_sha256=entry["card_sha256"])
        if full:
            for name, array in arrays.items():
                if array_checksum(array) != card["checksums"][name]:
                    raise ChecksumError(f"{entry['id']}: array {name!r} checksum mismatch; the dataset is corrupt")
        return card, arrays

    def verify(self, dataset_id: str) -> dict[str, str]:
        card, _ = self.read_arrays(dataset_id, full=True)
        return dict(card["checksums"])
