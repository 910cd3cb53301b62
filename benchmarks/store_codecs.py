"""Which Blosc codec, and which read path, for the store (docs/performance.md).

Rewrites every array of an existing dataset (every logical array stored whole,
states included, as the store writes them) with each candidate codec in the
store's own chunk and shard layout, then reports disk size against the raw
logical arrays and the read time of every stored array with zarr-python's generic
path and with our reader (`madatasets.fastread`), best of 3 from the page cache.

    python benchmarks/store_codecs.py --dataset mpe-spread-3/random-v1
    python benchmarks/store_codecs.py --quick     # the kept codec against zstd 5 only
    python benchmarks/store_codecs.py --dataset ... --rows 300000   # the first 300k steps only
    python benchmarks/store_codecs.py --dataset ... --transposed    # time-innermost candidates only

"T" candidates put the time axis innermost with the standard `transpose` codec and
give Blosc one block per chunk, so each column's series is contiguous and a column
that repeats another (an observation value two agents both see, the shared team
reward) is one long match for the compressor; our reader does not read that
layout, so only zarr's read time is reported for them.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import BloscCodec, TransposeCodec

import madatasets
from timing import best_of  # benchmarks/timing.py (the script directory is on sys.path)
from madatasets.errors import MadataError
from madatasets.fastread import read_array
from madatasets.store import _chunking

CANDIDATES = [("zstd", 9, "bitshuffle"), ("zstd", 9, "shuffle"), ("zstd", 5, "bitshuffle"), ("zstd", 5, "shuffle"),
              ("zstd", 3, "shuffle"), ("zstd", 1, "shuffle"), ("lz4", 5, "shuffle"), ("lz4hc", 5, "shuffle"),
              ("lz4hc", 9, "shuffle"), ("lz4hc", 9, "bitshuffle"), ("lz4hc", 5, "bitshuffle")]
QUICK_CANDIDATES = [("zstd", 5, "shuffle"), ("lz4hc", 9, "shuffle")]   # before and after the switch
TRANSPOSED_CANDIDATES = [("lz4hc", 9, "shuffle", "T"), ("zstd", 3, "shuffle", "T"), ("zstd", 5, "shuffle", "T"),
                         ("zstd", 9, "shuffle", "T"), ("zstd", 5, "bitshuffle", "T")]


def codec_arguments(array_shape: tuple[int, ...], chunk_rows: int, itemsize: int, cname: str, level: int,
                    shuffle: str, transposed: bool) -> dict:
    """create_array's codec arguments: the store's row-major Blosc, or time innermost in one Blosc block."""
    if not transposed:
        return {"compressors": BloscCodec(cname=cname, clevel=level, shuffle=shuffle)}
    block = chunk_rows * itemsize * max(1, int(np.prod(array_shape[1:])))
    order = tuple(range(1, len(array_shape))) + (0,)
    return {"filters": TransposeCodec(order=order),
            "compressors": BloscCodec(cname=cname, clevel=level, shuffle=shuffle, blocksize=block)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mpe-spread-3/random-v1")
    parser.add_argument("--store", default=None)
    parser.add_argument("--quick", action="store_true", help="zstd 5 and LZ4HC 9, byte shuffle, only")
    parser.add_argument("--transposed", action="store_true", help="the time-innermost candidates only")
    parser.add_argument("--rows", type=int, default=None,
                        help="only the first ROWS rows of every per-step array (per-episode arrays whole)")
    args = parser.parse_args()
    try:
        logical = madatasets.load(args.dataset, args.store).arrays
    except MadataError as error:
        parser.exit(2, f"store_codecs.py: error: {error}\n")
    steps = len(logical["actions"])
    arrays = {name: array[:args.rows] if args.rows and len(array) == steps else array
              for name, array in logical.items()}
    raw = sum(a.nbytes for a in arrays.values())
    print(f"{args.dataset}: {raw / 1e6:.1f} MB raw")
    print("| codec | disk/raw | write s | zarr read s | our read s |")
    print("|---|---|---|---|---|")
    candidates = TRANSPOSED_CANDIDATES if args.transposed else QUICK_CANDIDATES if args.quick else CANDIDATES
    for cname, level, shuffle, *layout in candidates:
        transposed = layout == ["T"]
        with tempfile.TemporaryDirectory() as directory:
            group = zarr.open_group(directory, mode="w")
            start = time.perf_counter()
            for name, array in arrays.items():
                chunks, shards = _chunking(array.shape, array.dtype.itemsize)
                codecs = codec_arguments(array.shape, chunks[0], array.dtype.itemsize, cname, level, shuffle,
                                         transposed)
                stored = group.create_array(name, shape=array.shape, dtype=array.dtype, chunks=chunks, shards=shards,
                                            fill_value=0, **codecs)
                stored[...] = array
            write = time.perf_counter() - start
            disk = sum(f.stat().st_size for f in Path(directory).rglob("*") if f.is_file())
            reader = zarr.open_group(directory, mode="r")
            zarr_read = best_of(3, lambda: {name: reader[name][...] for name in arrays})
            if transposed:      # not our layout: fastread would fall back to zarr
                fast = "-"
            else:
                fast = f"{best_of(3, lambda: {name: read_array(Path(directory) / name) for name in arrays}):.3f}"
            label = f"{cname} {level}, {shuffle}" + (", T (time innermost, one block)" if transposed else "")
        print(f"| {label} | {disk / raw:.3f} | {write:.2f} | {zarr_read:.3f} | {fast} |", flush=True)
    print(f"(cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
