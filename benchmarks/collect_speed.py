"""Collection speed: `madata collect` steps/s against bare environment stepping.

"Bare" steps the simulator's own PettingZoo parallel env (mpe2 / gymnasium-robotics)
with uniform random actions, recording nothing. "collect" runs the whole
`collectors.collect.collect` path (rollout, policy inference, assembly, checksums,
compressed write) into a temporary store, with 1 and 2 worker processes, for the
random tier and for a policy-driven tier (expert: the zoo's joint actor evaluated
once per step for all agents, plus Gaussian action noise).

    python benchmarks/collect_speed.py                 # 20k steps per measurement
    python benchmarks/collect_speed.py --quick         # 4k steps
    python benchmarks/collect_speed.py --scenarios --smax smax-3m --smax-steps 200000   # SMAX rows only

SMAX rows (random tier, one process, XLA on one thread): "rollout" is the vectorized
jitted rollout alone (`VectorRollout.run`, 256 slots), "collect" the whole
`collect` path including assembly, checksums and the compressed write. Both run once
first to compile (JAX's persistent cache makes later processes skip most of it); the
compile time is printed separately.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from collectors.collect import available_qualities, collect
from collectors.rollout import episode_seeds
from madatasets.scenarios import make, scenario_names
from timing import positive_int  # benchmarks/timing.py (the script directory is on sys.path)


def bare_steps_per_second(scenario: str, steps: int, seed: int = 0) -> float:
    env = make(scenario)
    raw = env._backend.env          # the simulator's own ParallelEnv
    spec = env.spec
    team = env._backend.team
    bounds = env._backend.native_bounds()
    others = [a for a in raw.possible_agents if a not in team]
    episode = 0
    env_seed, rng = episode_seeds(seed, episode)
    raw.reset(seed=env_seed)
    start = time.perf_counter()
    for _ in range(steps):
        joint = rng.uniform(-1.0, 1.0, size=(spec.n_agents, spec.act_dim)).astype(np.float32)
        actions = {agent: (low + (joint[i, : spec.act_sizes[i]] + 1) * 0.5 * (high - low)).astype(low.dtype)
                   for i, (agent, (low, high)) in enumerate(zip(team, bounds))}
        for agent in others:   # scripted opponents get a fixed no-op in the bare loop
            actions[agent] = np.zeros(raw.action_space(agent).shape, dtype=np.float32)
        _, _, terminations, truncations, _ = raw.step(actions)
        if any(terminations.values()) or any(truncations.values()):
            episode += 1
            env_seed, rng = episode_seeds(seed, episode)
            raw.reset(seed=env_seed)
    return steps / (time.perf_counter() - start)


def collect_steps_per_second(scenario: str, quality: str, steps: int, workers: int) -> float:
    with tempfile.TemporaryDirectory() as store:
        start = time.perf_counter()
        collect(scenario, quality, steps=steps, seed=0, workers=workers, store=store, progress=False)
        return steps / (time.perf_counter() - start)


def smax_rows(scenarios: list[str], steps: int, repeats: int) -> None:
    from madatasets.smax import SMAX_MAPS, single_thread_flags
    single_thread_flags()
    from collectors.smax_collect import DEFAULT_SLOTS
    from madatasets.smax_vector import vector_rollout
    print("| scenario | tier | slots | compile + first chunk s | rollout steps/s | collect steps/s |")
    print("|---|---|---|---|---|---|")
    for scenario in scenarios:
        rollout = vector_rollout(SMAX_MAPS[scenario][0], "random", DEFAULT_SLOTS)
        start = time.perf_counter()
        rollout.run(0, steps=1)
        compile_s = time.perf_counter() - start
        best_rollout = best_collect = 0.0
        for _ in range(repeats):
            start = time.perf_counter()
            rollout.run(0, steps=steps)
            best_rollout = max(best_rollout, steps / (time.perf_counter() - start))
            best_collect = max(best_collect, collect_steps_per_second(scenario, "random", steps, 1))
        print(f"| {scenario} | random | {DEFAULT_SLOTS} | {compile_s:.1f} | {best_rollout:,.0f} | "
              f"{best_collect:,.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", nargs="*", default=["mpe-spread-3", "halfcheetah-2x3", "hopper-3x1"],
                        choices=[n for n in scenario_names() if not n.startswith("smax-")], metavar="SCENARIO")
    parser.add_argument("--smax", nargs="*", default=["smax-3m"],
                        choices=[n for n in scenario_names() if n.startswith("smax-")], metavar="SCENARIO")
    parser.add_argument("--smax-steps", type=positive_int, default=200_000)
    parser.add_argument("--steps", type=positive_int, default=20_000)
    parser.add_argument("--qualities", nargs="+", default=["random", "expert"], choices=available_qualities(),
                        metavar="QUALITY")
    parser.add_argument("--repeats", type=positive_int, default=3,
                        help="rounds of every measurement, interleaved; the best of each is reported")
    parser.add_argument("--quick", action="store_true", help="4,000 steps per measurement, 1 round")
    args = parser.parse_args()
    steps = 4_000 if args.quick else args.steps
    repeats = 1 if args.quick else args.repeats
    if args.scenarios:
        print("| scenario | tier | bare steps/s | collect 1 worker | ratio | collect 2 workers | ratio |")
        print("|---|---|---|---|---|---|---|")
    for scenario in args.scenarios:
        # Rounds interleave bare stepping and collection so that a change in machine
        # load hits both; best-of keeps the least disturbed round of each.
        best: dict[tuple[str, int], float] = {}
        for _ in range(repeats):
            best["bare", 0] = max(best.get(("bare", 0), 0.0), bare_steps_per_second(scenario, steps))
            for quality in args.qualities:
                for workers in (1, 2):
                    rate = collect_steps_per_second(scenario, quality, steps, workers)
                    best[quality, workers] = max(best.get((quality, workers), 0.0), rate)
        bare = best["bare", 0]
        for quality in args.qualities:
            one, two = best[quality, 1], best[quality, 2]
            print(f"| {scenario} | {quality} | {bare:,.0f} | {one:,.0f} | {one / bare:.2f}x | {two:,.0f} | "
                  f"{two / bare:.2f}x |", flush=True)
    if args.smax:
        print()
        smax_rows(args.smax, 20_000 if args.quick else args.smax_steps, repeats)


if __name__ == "__main__":
    main()
