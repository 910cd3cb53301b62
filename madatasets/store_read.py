"""Reading one stored version's logical arrays in one verified pass (what `Store.read_arrays` returns).

Stored arrays are decoded by madatasets/fastread.py, their chunks checked against the
integrity record as they decode; derived arrays are gathered from their decoded
sources (madatasets/derived.py); arrays without a record, or every array when `full`,
are checked against the card's sha256. Layouts we did not write are read through zarr.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from madatasets.card_checks import corrupt, stored_arrays
from madatasets.derived import ColumnGather, logical_array
from madatasets.errors import ChecksumError
from madatasets.fastread import read_verified
from madatasets.ids import DatasetId
from madatasets.integrity import array_checksum
from madatasets.shard_layout import CorruptArray


def read_logical(parsed: DatasetId, group_path: Path, card: dict[str, Any], verify: bool,
                 strict: bool, records: dict[str, Any] | None = None,
                 full: bool = False) -> dict[str, np.ndarray]:
    """The card's logical arrays of the version at `group_path`; `verify`, `records` and `full` as in
    `Store.read_arrays`; `strict`: every chunk must be stored (madatasets/fastread.py)."""
    derived = card.get("derived_arrays", {})
    logical = list(card["checksums"])
    names = [name for name in logical if name not in derived]
    names += sorted({stored for plan in derived.values() for stored in (plan["source"], plan["residual"])
                     if stored and stored not in names})
    stored_names = set(stored_arrays(group_path))
    if verify:
        unexpected = sorted(stored_names - set(names))
        if unexpected:
            raise corrupt(parsed, f"arrays {', '.join(unexpected)} are not covered by the card's checksums")
    absent = [name for name in names if name not in stored_names]
    if absent:
        raise corrupt(parsed, f"array {absent[0]!r} is missing")
    if records is not None:
        uncovered = [name for name in names if not isinstance(records.get(name), dict)]
        if uncovered:
            raise corrupt(parsed, f"array {uncovered[0]!r} is not covered by the integrity record")
    gathers: dict[str, ColumnGather] = {}
    hooks: dict[str, list[ColumnGather]] = {}
    try:
        for name, plan in derived.items():
            # A derived array has its source's rows and dtype (derive_columns requires both).
            source_meta = json.loads((group_path / plan["source"] / "zarr.json").read_text())
            gathers[name] = ColumnGather(np.asarray(plan["columns"]), source_meta["shape"][0],
                                         np.dtype(source_meta["data_type"]))
            hooks.setdefault(plan["source"], []).append(gathers[name])
    except (OSError, ValueError, KeyError, TypeError, IndexError) as error:
        raise corrupt(parsed, f"its column map for {name!r} is unusable ({error})") from None
    # Every stored array in one pass (one decoding pool for all), each derived array gathered
    # chunk by chunk from its decoded source; zarr for layouts we did not write.
    try:
        results = read_verified([group_path / name for name in names],
                                after_chunk=[hooks.get(name, []) for name in names],
                                strict=strict, digests=verify and (records is None or full),
                                records=[records[name] for name in names] if records is not None else None)
    except CorruptArray as error:
        name = error.path.relative_to(group_path).as_posix() if error.path.is_relative_to(group_path) \
            else str(error.path)
        raise corrupt(parsed, f"array {name!r} cannot be read: {error.reason}") from None
    except (MemoryError, ValueError, OSError) as error:
        raise corrupt(parsed, f"its arrays cannot be read ({type(error).__name__}: {error})") from None
    fast: dict[str, np.ndarray] = {}
    digests: dict[str, str | None] = {}
    for name, result in zip(names, results):
        if result is None:
            fast[name], digests[name] = _read_with_zarr(parsed, group_path, name), None
        else:
            fast[name], digests[name] = result
    # Arrays whose every stored byte matched the integrity record bound to the card: their
    # decoded values are those the card's sha256 were computed over.
    chunk_verified = set() if records is None or full else \
        {name for name, result in zip(names, results) if result is not None}

    arrays: dict[str, np.ndarray] = {}
    sources: dict[str, np.ndarray] = {}
    for name in logical:
        plan = derived.get(name)
        if plan is None:
            arrays[name] = fast[name]
        elif plan["source"] in fast and name in gathers:
            arrays[name] = gathers[name].finish(fast[plan["residual"]] if plan["residual"] else None)
        else:
            arrays[name] = logical_array(name, card, fast.__getitem__, sources)
        if verify and name not in chunk_verified:
            actual = digests.get(name) if plan is None else None
            actual = actual or array_checksum(arrays[name])
            expected = card["checksums"][name]
            if actual != expected:
                raise ChecksumError(f"{parsed}: array {name!r} checksum mismatch (expected {expected[:16]}..., "
                                    f"got {actual[:16]}...); the dataset is corrupt")
    return arrays


def _read_with_zarr(parsed: DatasetId, group_path: Path, name: str) -> np.ndarray:
    try:
        return zarr.open_array(group_path / name, mode="r")[...]
    except Exception as error:  # zarr raises many types on damaged metadata or chunks
        raise corrupt(parsed, f"array {name!r} cannot be read ({type(error).__name__}: {error})") from None
