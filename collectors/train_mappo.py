"""Run MAPPO (`collectors/mappo.py`) on a fixed-horizon scenario, resumably, like `run_td3`.

MPE trains the parameter-shared actor (`actor="shared"`); Swimmer, whose episodes
never terminate either, the joint actor (PPO on the joint view).

The run folder (default `.madata-runs/<scenario>-seed<S>`) holds the trainer's whole
state between rollouts; `--resume` continues it bit for bit and may raise the budget.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from collectors.actors import Checkpoint, MLPActor
from collectors.joint_env import JointEnv
from collectors.mappo import PPOHyperparameters, PPOTrainer
from collectors.mpe_forces import force_layout
from collectors.run_support import TargetReached, checkpoint_saver, progress_bar, snapshot_evaluator, stop_after
from collectors.train_config import TrainConfig, validate_config
from collectors.train_td3 import restore, shared_actor_layout
from madatasets.errors import MadataError
from madatasets.scenarios import get_spec


def mappo_hyperparameters(config: TrainConfig) -> tuple[PPOHyperparameters, int]:
    """The learner's settings and the scenario's fixed episode length (validated by the config)."""
    validate_config(config)
    horizon = get_spec(config.scenario).episode_limit
    per_round = config.n_envs * horizon
    params = PPOHyperparameters(hidden=tuple(config.hidden), learning_rate=config.learning_rate, gamma=config.gamma,
                                gae_lambda=config.gae_lambda, n_epochs=config.n_epochs,
                                minibatches=config.minibatches, entropy_coef=config.entropy_coef,
                                log_std_init=config.log_std_init, anneal_steps=config.anneal_steps,
                                n_envs=config.n_envs, episodes_per_rollout=config.n_steps // per_round)
    return params, horizon


def run_mappo(config: TrainConfig, evaluate: bool = True, stop_at: int | None = None, record: bool = False,
              progress: bool = True, run_dir: Path | None = None, resume: bool = False,
              save_every_seconds: float = 300.0, stop_when: Callable[[int, float, MLPActor], bool] | None = None
              ) -> tuple[list[Checkpoint], list[dict[str, Any]], PPOTrainer]:
    """Train (or continue) MAPPO; returns the checkpoints, the recorded episodes (with
    `record=True`, in episode-index order) and the trainer. `stop_when(step,
    eval_mean, actor)` ends the run after the first periodic evaluation it accepts."""
    torch.set_num_threads(1)
    params, horizon = mappo_hyperparameters(config)
    envs = [JointEnv(config.scenario, config.seed, 0, record=record, reward_shaping=config.reward_shaping,
                     shaping_lead=config.shaping_lead)
            for _ in range(params.n_envs)]
    layout = shared_actor_layout(config.scenario, config.opponent_state) if config.actor == "shared" else None
    action_dim, output_map = envs[0].action_space.shape[0], None
    if config.action_parametrization == "forces":
        if layout is None:
            raise MadataError("action_parametrization=forces needs the shared actor (actor=shared)")
        reduced, output_map = force_layout(config.scenario, layout[1])
        layout, action_dim = (layout[0], reduced), sum(reduced)
    trainer = PPOTrainer(envs[0].observation_space.shape[0], action_dim, layout, horizon, config.seed, params,
                         output_map=output_map)
    meta = {"config": config.to_dict()}
    restore(trainer, run_dir, meta, config, resume, record)
    indices: list[list[int]] = [[] for _ in envs]   # each copy's episode indices, in its order

    def env_reset(copy: int, episode_index: int) -> np.ndarray:
        indices[copy].append(episode_index)
        envs[copy].episode_index = episode_index
        return envs[copy].reset()[0]

    def env_step(copy: int, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool]:
        state, reward, terminated, truncated, _ = envs[copy].step(action)
        return state, reward, terminated, truncated

    bar = progress_bar(config, trainer.state.step, stop_at, progress)
    on_snapshot = snapshot_evaluator(config, bar, evaluate, progress,
                                     lambda learner: MLPActor(*learner.exported_layers()), stop_when)
    save = checkpoint_saver(run_dir, meta)
    try:
        trainer.run(config.steps, env_reset, env_step, on_snapshot, config.eval_every, save=save,
                    save_every_seconds=save_every_seconds, stop_at=stop_at,
                    on_rollout=stop_after(on_snapshot, lambda step, batch: bar.update(step - bar.n)))
    except TargetReached:
        pass
    bar.close()
    recorded = sorted((index, episode) for copy, env in enumerate(envs)
                      for index, episode in zip(indices[copy], env.episodes))
    checkpoints = [Checkpoint(s["step"], MLPActor(s["weights"], s["biases"]), s.get("eval_mean"), s.get("eval_std"),
                              s["before_updates"]) for s in trainer.state.snapshots]
    return checkpoints, [episode for _, episode in recorded], trainer


def rollout_chain_at(trainer: PPOTrainer, step: int) -> str:
    """The sha256 chain over every transition up to `step` (a snapshot step)."""
    for snapshot in trainer.state.snapshots:
        if snapshot["step"] == step:
            return snapshot["rollout_chain"]
    raise MadataError(f"no MAPPO snapshot at step {step}")
