"""Disk size with pcodec, a numerical compressor outside the Zarr specification (docs/performance.md).

For every array of a stored dataset: LZ4HC 9 with byte shuffle (the store's codec, on the
whole array), pcodec level 8 on the array flattened row-major (time, then agent and
feature, as a Zarr chunk is), pcodec on each column in time order (the array
transposed), and the better of the two pcodec layouts per array; each against the raw
bytes, with pcodec's decode time. Needs `pip install pcodec` (not a madata dependency).

    python benchmarks/store_pcodec.py halfcheetah-2x3/random-v1 --rows 200000
"""

from __future__ import annotations

import argparse
import time

import numcodecs
import numpy as np

import madatasets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--store", default=None)
    parser.add_argument("--rows", type=int, default=None, help="only the first ROWS rows of every array")
    args = parser.parse_args()
    from pcodec import ChunkConfig, standalone
    arrays = madatasets.load(args.dataset, args.store).arrays
    blosc = numcodecs.Blosc(cname="lz4hc", clevel=9, shuffle=numcodecs.Blosc.SHUFFLE)
    totals = dict.fromkeys(("raw", "lz4hc", "flat", "columns", "best"), 0)
    print("| array | shape | LZ4HC 9 | pcodec, row-major | pcodec, per column | pcodec decode s |")
    print("|---|---|---|---|---|---|")
    for name, array in sorted(arrays.items()):
        array = np.ascontiguousarray(np.asarray(array)[:args.rows])
        lz4hc = len(blosc.encode(array))
        flat = columns = lz4hc
        decode = 0.0
        if array.dtype.kind == "f":
            flat = len(standalone.simple_compress(array.ravel(), ChunkConfig(compression_level=8)))
            encoded = standalone.simple_compress(np.ascontiguousarray(array.reshape(len(array), -1).T).ravel(),
                                                 ChunkConfig(compression_level=8))
            columns = len(encoded)
            started = time.perf_counter()
            standalone.simple_decompress(encoded)
            decode = time.perf_counter() - started
        for key, size in (("raw", array.nbytes), ("lz4hc", lz4hc), ("flat", flat), ("columns", columns),
                          ("best", min(flat, columns, lz4hc))):
            totals[key] += size
        print(f"| {name} | {array.shape} | {lz4hc / array.nbytes:.3f} | {flat / array.nbytes:.3f} | "
              f"{columns / array.nbytes:.3f} | {decode:.3f} |")
    raw = totals["raw"]
    print(f"| **all** | {raw / 1e6:.1f} MB raw | {totals['lz4hc'] / raw:.3f} | {totals['flat'] / raw:.3f} | "
          f"{totals['columns'] / raw:.3f} | best layout per array: {totals['best'] / raw:.3f} |")


if __name__ == "__main__":
    main()
