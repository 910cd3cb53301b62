"""How much one batched matmul saves over the same products one by one, on this CPU.

The ceiling on what stacking agents can gain in training (docs/performance.md):
for each shape, `torch.bmm` over M members against a Python loop of M `torch.mm`
calls on the same matrices, one torch thread, best of `--repeats`.

    python benchmarks/matmul_speed.py
    python benchmarks/matmul_speed.py --quick     # best of 5
"""

from __future__ import annotations

import argparse

import torch

from timing import best_of, positive_int  # benchmarks/timing.py (the script directory is on sys.path)

# (members, rows, inner, out): a 3-agent 64-wide hidden layer at batch 1024, and the
# twin critics of 3 agents on 20 sampled actions per row (2N members, 20 * 1024 rows).
SHAPES = [(3, 1024, 64, 64), (6, 20480, 64, 64), (3, 1024, 18, 64)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=positive_int, default=50)
    parser.add_argument("--threads", type=positive_int, default=1)
    parser.add_argument("--quick", action="store_true", help="best of 5 instead of --repeats")
    args = parser.parse_args()
    repeats = 5 if args.quick else args.repeats
    torch.set_num_threads(args.threads)
    print("| members x (rows x inner) @ (inner x out) | one bmm, us | GFLOP/s | loop of mm, us | bmm speed-up |")
    print("|---|---|---|---|---|")
    for members, rows, inner, out in SHAPES:
        left, right = torch.randn(members, rows, inner), torch.randn(members, inner, out)
        torch.bmm(left, right), torch.mm(left[0], right[0])    # warm-up: first calls allocate and dispatch
        batched = best_of(repeats, lambda: torch.bmm(left, right))
        looped = best_of(repeats, lambda: [torch.mm(left[m], right[m]) for m in range(members)])
        gflops = 2 * members * rows * inner * out / batched / 1e9
        print(f"| {members} x ({rows} x {inner}) @ ({inner} x {out}) | {batched * 1e6:,.0f} | {gflops:.0f} | "
              f"{looped * 1e6:,.0f} | {looped / batched:.2f}x |")


if __name__ == "__main__":
    main()
