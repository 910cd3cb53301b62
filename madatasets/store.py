"""The versioned dataset store: Zarr v3 groups on the local filesystem.

Layout::

    <root>/.madata-store               marker: this directory is a store
    <root>/<scenario>/<quality>-v<N>/  one Zarr group per dataset, with
        zarr.json                      group metadata; attributes hold the card
        <array>/                       time-major arrays (or agent_<i>/<array>)
        DATASET_CARD.md                the card, for people
    <root>/.tmp/                       datasets being written
    <root>/.locks/                     one lock file per dataset id

A dataset becomes visible only through one `os.rename` of a complete directory,
so a killed writer leaves nothing that `list` or `load` would take as a dataset.

Global states are usually made of the agents' observations: mpe2's state is their
concatenation and a MaMuJoCo state's every entry reappears in some agent's local
observation. The writer stores such a `states` (or `final_states`) array as a
column map into the matching observations, bitwise exact, plus a residual array
of the columns no observation holds (the scripted prey's view in tag, for
example); `read_arrays` rebuilds it. The card's `checksums` are those of the
logical arrays users load, so `verify` checks the rebuilt states.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import re
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import zarr
from zarr.codecs import BloscCodec

from madatasets.cards import render_card_markdown
from madatasets.errors import ChecksumError, MadataError
from madatasets.fastread import read_arrays
from madatasets.scenarios import get_spec, scenario_names

QUALITIES = ("random", "medium", "medium-replay", "expert", "medium-expert", "mixed")
MARKER = ".madata-store"
STORE_FORMAT = 1
DEFAULT_ROOT = "madata-store"
# Chunks of at least ~2 MB uncompressed keep compression effective and reads few;
# each shard holds up to 32 chunks and is always written whole.
CHUNK_BYTES = 2 * 1024 * 1024
CHUNKS_PER_SHARD = 32
_ID_PATTERN = re.compile(r"^(?P<scenario>[a-z0-9][a-z0-9-]*)/(?P<quality>[a-z-]+)-v(?P<version>\d+)$")


@dataclass(frozen=True)
class DatasetId:
    scenario: str
    quality: str
    version: int

    def __str__(self) -> str:
        return f"{self.scenario}/{self.quality}-v{self.version}"

    @property
    def relative_path(self) -> Path:
        return Path(self.scenario) / f"{self.quality}-v{self.version}"


def parse_id(dataset_id: str) -> DatasetId:
    """Parse '<scenario>/<quality>-v<N>', checking scenario and quality."""
    match = _ID_PATTERN.match(dataset_id or "")
    if not match:
        raise MadataError(f"invalid dataset id {dataset_id!r}; expected <scenario>/<quality>-v<N>, "
                          f"e.g. mpe-spread-3/random-v0")
    scenario, quality = match["scenario"], match["quality"]
    get_spec(scenario)
    if quality not in QUALITIES:
        raise MadataError(f"unknown quality {quality!r} in {dataset_id!r}; valid: {', '.join(QUALITIES)}")
    return DatasetId(scenario, quality, int(match["version"]))


def default_root() -> Path:
    return Path(os.environ.get("MADATA_HOME") or DEFAULT_ROOT)


def array_checksum(array: np.ndarray) -> str:
    """sha256 of the array's C-order little-endian bytes, prefixed by dtype and shape."""
    array = np.ascontiguousarray(array)
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def _chunking(shape: tuple[int, ...], itemsize: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    row_bytes = itemsize * math.prod(shape[1:]) if len(shape) > 1 else itemsize
    rows = max(1, min(shape[0], CHUNK_BYTES // max(row_bytes, 1)))
    chunk = (rows,) + tuple(shape[1:])
    shard_rows = min(rows * CHUNKS_PER_SHARD, math.ceil(max(shape[0], 1) / rows) * rows)
    return chunk, (shard_rows,) + tuple(shape[1:])


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


def _logical_array(name: str, card: dict[str, Any], read: Callable[[str], np.ndarray],
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


def _split_derivable(arrays: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays to store and, per derived logical array, how to rebuild it."""
    stored, derived = dict(arrays), {}
    for name, array in arrays.items():
        prefix, _, base = name.rpartition("/")
        if base not in DERIVABLE:
            continue
        source_name = f"{prefix}/{DERIVABLE[base]}" if prefix else DERIVABLE[base]
        if source_name not in arrays:
            continue
        columns = derive_columns(np.asarray(array), np.asarray(arrays[source_name]))
        if columns is None:
            continue
        del stored[name]
        plan: dict[str, Any] = {"source": source_name, "columns": columns.tolist(), "residual": None}
        if (columns < 0).any():
            plan["residual"] = name + RESIDUAL_SUFFIX
            stored[plan["residual"]] = np.ascontiguousarray(np.asarray(array)[:, columns < 0])
        derived[name] = plan
    return stored, derived


def _compressor() -> BloscCodec:
    # LZ4HC decodes two to three times faster than zstd, which keeps a whole-dataset load
    # near np.load's memory-copy speed, for about 15% more disk than zstd 5 (0.54 vs 0.47
    # of raw on halfcheetah, 0.41 vs 0.36 on spread); byte shuffle beats bit shuffle on
    # recorded float32 trajectories. Measured with benchmarks/store_codecs.py
    # (docs/performance.md).
    return BloscCodec(cname="lz4hc", clevel=9, shuffle="shuffle")


class Store:
    """A dataset store rooted at a directory."""

    def __init__(self, root: str | os.PathLike | None = None, create: bool = False):
        self.root = Path(root) if root is not None else default_root()
        marker = self.root / MARKER
        if marker.exists():
            return
        if self.root.exists() and not self.root.is_dir():
            raise MadataError(f"{self.root} is not a directory; pass --store with a store directory")
        if self.root.exists() and any(self.root.iterdir()):
            raise MadataError(f"{self.root} is not a madata store (no {MARKER} file); "
                              f"pass --store with a store directory or an empty/new path")
        if create:
            self.root.mkdir(parents=True, exist_ok=True)
            marker.write_text(json.dumps({"format": "madata-store", "version": STORE_FORMAT}) + "\n")

    @property
    def exists(self) -> bool:
        return (self.root / MARKER).exists()

    def path(self, dataset_id: DatasetId) -> Path:
        return self.root / dataset_id.relative_path

    def has(self, dataset_id: DatasetId) -> bool:
        return (self.path(dataset_id) / "zarr.json").exists()

    def list(self) -> list[str]:
        """Ids of complete datasets, sorted."""
        if not self.exists:
            return []
        ids = []
        for scenario in scenario_names():
            for group in sorted((self.root / scenario).glob("*-v*")):
                candidate = f"{scenario}/{group.name}"
                with contextlib.suppress(MadataError):
                    if self.has(parse_id(candidate)):
                        ids.append(candidate)
        return ids

    def require(self, dataset_id: str) -> DatasetId:
        parsed = parse_id(dataset_id)
        if not self.has(parsed):
            available = self.list()
            hint = ", ".join(available[:10]) if available else "none; create one with `madata collect`"
            raise MadataError(f"dataset {dataset_id!r} not found in store {self.root}; available: {hint}")
        return parsed

    @contextlib.contextmanager
    def lock(self, dataset_id: DatasetId) -> Iterator[None]:
        """Exclusive per-id writer lock; released by the OS even if the writer is killed."""
        locks = self.root / ".locks"
        locks.mkdir(exist_ok=True)
        handle = open(locks / (str(dataset_id).replace("/", "__") + ".lock"), "w")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise MadataError(f"another process is writing {dataset_id} in {self.root}; "
                                  f"wait for it to finish") from None
            yield
        finally:
            handle.close()

    def check_writable(self, dataset_id: DatasetId, overwrite: bool) -> None:
        if self.has(dataset_id) and not overwrite:
            raise MadataError(f"dataset {dataset_id} already exists in {self.root}; "
                              f"pass --overwrite to replace it")

    @contextlib.contextmanager
    def writing(self, dataset_id: DatasetId, overwrite: bool = False) -> Iterator[Callable[..., Path]]:
        """Hold the id's lock for a whole collection; yields `write(arrays, card) -> path`.

        Refuses at once (before any expensive work) when the id exists and
        `overwrite` is false, or when another process holds the lock.
        """
        with self.lock(dataset_id):
            self.check_writable(dataset_id, overwrite)
            yield lambda arrays, card: self._write_unlocked(dataset_id, arrays, card)

    def write(self, dataset_id: DatasetId, arrays: dict[str, np.ndarray], card: dict[str, Any],
              overwrite: bool = False) -> Path:
        """Write arrays (keys may be 'agent_0/observations') atomically; returns the dataset path."""
        with self.writing(dataset_id, overwrite) as write:
            return write(arrays, card)

    def _write_unlocked(self, dataset_id: DatasetId, arrays: dict[str, np.ndarray],
                        card: dict[str, Any]) -> Path:
        # Checksums are computed from the exact arrays written and stored in the card.
        tmp_root = self.root / ".tmp"
        tmp_root.mkdir(exist_ok=True)
        staging = tmp_root / f"{uuid.uuid4().hex}"
        try:
            group = zarr.open_group(staging, mode="w")
            checksums = {name: array_checksum(np.ascontiguousarray(array)) for name, array in arrays.items()}
            to_store, derived = _split_derivable(arrays)
            for name, array in to_store.items():
                array = np.ascontiguousarray(array)
                chunks, shards = _chunking(array.shape, array.dtype.itemsize)
                stored = group.create_array(name, shape=array.shape, dtype=array.dtype, chunks=chunks,
                                            shards=shards, compressors=_compressor(), fill_value=0)
                stored[...] = array
            card = {**card, "checksums": checksums}
            if derived:
                card["derived_arrays"] = derived
            group.attrs["card"] = card
            (staging / "DATASET_CARD.md").write_text(render_card_markdown(card))
            final = self.path(dataset_id)
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.exists():
                # Swap with two renames so that a reader never sees a half-replaced dataset.
                trash = tmp_root / f"old-{uuid.uuid4().hex}"
                os.rename(final, trash)
                os.rename(staging, final)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                os.rename(staging, final)
            return final
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def open_group(self, dataset_id: str) -> tuple[DatasetId, zarr.Group]:
        parsed = self.require(dataset_id)
        return parsed, zarr.open_group(self.path(parsed), mode="r")

    def card(self, dataset_id: str) -> dict[str, Any]:
        _, group = self.open_group(dataset_id)
        return dict(group.attrs["card"])

    def read_arrays(self, dataset_id: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The card and every array, read whole in one pass (the logical arrays users load)."""
        parsed, group = self.open_group(dataset_id)
        card = dict(group.attrs["card"])

        derived = card.get("derived_arrays", {})
        names = [name for name in card["checksums"] if name not in derived]
        names += sorted({stored for plan in derived.values() for stored in (plan["source"], plan["residual"])
                         if stored and stored not in names})
        gathers: dict[str, ColumnGather] = {}
        hooks: dict[str, list[ColumnGather]] = {}
        for name, plan in derived.items():
            # A derived array has its source's rows and dtype (derive_columns requires both).
            source_meta = json.loads((self.path(parsed) / plan["source"] / "zarr.json").read_text())
            gathers[name] = ColumnGather(np.asarray(plan["columns"]), source_meta["shape"][0],
                                         np.dtype(source_meta["data_type"]))
            hooks.setdefault(plan["source"], []).append(gathers[name])
        # Every stored array in one pass (one decoding pool for all), each derived array gathered
        # chunk by chunk from its decoded source; zarr for layouts we did not write.
        fast = dict(zip(names, read_arrays([self.path(parsed) / name for name in names],
                                           after_chunk=[hooks.get(name, []) for name in names])))

        def read(name: str) -> np.ndarray:
            array = fast.get(name)
            return group[name][...] if array is None else array

        arrays: dict[str, np.ndarray] = {}
        sources: dict[str, np.ndarray] = {}
        for name in card["checksums"]:
            plan = derived.get(name)
            if plan is not None and fast.get(plan["source"]) is not None:
                arrays[name] = gathers[name].finish(read(plan["residual"]) if plan["residual"] else None)
            else:
                arrays[name] = _logical_array(name, card, read, sources)
        return card, arrays

    def verify(self, dataset_id: str) -> dict[str, str]:
        """Recompute every checksum; raises ChecksumError naming the first bad array."""
        _, group = self.open_group(dataset_id)
        card = dict(group.attrs["card"])
        sources: dict[str, np.ndarray] = {}
        for name, expected in card["checksums"].items():
            try:
                # zarr's own read path, so that a damaged chunk raises instead of being skipped.
                actual = array_checksum(_logical_array(name, card, lambda stored: group[stored][...], sources))
            except Exception as error:  # a corrupt chunk may fail to decompress at all
                raise ChecksumError(f"{dataset_id}: array {name!r} cannot be read ({type(error).__name__}: "
                                    f"{error}); the dataset is corrupt") from None
            if actual != expected:
                raise ChecksumError(f"{dataset_id}: array {name!r} checksum mismatch "
                                    f"(expected {expected[:16]}..., got {actual[:16]}...)")
        return dict(card["checksums"])

    def disk_bytes(self, dataset_id: str) -> int:
        path = self.path(self.require(dataset_id))
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
