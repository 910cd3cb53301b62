"""Read a whole Zarr v3 array written by our store in one pass, decoding in parallel.

zarr-python's generic read path costs about three times the bare Blosc decode of
the same bytes and does not overlap decoding across chunks. Our writer fixes the
layout (madatasets/shard_layout.py: the chunk grid cuts only the time axis, each
shard is `sharding_indexed` with its index at the end), so this reader maps each
shard file once, checks the index CRC, and
decompresses every chunk straight from the page cache into its rows of the
output array from a thread pool (Blosc releases the GIL). Any other layout
returns None and the caller falls back to zarr.

Whatever goes wrong while reading our layout (unreadable metadata, a missing
shard or chunk where `strict`, a bad shard index, a chunk that does not
decompress) raises `CorruptArray` naming the array's path: never fill values in
place of data that should be there.

With an integrity record for an array (madatasets/integrity.py: the digest of its
zarr.json bytes and of every stored chunk), each chunk's compressed bytes are
hashed and compared in the decoding thread just before they are decompressed,
and the zarr.json bytes before they are parsed; a mismatch is `CorruptArray`.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePath
from typing import Callable, Sequence

import numpy as np
from numcodecs import blosc

from madatasets.integrity import StreamDigest, chunk_digest
from madatasets.shard_layout import (DISK, EMPTY, CorruptArray, DiskFiles, MemoryFiles, read_meta, shard_index,
                                     supported_config)

# Called on each decoded block of rows: f(rows, first_row).
AfterChunk = Callable[[np.ndarray, int], None]


def read_array(path: Path, threads: int | None = None, strict: bool = False) -> np.ndarray | None:
    """The array at `path` (a Zarr v3 array directory), or None if its layout is not ours."""
    return read_arrays([path], threads, strict=strict)[0]


def read_arrays(paths: Sequence[Path], threads: int | None = None,
                after_chunk: Sequence[Sequence[AfterChunk]] | None = None,
                strict: bool = False) -> list[np.ndarray | None]:
    """Several arrays at once (None for each whose layout is not ours).

    The chunks of every array go to one thread pool, largest first, so that small
    arrays (one chunk each) decode while the large ones finish instead of each
    array waiting for its own pool to drain. `after_chunk[i]` are called as
    `f(rows, first_row)` on every block of rows of array i right after it is decoded,
    in the decoding thread, while the block is still in cache (the store rebuilds
    derived arrays this way); every row is passed exactly once.

    `strict`: every chunk must be stored (our writer writes all of them, zeros
    included), so a missing one is damage, not fill value.
    """
    return [None if result is None else result[0]
            for result in read_verified(paths, threads, after_chunk, strict, digests=False)]


def read_verified(paths: Sequence[Path], threads: int | None = None,
                  after_chunk: Sequence[Sequence[AfterChunk]] | None = None, strict: bool = False,
                  digests: bool = True, records: Sequence[dict | None] | None = None,
                  files: DiskFiles | MemoryFiles | None = None) -> list[tuple[np.ndarray, str | None] | None]:
    """`read_arrays`, plus each array's `array_checksum` computed while it decodes
    (None without `digests`): every block of rows is hashed in row order by whichever
    decoding thread finds it next, so hashing overlaps the decoding of other chunks.

    `records[i]`: array i's integrity record (`chunk_record`); its zarr.json and every
    chunk's stored bytes must match it (a missing chunk is then always an error).
    `files`: where the stored bytes come from (default: the paths on disk)."""
    files = files or DISK
    planned = []
    for i, path in enumerate(paths):
        after = list(after_chunk[i]) if after_chunk else []
        record = records[i] if records else None
        path = Path(path) if isinstance(files, DiskFiles) else PurePath(path)
        planned.append(_plan(path, after, strict or record is not None, digests, record, files))
    # Largest arrays first, each array's chunks in row order: the stream digest of an array
    # then hashes each chunk as soon as it is decoded instead of waiting for an earlier one.
    jobs = sorted((job for plan in planned if plan is not None for job in plan[1]),
                  key=lambda job: (-job[1].nbytes, id(job[1]), job[5]))
    if jobs:
        with ThreadPoolExecutor(threads or os.cpu_count() or 1) as pool:
            for future in [pool.submit(_decode_chunk, *job) for job in jobs]:
                future.result()
    results: list[tuple[np.ndarray, str | None] | None] = []
    for path, plan in zip(paths, planned):
        if plan is None:
            results.append(None)
            continue
        out, _, digest = plan
        try:
            results.append((out, digest.hexdigest() if digest is not None else None))
        except ValueError as error:     # rows that no chunk covered
            raise CorruptArray(Path(path), str(error)) from None
    return results


def _decode_chunk(path: Path, out: np.ndarray, data: memoryview, nbytes: int, start: int, first_row: int,
                  chunk_rows: int, after: list[AfterChunk], expected: str | None = None) -> None:
    if expected is not None:
        if start + nbytes > len(data):
            raise CorruptArray(path, f"the shard index of the chunk at row {first_row} points past the end of "
                                     f"its shard")
        if chunk_digest(data[start:start + nbytes]) != expected:
            raise CorruptArray(path, f"chunk at row {first_row} does not match its digest (damaged)")
    try:
        _decode_rows(out, data, nbytes, start, first_row, chunk_rows)
    except Exception as error:      # Blosc raises RuntimeError/ValueError on damaged frames
        raise CorruptArray(path, f"chunk at row {first_row} does not decode ({error})") from None
    last_row = min(first_row + chunk_rows, out.shape[0])
    for hook in after:
        hook(out[first_row:last_row], first_row)


def _decode_rows(out: np.ndarray, data: memoryview, nbytes: int, start: int, first_row: int,
                 chunk_rows: int) -> None:
    if start + nbytes > len(data):
        raise ValueError("the shard index points past the end of the shard")
    last_row = min(first_row + chunk_rows, out.shape[0])
    if last_row - first_row == chunk_rows:
        blosc.decompress(data[start:start + nbytes], out[first_row:last_row])
    else:
        # The edge chunk is stored padded to the full chunk shape.
        whole = np.frombuffer(blosc.decompress(data[start:start + nbytes]), dtype=out.dtype)
        rows = last_row - first_row
        out[first_row:last_row] = whole[: rows * out[0:1].size].reshape((rows,) + out.shape[1:])


def _fill(out: np.ndarray, first_row: int, rows: int, fill: object, after: list[AfterChunk]) -> None:
    """Rows zarr did not store (all fill value): written directly, and passed on like decoded rows."""
    block = out[first_row:first_row + rows]
    block[...] = fill
    for hook in after:
        hook(block, first_row)



def _plan(path: Path, after: list[AfterChunk], strict: bool = False, digest: bool = False,
          record: dict | None = None,
          files: DiskFiles | MemoryFiles = DISK) -> tuple[np.ndarray, list[tuple], StreamDigest | None] | None:
    """The (empty) output array, one decode job per stored chunk and the array's stream
    digest (fed by every block of rows like the other hooks); fills empty chunks directly.
    With `record`, each job carries its chunk's expected digest."""
    meta = read_meta(path, record, files)
    config = supported_config(meta)
    if config is None:
        return None
    shape = tuple(meta["shape"])
    dtype = np.dtype(meta["data_type"]).newbyteorder("<")
    out = np.empty(shape, dtype=dtype)
    stream = StreamDigest(out) if digest else None
    if stream is not None:
        after = after + [stream]
    if out.size == 0:
        # No row holds a byte: the digest is the header's alone.
        if stream is not None and out.shape[0]:
            stream(out, 0)
        return out, [], stream
    shard_rows = meta["chunk_grid"]["configuration"]["chunk_shape"][0]
    chunk_rows = config["chunk_shape"][0]
    chunks_per_shard = shard_rows // chunk_rows
    fill = meta.get("fill_value", 0)
    n_shards = -(-shape[0] // shard_rows)
    key_tail = "/0" * (len(shape) - 1)
    expected = None
    if record is not None:
        expected = record.get("chunks")
        if not isinstance(expected, list) or len(expected) != -(-shape[0] // chunk_rows):
            raise CorruptArray(path, "the integrity record does not list one digest per chunk")
    jobs = []
    for shard in range(n_shards):
        shard_path = path / "c" / f"{shard}{key_tail}"
        first = shard * shard_rows
        if not files.exists(shard_path):
            if strict:
                raise CorruptArray(path, f"shard file {shard_path.relative_to(path)} (rows from {first}) is missing")
            _fill(out, first, shard_rows, fill, after)
            continue
        data, offsets = shard_index(path, shard_path, chunks_per_shard, files)
        for chunk, (start, nbytes) in enumerate(offsets):
            first_row = first + chunk * chunk_rows
            if first_row >= shape[0]:
                continue
            if int(nbytes) == EMPTY:
                if strict:
                    raise CorruptArray(path, f"chunk at row {first_row} is missing from its shard")
                _fill(out, first_row, chunk_rows, fill, after)
            else:
                digest_of = None if expected is None else expected[first_row // chunk_rows]
                if expected is not None and digest_of is None:
                    raise CorruptArray(path, f"chunk at row {first_row} is not in the integrity record")
                jobs.append((path, out, data, int(nbytes), int(start), first_row, chunk_rows, after, digest_of))
    return out, jobs, stream
