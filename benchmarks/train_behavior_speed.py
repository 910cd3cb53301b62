"""Behaviour-policy training speed: the zoo's TD3 (collectors/td3.py) against stable-baselines3's TD3.

Both train on the same `JointEnv` (halfcheetah-2x3 by default) with the same network
sizes, batch, learning rate and warm-up, one gradient update per environment step,
one torch thread. Reported: environment steps per second over the steps after
warm-up (where the updates are), and the ratio ours / SB3 in this one run. The zoo
uses batch 100 (the TD3 paper's); the rows at batch 256 compare like with like at
SB3's MuJoCo default.

    python benchmarks/train_behavior_speed.py                  # 3,000 steps, 1,000 warm-up
    python benchmarks/train_behavior_speed.py --quick          # 1,200 steps, 400 warm-up
    python benchmarks/train_behavior_speed.py --scenario ant-4x2
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from collectors.behavior import JointEnv, default_config
from collectors.train_td3 import run_td3
from madatasets.scenarios import scenario_names
from timing import positive_int  # benchmarks/timing.py (the script directory is on sys.path)


def ours(scenario: str, steps: int, warmup: int, hidden: tuple[int, ...], batch: int) -> float:
    config = default_config(scenario, steps=steps, learning_starts=warmup, hidden=hidden, batch_size=batch,
                            eval_every=steps // 2, selection_episodes=0)
    start = time.perf_counter()
    run_td3(config, evaluate=False, progress=False)
    return (steps - warmup) / (time.perf_counter() - start)


def sb3(scenario: str, steps: int, warmup: int, hidden: tuple[int, ...], batch: int) -> float:
    from stable_baselines3 import TD3
    from stable_baselines3.common.noise import NormalActionNoise
    env = JointEnv(scenario, 0, warmup)
    size = env.action_space.shape[0]
    model = TD3("MlpPolicy", env, learning_rate=1e-3, buffer_size=steps, learning_starts=warmup, batch_size=batch,
                train_freq=1, gradient_steps=1, policy_kwargs={"net_arch": list(hidden)},
                action_noise=NormalActionNoise(np.zeros(size), np.full(size, 0.1)), seed=0, device="cpu", verbose=0)
    start = time.perf_counter()
    model.learn(steps)
    return (steps - warmup) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=scenario_names(), default="halfcheetah-2x3")
    parser.add_argument("--steps", type=positive_int, default=3_000)
    parser.add_argument("--warmup", type=positive_int, default=1_000)
    parser.add_argument("--quick", action="store_true", help="1,200 steps with 400 warm-up")
    args = parser.parse_args()
    steps, warmup = (1_200, 400) if args.quick else (args.steps, args.warmup)
    if warmup >= steps:
        parser.error(f"--warmup ({warmup}) must be below --steps ({steps})")
    torch.set_num_threads(1)
    print(f"{args.scenario}: {steps} steps, {warmup} warm-up, one update per step after it, one torch thread")
    print(f"{'networks':<10} {'batch':>5} {'zoo TD3 steps/s':>16} {'SB3 TD3 steps/s':>16} {'ratio':>6}")
    for hidden, batch in (((256, 256), 100), ((256, 256), 256), ((64, 64), 256)):
        mine = ours(args.scenario, steps, warmup, hidden, batch)
        theirs = sb3(args.scenario, steps, warmup, hidden, batch)
        name = "x".join(map(str, hidden))
        print(f"{name:<10} {batch:>5} {mine:>16.1f} {theirs:>16.1f} {mine / theirs:>5.2f}x")


if __name__ == "__main__":
    main()
