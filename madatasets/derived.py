"""States stored as a column map into the observations (the store layout before 2026-12).

Global states are usually made of the agents' observations: mpe2's state is their
concatenation and a MaMuJoCo state's every entry reappears in some agent's local
observation. The writer of that layout stored such a `states` (or `final_states`)
array as a column map into the matching observations, bitwise exact, plus a
residual array of the columns no observation holds (the card's `derived_arrays`).
Plain zarr could not read such a `states`, so the writer now stores every logical
array as it is; this module keeps datasets of the old layout loadable.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np

# Logical arrays the writer may store as columns of another: states <- observations.
DERIVABLE = {"states": "observations", "final_states": "final_observations"}
RESIDUAL_SUFFIX = "_residual"


def derive_columns(target: np.ndarray, source: np.ndarray) -> np.ndarray | None:
    """For each column of `target` (R, S), the index of a bitwise-identical column of
    `source` reshaped to (R, -1), or -1; None when the shapes do not pair up or nothing matches."""
    if target.ndim != 2 or source.ndim < 2 or len(target) != len(source) or target.dtype != source.dtype \
            or len(target) == 0:
        return None
    flat = source.reshape(len(source), -1)
    unsigned = np.dtype(f"u{target.dtype.itemsize}")
    # Whole columns compared as raw bits (so 0.0 / -0.0 and NaN payloads stay exact).
    by_bytes = {np.ascontiguousarray(flat[:, k]).view(unsigned).tobytes(): k for k in range(flat.shape[1] - 1, -1, -1)}
    columns = np.array([by_bytes.get(np.ascontiguousarray(target[:, j]).view(unsigned).tobytes(), -1)
                        for j in range(target.shape[1])], dtype=np.int64)
    return columns if (columns >= 0).any() else None


class ColumnGather:
    """Fills `out` (R, S) from rows of a source array by a column map (-1: left for the residual).

    Callable on any block of rows, so the loader can gather each chunk of the source
    right after decoding it, while it is still in cache, instead of re-reading the whole
    source afterwards.
    """

    def __init__(self, columns: np.ndarray, rows: int, dtype: np.dtype):
        columns = np.asarray(columns)
        self.mapped = columns >= 0
        self.out = np.empty((rows, len(columns)), dtype=dtype)
        # One run of consecutive columns (mpe2: the state is the observations side by side) is a slice.
        self.run = int(columns[0]) if self.mapped.all() and (np.diff(columns) == 1).all() else None
        self.indices = np.where(self.mapped, columns, 0)

    def __call__(self, source_rows: np.ndarray, first: int) -> None:
        flat = source_rows.reshape(len(source_rows), -1)
        out = self.out[first:first + len(flat)]
        if self.run is not None:
            out[...] = flat[:, self.run:self.run + out.shape[1]]
        else:
            # np.take gathers row by row in one pass (per-column slices or fancy indexing are
            # 5-10x slower on 17 MuJoCo columns); mode="clip" (indices are valid) writes
            # straight into `out` without an intermediate buffer.
            np.take(flat, self.indices, axis=1, out=out, mode="clip")

    def finish(self, residual: np.ndarray | None) -> np.ndarray:
        if residual is not None:
            self.out[:, ~self.mapped] = residual
        return self.out


def rebuild_from_columns(source: np.ndarray, columns: np.ndarray, residual: np.ndarray | None) -> np.ndarray:
    """Inverse of the split `derive_columns` plans: gather mapped columns, fill the rest from `residual`."""
    gather = ColumnGather(columns, len(source), source.dtype)
    # np.take releases the GIL: blocks of rows run in parallel.
    blocks = min(os.cpu_count() or 1, max(1, gather.out.size // (1 << 20)))
    step = -(-len(source) // blocks)
    if blocks == 1:
        gather(source, 0)
    else:
        with ThreadPoolExecutor(blocks) as pool:
            for future in [pool.submit(gather, source[i:i + step], i) for i in range(0, len(source), step)]:
                future.result()
    return gather.finish(residual)


def logical_array(name: str, card: dict[str, Any], read: Callable[[str], np.ndarray],
                   sources: dict[str, np.ndarray]) -> np.ndarray:
    """Array `name` as users load it: read as stored, or rebuilt from its column map.

    `sources` keeps the arrays other arrays are rebuilt from, so each is read once.
    """
    derived = card.get("derived_arrays", {})
    source_names = {plan["source"] for plan in derived.values()}

    def stored(key: str) -> np.ndarray:
        if key in sources:
            return sources[key]
        array = read(key)
        if key in source_names:
            sources[key] = array
        return array

    plan = derived.get(name)
    if plan is None:
        return stored(name)
    residual = read(plan["residual"]) if plan["residual"] else None
    return rebuild_from_columns(stored(plan["source"]), np.asarray(plan["columns"]), residual)
