"""Training with stable-baselines3 (`--algorithm sb3-td3|sac|ppo`): zoo version 0's learners,
kept selectable; zoo version 1 trains with our own TD3 (collectors/td3.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm.auto import tqdm

from collectors.actors import PERIODIC_EVAL_SEED, Checkpoint, evaluate_actor, export_actor
from collectors.joint_env import JointEnv
from collectors.train_config import TrainConfig, validate_config
from madatasets.optional import require


def _checkpoint_callback(config: TrainConfig, evaluate: bool, stop_at: int | None, progress: bool):
    from stable_baselines3.common.callbacks import BaseCallback

    class Checkpoints(BaseCallback):
        """Every `eval_every` env steps: snapshot the actor (before that step's update) and evaluate it."""

        def __init__(self) -> None:
            super().__init__()
            self.checkpoints: list[Checkpoint] = []
            total = stop_at or config.steps
            self.bar = tqdm(total=total, unit="step", desc=f"train {config.scenario}", disable=not progress,
                            mininterval=2.0)

        def _on_step(self) -> bool:
            self.bar.update(1)
            step = self.num_timesteps
            # Besides every `eval_every` steps, snapshot the freshly initialised actor at the end of
            # warm-up: a candidate `early` policy when the first trained checkpoint is already medium.
            warmup_end = step == config.learning_starts and config.learning_starts > 0
            if step % config.eval_every == 0 or warmup_end:
                # A snapshot taken before SB3's first update is still the initial actor.
                checkpoint = Checkpoint(step, export_actor(self.model, config.algorithm),
                                        before_updates=step <= first_update_step(config))
                if evaluate:
                    returns = evaluate_actor(config.scenario, checkpoint.actor, config.eval_episodes,
                                             PERIODIC_EVAL_SEED + config.seed)
                    checkpoint.eval_mean, checkpoint.eval_std = float(returns.mean()), float(returns.std())
                    self.bar.set_postfix(step=step, eval=f"{checkpoint.eval_mean:.1f}")
                    if progress and not self.bar.disable:
                        self.bar.write(f"step {step}: eval return {checkpoint.eval_mean:.2f} "
                                       f"+- {checkpoint.eval_std:.2f}")
                self.checkpoints.append(checkpoint)
            return stop_at is None or step < stop_at

        def _on_training_end(self) -> None:
            self.bar.close()

    return Checkpoints()


def first_update_step(config: TrainConfig) -> int:
    """Environment steps before SB3's first gradient update (end of warm-up / first rollout)."""
    return config.n_steps if config.algorithm == "ppo" else config.learning_starts


def run_training(config: TrainConfig, evaluate: bool = True, stop_at: int | None = None,
                 record: bool = False, progress: bool = True) -> tuple[list[Checkpoint], JointEnv]:
    """Train; returns the checkpoints and the env (with its recorded transitions)."""
    import torch

    if config.algorithm == "td3":
        from collectors.train_td3 import run_td3
        checkpoints, env, _ = run_td3(config, evaluate=evaluate, stop_at=stop_at, record=record, progress=progress)
        return checkpoints, env

    require("stable_baselines3")   # a one-line install hint instead of an ImportError
    from stable_baselines3 import PPO, SAC, TD3

    validate_config(config)
    torch.set_num_threads(1)  # reproducible and polite on a shared CPU
    env = JointEnv(config.scenario, config.seed, config.learning_starts, record=record,
                   reward_shaping=config.reward_shaping,
                   shaping_lead=config.shaping_lead)
    callback = _checkpoint_callback(config, evaluate, stop_at, progress)
    total = config.steps if stop_at is None else stop_at
    if config.algorithm == "ppo":
        # ReLU hidden layers (SB3's PPO default is tanh) so the exported actor has the zoo's form.
        model = PPO("MlpPolicy", env, learning_rate=config.learning_rate, n_steps=config.n_steps,
                    batch_size=config.batch_size, n_epochs=config.n_epochs, gamma=config.gamma,
                    policy_kwargs={"net_arch": list(config.hidden), "activation_fn": torch.nn.ReLU},
                    seed=config.seed, device="cpu", verbose=0)
        _quiet_logger(model)
        model.learn(total_timesteps=total, callback=callback)
        return callback.checkpoints, env
    algorithm = {"sac": SAC, "sb3-td3": TD3}[config.algorithm]
    extra: dict[str, Any] = {}
    if config.algorithm == "sb3-td3":
        from stable_baselines3.common.noise import NormalActionNoise
        size = env.action_space.shape[0]
        # SB3 draws this noise from numpy's global generator, which `seed=` seeds.
        extra["action_noise"] = NormalActionNoise(np.zeros(size), np.full(size, config.exploration_sigma))
    model = algorithm(
        "MlpPolicy", env, **extra, learning_rate=config.learning_rate, buffer_size=config.steps,
        learning_starts=config.learning_starts, batch_size=config.batch_size, tau=config.tau,
        gamma=config.gamma, train_freq=1, gradient_steps=1,
        policy_kwargs={"net_arch": list(config.hidden)}, seed=config.seed, device="cpu", verbose=0)
    _quiet_logger(model)
    model.learn(total_timesteps=total, callback=callback)
    return callback.checkpoints, env


def _quiet_logger(model: Any) -> None:
    # Without a logger of its own, SB3 creates an empty SB3-<time> folder in /tmp per run.
    from stable_baselines3.common.logger import Logger
    model.set_logger(Logger(folder=None, output_formats=[]))
