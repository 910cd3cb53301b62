"""Which Blosc codec, and which read path, for the store (docs/performance.md).

Rewrites every array of an existing dataset (every logical array stored whole,
states included, as the store writes them) with each candidate codec in the
store's own chunk and shard layout, then reports disk size against the raw
logical arrays and the read time of every stored array with zarr-python's generic
path and with our reader (`madatasets.fastread`), best of 3 from the page cache.

    python benchmarks/store_codecs.py --dataset mpe-spread-3/random-v0
    python benchmarks/store_codecs.py --quick     # the kept codec against zstd 5 only
    python benchmarks/store_codecs.py --dataset ... --rows 300000   # the first 300k steps only
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import zarr
from zarr.codecs import BloscCodec

import madatasets
from timing import best_of  # benchmarks/timing.py (the script directory is on sys.path)
from madatasets.errors import MadataError
from madatasets.fastread import read_array
from madatasets.store import _chunking

CANDIDATES = [("zstd", 9, "bitshuffle"), ("zstd", 9, "shuffle"), ("zstd", 5, "bitshuffle"), ("zstd", 5, "shuffle"),
              ("zstd", 3, "shuffle"), ("zstd", 1, "shuffle"), ("lz4", 5, "shuffle"), ("lz4hc", 5, "shuffle"),
              ("lz4hc", 9, "shuffle"), ("lz4hc", 9, "bitshuffle"), ("lz4hc", 5, "bitshuffle")]
QUICK_CANDIDATES = [("zstd", 5, "shuffle"), ("lz4hc", 9, "shuffle")]   # before and after the switch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mpe-spread-3/random-v0")
    parser.add_argument("--store", default=None)
    parser.add_argument("--quick", action="store_true", help="zstd 5 and LZ4HC 9, byte shuffle, only")
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
    for cname, level, shuffle in QUICK_CANDIDATES if args.quick else CANDIDATES:
        with tempfile.TemporaryDirectory() as directory:
            group = zarr.open_group(directory, mode="w")
            start = time.perf_counter()
            for name, array in arrays.items():
                chunks, shards = _chunking(array.shape, array.dtype.itemsize)
                stored = group.create_array(name, shape=array.shape, dtype=array.dtype, chunks=chunks, shards=shards,
                                            compressors=BloscCodec(cname=cname, clevel=level, shuffle=shuffle),
                                            fill_value=0)
                stored[...] = array
            write = time.perf_counter() - start
            disk = sum(f.stat().st_size for f in Path(directory).rglob("*") if f.is_file())
            reader = zarr.open_group(directory, mode="r")
            zarr_read = best_of(3, lambda: {name: reader[name][...] for name in arrays})
            fast_read = best_of(3, lambda: {name: read_array(Path(directory) / name) for name in arrays})
        print(f"| {cname} {level}, {shuffle} | {disk / raw:.3f} | {write:.2f} | {zarr_read:.3f} | {fast_read:.3f} |",
              flush=True)
    print(f"(cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
