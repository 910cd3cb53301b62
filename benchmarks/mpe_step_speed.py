"""MPE step speed: the backend's direct step against mpe2's wrapped PettingZoo step, in one run.

Both step the same scenario with the same uniform random actions and the scripted prey;
the direct step (`_MPEBackend.step`) returns the same bytes (tests/test_mpe_step.py), so
the ratio is what every MPE rollout, training run and collection gains.

    python benchmarks/mpe_step_speed.py --steps 5000 --repeats 3
"""

from __future__ import annotations

import argparse

import numpy as np

from madatasets.scenarios import get_spec
from timing import best_of, positive_int  # benchmarks/timing.py (the script directory is on sys.path)

SCENARIOS = ("mpe-spread-3", "mpe-tag-3v1", "mpe-world-4v2")


def seconds(scenario: str, steps: int, method: str, repeats: int) -> float:
    spec = get_spec(scenario)
    backend = spec.builder(spec)
    bounds = backend.native_bounds()
    rng = np.random.default_rng(0)
    actions = [[rng.uniform(low, high).astype(low.dtype) for low, high in bounds] for _ in range(spec.episode_limit)]
    step = getattr(backend, method)

    def run() -> None:
        for episode in range(steps // spec.episode_limit):
            backend.reset(episode)
            for t in range(spec.episode_limit):
                step(actions[t])
    return best_of(repeats, run)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=positive_int, default=5000)
    parser.add_argument("--repeats", type=positive_int, default=3)
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    args = parser.parse_args()
    print("| scenario | wrapped PettingZoo step, steps/s | direct step, steps/s | ratio |")
    print("|---|---|---|---|")
    for name in args.scenarios:
        steps = (args.steps // get_spec(name).episode_limit) * get_spec(name).episode_limit
        wrapped = steps / seconds(name, steps, "step_via_pettingzoo", args.repeats)
        direct = steps / seconds(name, steps, "step", args.repeats)
        print(f"| {name} | {wrapped:,.0f} | {direct:,.0f} | {direct / wrapped:.2f}x |", flush=True)
