"""Store speed and size: `madatasets.load` of a dataset (verified, the default, and with
`verify=False`) against `np.load` of the same uncompressed arrays (all from the page
cache), and disk bytes per step against raw.

    python benchmarks/store_speed.py --dataset mpe-spread-3/random-v1   # an existing dataset
    python benchmarks/store_speed.py --steps 1000000                      # collect a fresh one first
    python benchmarks/store_speed.py --quick                              # 100k fresh steps
    python benchmarks/store_speed.py --dataset ... --store ... --rewrite  # also a copy by today's writer

`--rewrite` measures the dataset as stored and a copy written by the current
writer (codec, per-chunk integrity record) from its loaded arrays, whose
checksums must be the card's: a writer change measured on the same data.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

import madatasets
from timing import best_of, positive_int  # benchmarks/timing.py (the script directory is on sys.path)
from collectors.collect import collect
from madatasets.errors import MadataError
from madatasets.integrity import array_checksum
from madatasets.store import Store, parse_id


def measure(dataset_id: str, store: Store, repeats: int) -> dict[str, float]:
    dataset = madatasets.load(dataset_id, store)      # also warms the page cache
    steps = len(dataset)
    raw_bytes = sum(a.nbytes for a in dataset.arrays.values())
    with tempfile.TemporaryDirectory() as npy_dir:
        paths = []
        for name, array in dataset.arrays.items():
            path = Path(npy_dir) / (name.replace("/", "__") + ".npy")
            np.save(path, array)
            paths.append(path)
        for path in paths:
            np.load(path)                              # warm the page cache for np.load too
        npy_seconds = best_of(repeats, lambda: [np.load(p) for p in paths])
    # What verification adds at least: sha256 of every array, alone, in one thread.
    hash_seconds = best_of(repeats, lambda: [array_checksum(a) for a in dataset.arrays.values()])
    load_seconds = best_of(repeats, lambda: madatasets.load(dataset_id, store))
    unverified_seconds = best_of(repeats, lambda: madatasets.load(dataset_id, store, verify=False))
    # `madata verify`: also every array's sha256 over the decoded values (what loads did before
    # the per-chunk digests, and still do on datasets written without them).
    full_seconds = best_of(repeats, lambda: store.read_arrays(dataset_id, verify=True, full=True))
    disk = store.disk_bytes(dataset_id)
    return {"steps": steps, "hash_s": hash_seconds, "load_s": load_seconds, "unverified_s": unverified_seconds, "npy_s": npy_seconds,
            "full_s": full_seconds,
            "disk_bytes_per_step": disk / steps, "raw_bytes_per_step": raw_bytes / steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", help="existing dataset id in --store")
    parser.add_argument("--store", default=None)
    parser.add_argument("--scenario", default="mpe-spread-3", help="scenario to collect when no --dataset")
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=positive_int, default=3)
    parser.add_argument("--quick", action="store_true", help="collect 100k steps instead of --steps")
    parser.add_argument("--rewrite", action="store_true",
                        help="also measure a copy of the dataset written by the current writer")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            if args.dataset:
                store, dataset_id = Store(args.store), args.dataset
            else:
                store = Store(Path(tmp) / "store", create=True)
                # The id collect wrote (its version is the zoo's), read back from the path it returns.
                path = collect(args.scenario, "random", steps=100_000 if args.quick else args.steps, seed=0,
                               workers=args.workers, store=store, progress=False)
                dataset_id = f"{args.scenario}/{Path(path).name}"
            rows.append((dataset_id, measure(dataset_id, store, args.repeats)))
            if args.rewrite:
                dataset = madatasets.load(dataset_id, store)
                copy = Store(Path(tmp) / "rewritten", create=True)
                copy.write(parse_id(dataset_id), dataset.arrays, dataset.card)
                if copy.card(dataset_id)["checksums"] != dataset.card["checksums"]:
                    raise SystemExit("the rewritten copy has other checksums")
                del dataset
                rows.append((f"{dataset_id}, rewritten", measure(dataset_id, copy, args.repeats)))
        except MadataError as error:    # unknown scenario or dataset, bad --steps/--workers
            parser.exit(2, f"store_speed.py: error: {error}\n")
    print("| dataset | steps | load s (verified) | load s (verify=False) | np.load s | ratio verified | "
          "ratio unverified | full verify s (sha256) | ratio full | disk bytes/step | raw bytes/step | disk/raw |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, row in rows:
        print(f"| {name} | {row['steps']:,} | {row['load_s']:.3f} | {row['unverified_s']:.3f} | {row['npy_s']:.3f} | "
              f"{row['load_s'] / row['npy_s']:.2f}x | {row['unverified_s'] / row['npy_s']:.2f}x | "
              f"{row['full_s']:.3f} | {row['full_s'] / row['npy_s']:.2f}x | "
              f"{row['disk_bytes_per_step']:.1f} | "
              f"{row['raw_bytes_per_step']:.1f} | {row['disk_bytes_per_step'] / row['raw_bytes_per_step']:.2f} |")
    for name, row in rows:
        print(f"\n{name}: sha256 of every array alone, one thread: {row['hash_s']:.3f} s")
    print(f"(load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
