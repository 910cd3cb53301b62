"""The Zarr v3 layout our store writes, as madatasets/fastread.py reads it: which arrays have it, their
zarr.json, shard files and shard indexes, where the stored bytes come from (files on disk or in
memory), and each array's integrity record (`chunk_record`).

The layout: the chunk grid cuts only the time axis; each shard is `sharding_indexed`
with inner codecs [bytes little-endian, blosc] and a [bytes, crc32c] index at the end,
as the Zarr v3 sharding specification lays it out. Bytes that cannot be what the
writer wrote raise `CorruptArray` naming the array's path.
"""

from __future__ import annotations

import json
import math
import mmap
import os
from pathlib import Path, PurePath

import numpy as np
from numcodecs.checksum32 import CRC32C

from madatasets.integrity import chunk_digest

# The shard index's (offset, nbytes) of a chunk that is not stored.
EMPTY = 2**64 - 1


class CorruptArray(Exception):
    """An array directory whose bytes cannot be what the writer wrote."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


_CRC = CRC32C()


def supported_config(meta: dict) -> dict | None:
    """The sharding configuration when `meta` has exactly the layout we write, else None."""
    try:
        codecs = meta["codecs"]
        if meta.get("zarr_format") != 3 or len(codecs) != 1 or codecs[0]["name"] != "sharding_indexed":
            return None
        config = codecs[0]["configuration"]
        inner = [c["name"] for c in config["codecs"]]
        index = [c["name"] for c in config["index_codecs"]]
        if inner != ["bytes", "blosc"] or index != ["bytes", "crc32c"] or config.get("index_location", "end") != "end":
            return None
        if config["codecs"][0].get("configuration", {}).get("endian", "little") != "little":
            return None
        if meta["chunk_key_encoding"]["name"] != "default" or meta["chunk_key_encoding"].get(
                "configuration", {}).get("separator", "/") != "/":
            return None
        shape = meta["shape"]
        shard_shape = meta["chunk_grid"]["configuration"]["chunk_shape"]
        if list(shard_shape[1:]) != list(shape[1:]) or list(config["chunk_shape"][1:]) != list(shape[1:]):
            return None
        if np.dtype(meta["data_type"]).kind not in "biuf":
            return None
        return config
    except (KeyError, TypeError, IndexError):
        return None


def _map(path: Path) -> memoryview:
    """The file's bytes, mapped rather than read: Blosc then decodes straight from the page
    cache, which saves copying the whole compressed shard once."""
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return memoryview(b"")
        return memoryview(mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ))


class DiskFiles:
    """Where the reader gets stored bytes: files on disk (the default)."""

    def read(self, path: PurePath) -> memoryview:
        """The bytes of a stored file; FileNotFoundError when it is not there."""
        return _map(Path(path))

    def exists(self, path: PurePath) -> bool:
        return Path(path).exists()


class MemoryFiles:
    """Stored bytes already in memory, keyed by POSIX path (a dataset fetched from an object
    store, madatasets/hub): the same checks and decoding as for files on disk."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files

    def read(self, path: PurePath) -> memoryview:
        try:
            return memoryview(self.files[PurePath(path).as_posix()])
        except KeyError:
            raise FileNotFoundError(2, "No such file", str(path)) from None

    def exists(self, path: PurePath) -> bool:
        return PurePath(path).as_posix() in self.files


DISK = DiskFiles()


def read_meta(path: Path, record: dict | None = None, files: DiskFiles | MemoryFiles | None = None) -> dict:
    """The array's zarr.json, checked against the integrity record's digest of its bytes."""
    try:
        raw = bytes((files or DISK).read(path / "zarr.json"))
        if record is not None and chunk_digest(raw) != record.get("meta"):
            raise CorruptArray(path, "the array's zarr.json does not match the integrity record (edited or damaged)")
        meta = json.loads(raw.decode())
    except FileNotFoundError:
        raise CorruptArray(path, "the array's zarr.json is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CorruptArray(path, f"the array's zarr.json is unreadable ({error})") from None
    if not isinstance(meta, dict):
        raise CorruptArray(path, "the array's zarr.json is not a JSON object")
    return meta


def shard_index(path: Path, shard_path: Path, chunks_per_shard: int,
                files: DiskFiles | MemoryFiles | None = None) -> tuple[memoryview, np.ndarray]:
    """The shard's bytes and its (offset, nbytes) per chunk, the index CRC checked."""
    data = (files or DISK).read(shard_path)
    index_bytes = chunks_per_shard * 16
    if len(data) < index_bytes + 4:
        raise CorruptArray(path, f"shard file {shard_path.relative_to(path)} is truncated")
    index = data[len(data) - index_bytes - 4: len(data) - 4]
    if int.from_bytes(data[len(data) - 4:], "little") != int.from_bytes(_CRC.encode(index)[-4:], "little"):
        raise CorruptArray(path, f"shard index checksum mismatch in {shard_path.relative_to(path)}")
    return data, np.frombuffer(index, dtype="<u8").reshape(chunks_per_shard, 2)


def chunk_record(path: Path) -> dict | None:
    """The integrity record of an array we wrote: the digest of its zarr.json bytes and of
    every stored chunk's bytes in row order (None for a chunk not stored); None when the
    layout is not ours."""
    meta = read_meta(path)
    config = supported_config(meta)
    if config is None:
        return None
    record: dict = {"meta": chunk_digest((path / "zarr.json").read_bytes()), "chunks": []}
    shape = meta["shape"]
    if math.prod(shape) == 0:
        return record
    shard_rows = meta["chunk_grid"]["configuration"]["chunk_shape"][0]
    chunk_rows = config["chunk_shape"][0]
    key_tail = "/0" * (len(shape) - 1)
    for shard in range(-(-shape[0] // shard_rows)):
        shard_path = path / "c" / f"{shard}{key_tail}"
        if not shard_path.exists():
            record["chunks"] += [None] * (shard_rows // chunk_rows)
            continue
        data, offsets = shard_index(path, shard_path, shard_rows // chunk_rows)
        for start, nbytes in offsets:
            record["chunks"].append(None if int(nbytes) == EMPTY
                                    else chunk_digest(data[int(start):int(start) + int(nbytes)]))
    del record["chunks"][-(-shape[0] // chunk_rows):]     # the last shard's chunks past the end
    return record
