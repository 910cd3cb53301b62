"""What acting the same on every CPU costs: a zoo actor's call with `portable_product` (a fixed
pairwise tree of elementwise float32 operations) against the same MLP with `@` (BLAS), per call
at the batch sizes collection uses, for the shipped experts of a few scenarios.

    python benchmarks/actor_speed.py            # best of 200 blocks of 100 calls
    python benchmarks/actor_speed.py --quick    # best of 20
"""

from __future__ import annotations

import argparse

import numpy as np

from collectors.actors import MLPActor
from collectors.zoo_index import ZOO_DIR
from timing import best_of, positive_int  # benchmarks/timing.py (the script directory is on sys.path)

SCENARIOS = ("mpe-spread-3", "mpe-world-4v2", "halfcheetah-2x3", "ant-4x2")
CALLS = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=positive_int, default=200)
    parser.add_argument("--quick", action="store_true", help="best of 20 instead of --repeats")
    args = parser.parse_args()
    repeats = 20 if args.quick else args.repeats
    print("scenario         layers               batch  portable us/call  BLAS us/call  ratio")
    for scenario in SCENARIOS:
        actor = MLPActor.load(ZOO_DIR / scenario / "expert.npz")
        shape = "x".join(str(w.shape[0]) for w in actor.weights) + f"x{actor.output_size}"
        for batch in (1, 32):
            inputs = np.random.default_rng(0).standard_normal((batch, actor.input_size)).astype(np.float32)
            portable = best_of(repeats, lambda: [actor(inputs) for _ in range(CALLS)]) / CALLS * 1e6
            blas = best_of(repeats, lambda: [actor.act(inputs, np.matmul) for _ in range(CALLS)]) / CALLS * 1e6
            print(f"{scenario:<16} {shape:<20} {batch:>5} {portable:>17.1f} {blas:>13.1f} {portable / blas:>5.2f}x")


if __name__ == "__main__":
    main()
