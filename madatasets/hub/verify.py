"""Verified reads of one dataset version from any source of its stored bytes.

The same checks as a local load (madatasets/store.py): the card against its digest
(and against the index entry that named it), the integrity record against the
card's, every array's zarr.json and every stored chunk against the record while it
decodes, the card's counts against the arrays. Used for datasets read straight from
a remote (bytes in memory) and for a download's staged directory before it becomes
visible.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from madatasets.errors import ChecksumError
from madatasets.fastread import read_verified
from madatasets.shard_layout import CorruptArray, DiskFiles, MemoryFiles
from madatasets.card_checks import check_card, check_consistency, check_integrity, corrupt
from madatasets.ids import DatasetId
from madatasets.integrity import card_digest

GROUP = PurePosixPath("data.zarr")


def stored_arrays(names: list[str], files: DiskFiles | MemoryFiles, root: PurePosixPath) -> list[str]:
    """Arrays of the group among a version's file names (their zarr.json says node_type array)."""
    arrays = []
    for name in names:
        path = PurePosixPath(name)
        if path.name != "zarr.json" or path.parent == GROUP or GROUP not in path.parents or "c" in path.parts:
            continue
        try:
            if json.loads(bytes(files.read(root / path))).get("node_type") == "array":
                arrays.append(path.parent.relative_to(GROUP).as_posix())
        except (OSError, ValueError, AttributeError):
            continue
    return arrays


def read_group(dataset_id: DatasetId, names: list[str], files: DiskFiles | MemoryFiles,
               root: PurePosixPath = PurePosixPath(), expected_card_sha256: str | None = None,
               ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The card and every array of the version whose files are `names` (relative to `root`)."""
    try:
        attributes = json.loads(bytes(files.read(root / GROUP / "zarr.json")))["attributes"]
        if not isinstance(attributes.get("card"), dict) or not isinstance(attributes["card"].get("checksums"), dict):
            raise TypeError("the card is not an object with a checksum table")
    except FileNotFoundError:
        raise corrupt(dataset_id, "its zarr.json is missing") from None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise corrupt(dataset_id, f"its zarr.json is unreadable ({type(error).__name__}: {error})") from None
    card = check_card(dataset_id, attributes)
    if expected_card_sha256 is not None and card_digest(card) != expected_card_sha256:
        raise ChecksumError(f"{dataset_id}: the card in its files is not the card its index entry lists; "
                            f"the remote is inconsistent, nothing was installed")
    records = check_integrity(dataset_id, attributes)
    if records is None:
        raise corrupt(dataset_id, "it has no integrity record (written before store layout 2); remote datasets "
                                   "need one")
    logical = list(card["checksums"])
    stored = set(stored_arrays(names, files, root))
    if stored != set(logical):
        extra, missing = sorted(stored - set(logical)), sorted(set(logical) - stored)
        raise corrupt(dataset_id, f"its arrays and its card disagree (not in the card: {extra or 'none'}; "
                                   f"missing: {missing or 'none'})")
    uncovered = [name for name in logical if not isinstance(records.get(name), dict)]
    if uncovered:
        raise corrupt(dataset_id, f"array {uncovered[0]!r} is not covered by the integrity record")
    try:
        results = read_verified([root / GROUP / name for name in logical], strict=True, digests=False,
                                records=[records[name] for name in logical], files=files)
    except CorruptArray as error:
        name = PurePosixPath(error.path)
        name = name.relative_to(root / GROUP).as_posix() if (root / GROUP) in name.parents else name.as_posix()
        raise corrupt(dataset_id, f"array {name!r} cannot be read: {error.reason}") from None
    except (MemoryError, ValueError, OSError) as error:
        raise corrupt(dataset_id, f"its arrays cannot be read ({type(error).__name__}: {error})") from None
    arrays = {}
    for name, result in zip(logical, results):
        if result is None:
            raise corrupt(dataset_id, f"array {name!r} is not in the layout madata writes")
        arrays[name] = result[0]
    check_consistency(dataset_id, card, arrays)
    return dict(card), arrays
