"""Settings sweep of the SMAX zoo's learner (collectors/smax_mappo.py): docs/smax.md's table.

    python benchmarks/smax_ppo_sweep.py smax-3m 1000000 "hidden=(64,64);n_epochs=4;entropy_coef=0.01" ...

Each argument after the budget is one run (seed 0): `;`-separated SmaxPPOConfig fields
(Python literals). Prints the greedy win rate over 200 episodes at 0, 1/5, ..., 5/5 of the
budget and the wall time.
"""

from __future__ import annotations

import ast
import sys
import time

from collectors.smax_mappo import SmaxPPOConfig
from collectors.smax_zoo import train_smax


def main() -> None:
    scenario, steps = sys.argv[1], int(sys.argv[2])
    for settings in sys.argv[3:]:
        overrides = {} if settings == "-" else {
            key: ast.literal_eval(value) for key, _, value in (item.partition("=") for item in settings.split(";"))}
        started = time.time()
        run = train_smax(scenario, steps, 0, SmaxPPOConfig(**overrides), None, eval_every=steps // 5,
                         eval_episodes=200, dense_until=0)
        curve = " ".join(f"{s['win_rate']:.2f}" for s in run["snapshots"])
        print(f"{settings:60s} win rate {curve}  ({time.time() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
