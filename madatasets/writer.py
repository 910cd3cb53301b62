"""Writing one immutable dataset version: whole arrays, or arrays streamed shard by shard.

`VersionWriter` fills a fresh version directory (madatasets/layout.py) and, on
`commit`, writes the card with its digest, fsyncs everything and switches the
id's pointer to it. `StreamArray` takes rows as a collection produces them and
writes each shard once, when it is full, hashing it as it goes: memory holds one
shard per array whatever the number of steps, and the checksum is the same
`array_checksum` a whole-array write gives.
"""

from __future__ import annotations

import hashlib
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import BloscCodec

from madatasets.cards import render_card_markdown
from madatasets.integrity import CHUNK_HASH, card_digest, integrity_digest
from madatasets.layout import CARD_MARKDOWN, GROUP, Layout, fsync_tree
from madatasets.schema import array_attributes
from madatasets.shard_layout import chunk_record

# Groups written with immutable versions, every chunk stored and a card digest.
STORE_LAYOUT = 2
# Chunks of at least ~2 MB uncompressed keep compression effective and reads few;
# each shard holds up to 32 chunks and is always written whole.
CHUNK_BYTES = 2 * 1024 * 1024
CHUNKS_PER_SHARD = 32


def chunking(shape: tuple[int, ...], itemsize: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(chunk shape, shard shape): both cut only the time axis."""
    row_bytes = itemsize * math.prod(shape[1:]) if len(shape) > 1 else itemsize
    rows = max(1, min(shape[0], CHUNK_BYTES // max(row_bytes, 1)))
    chunk = (rows,) + tuple(shape[1:])
    shard_rows = min(rows * CHUNKS_PER_SHARD, math.ceil(max(shape[0], 1) / rows) * rows)
    return chunk, (shard_rows,) + tuple(shape[1:])


def compressor() -> BloscCodec:
    # LZ4HC decodes two to three times faster than zstd, which keeps a whole-dataset load
    # near np.load's memory-copy speed; byte shuffle beats bit shuffle on recorded float32
    # trajectories. Measured with benchmarks/store_codecs.py (docs/performance.md).
    return BloscCodec(cname="lz4hc", clevel=9, shuffle="shuffle")


class StreamArray:
    """An array of known shape written in row order, one whole shard at a time."""

    def __init__(self, group: zarr.Group, name: str, shape: tuple[int, ...], dtype: np.dtype,
                 attributes: dict[str, Any]):
        dtype = np.dtype(dtype)
        # Checksums are over little-endian bytes (array_checksum); store and hash those.
        dtype = dtype.newbyteorder("<") if dtype.byteorder == ">" else dtype
        shape = tuple(int(n) for n in shape)
        chunks, shards = chunking(shape, dtype.itemsize)
        # Every chunk stored, zeros too: a missing chunk can then only mean damage.
        self.array = group.create_array(name, shape=shape, dtype=dtype, chunks=chunks, shards=shards,
                                        compressors=compressor(), fill_value=0, attributes=attributes,
                                        config={"write_empty_chunks": True})
        self.shape = tuple(shape)
        self._buffer = np.empty((shards[0],) + self.shape[1:], dtype=dtype)
        self._filled = 0
        self._written = 0
        self._sha = hashlib.sha256(f"{dtype.str}{self.shape}".encode())

    def append(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows)
        if self._written + self._filled + len(rows) > self.shape[0]:
            raise ValueError(f"{self.array.name}: more than the {self.shape[0]} rows declared")
        while len(rows):
            take = min(len(rows), len(self._buffer) - self._filled)
            self._buffer[self._filled:self._filled + take] = rows[:take]
            self._filled += take
            rows = rows[take:]
            if self._filled == len(self._buffer):
                self._flush()

    def _flush(self) -> None:
        if not self._filled:
            return
        block = self._buffer[:self._filled]
        self.array[self._written:self._written + self._filled] = block
        self._sha.update(memoryview(np.ascontiguousarray(block).reshape(-1)).cast("B") if block.size else b"")
        self._written += self._filled
        self._filled = 0

    def close(self) -> str:
        """Write the last shard; returns the array's checksum."""
        self._flush()
        if self._written != self.shape[0]:
            raise ValueError(f"{self.array.name}: {self._written} of {self.shape[0]} declared rows written")
        return self._sha.hexdigest()


class VersionWriter:
    """One new version of a dataset, visible only once `commit` has switched the pointer."""

    def __init__(self, layout: Layout, relative: Path, agents: list[str] | tuple[str, ...]):
        self.layout, self.relative, self.agents = layout, relative, list(agents)
        self.directory = layout.new_version(relative)
        try:
            self.group = zarr.open_group(self.directory / GROUP, mode="w")
        except BaseException:
            shutil.rmtree(self.directory, ignore_errors=True)
            raise
        self.checksums: dict[str, str] = {}
        self._streams: dict[str, StreamArray] = {}

    def put(self, name: str, array: np.ndarray) -> None:
        """Write a whole array."""
        array = np.asarray(array)
        self.stream(name, array.shape, array.dtype).append(array)

    def stream(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> StreamArray:
        """An array to fill in row order with `append`."""
        stream = StreamArray(self.group, name, shape, dtype, array_attributes(name, self.agents))
        self._streams[name] = stream
        return stream

    def commit(self, card: dict[str, Any]) -> None:
        """Close every array, write the card with their checksums, make it durable and visible."""
        for name, stream in self._streams.items():
            self.checksums[name] = stream.close()
            stream.array.attrs["sha256"] = self.checksums[name]
        # The writer owns these fields: a card loaded from another dataset brings its own.
        card = {key: value for key, value in card.items() if key not in ("checksums", "derived_arrays")}
        card["checksums"] = dict(self.checksums)
        # The digest of every stored chunk (and array metadata) as written, bound to the card:
        # what every load checks, at a fraction of the cost of sha256 over the decoded arrays.
        record = {"hash": CHUNK_HASH, "arrays": {name: chunk_record(self.directory / GROUP / name)
                                                 for name in self._streams}}
        card_sha256 = card_digest(card)
        self.group.attrs.update({"card": card, "card_sha256": card_sha256, "integrity": record,
                                 "integrity_sha256": integrity_digest(card_sha256, record),
                                 "store_layout": STORE_LAYOUT})
        (self.directory / CARD_MARKDOWN).write_text(render_card_markdown(card))
        # Durable before visible: after a power loss the pointer never names missing bytes.
        fsync_tree(self.directory)
        self.layout.publish(self.relative, self.directory)

    def discard_unless_published(self) -> None:
        """After a failure: remove the version unless the pointer already names it (a failure
        after the switch, in the final fsync, leaves the new dataset, which must stay)."""
        if self.layout.resolve(self.relative) != self.directory.resolve():
            shutil.rmtree(self.directory, ignore_errors=True)
