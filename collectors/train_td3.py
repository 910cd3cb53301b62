"""Run the zoo's own TD3 (`collectors/td3.py`) on a scenario's joint view, resumably.

A run keeps its whole state in a run folder (default `.madata-runs/<scenario>-seed<S>`,
ignored by git): `madata train-behavior SCENARIO --resume` continues from there and
gives the same checkpoints, bit for bit, as a run that was never interrupted.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from collectors.actors import Checkpoint, MLPActor
from collectors.joint_env import JointEnv
from collectors.run_support import TargetReached, checkpoint_saver, progress_bar, snapshot_evaluator, stop_after
from collectors.train_config import TrainConfig
from collectors.td3 import TD3Hyperparameters, TD3Trainer
from collectors.trainer_state import load_checkpoint
from madatasets.errors import MadataError
from madatasets.scenarios import get_spec, make

RUNS_DIR = Path(".madata-runs")


def default_run_dir(config: TrainConfig) -> Path:
    learner = "" if config.algorithm == "td3" else f"-{config.algorithm}"
    return RUNS_DIR / f"{config.scenario}{learner}-seed{config.seed}"


def shared_actor_layout(scenario: str, opponent_state: bool = False) -> tuple[list[list[int]], list[int]]:
    """Each agent's observation as indices into the state, and its action size (MPE only).

    With `opponent_state`, every agent also sees each opponent's own velocity and position
    (the first four entries of the opponent's observation, which the global state holds):
    in mpe-world-4v2 the predators' own observations lose prey that hide in a forest.
    """
    spec = get_spec(scenario)
    if spec.family != "mpe" or len(set(spec.obs_sizes)) != 1:
        raise MadataError(f"a shared actor needs a scenario whose state is its agents' equal-sized observations "
                          f"concatenated (MPE); {scenario} is not one")
    size = spec.obs_sizes[0]
    extra: list[int] = []
    if opponent_state:
        from collectors.yardsticks import OPPONENT_OBS_SIZES
        if not OPPONENT_OBS_SIZES.get(scenario):
            raise MadataError(f"opponent_state needs a predator-prey scenario (mpe-tag-3v1, mpe-world-4v2), "
                              f"not {scenario}")
        start = size * spec.n_agents
        for other in OPPONENT_OBS_SIZES[scenario]:
            extra += list(range(start, start + 4))
            start += other
    return [list(range(i * size, (i + 1) * size)) + extra for i in range(spec.n_agents)], list(spec.act_sizes)


def hyperparameters(config: TrainConfig) -> TD3Hyperparameters:
    if config.actor not in ("joint", "shared"):
        raise MadataError(f"unknown actor {config.actor!r}; valid: joint, shared")
    if config.actor == "shared" and config.state_dims:
        raise MadataError("state_dims applies to the joint actor only")
    return TD3Hyperparameters(hidden=tuple(config.hidden), learning_rate=config.learning_rate,
                              batch_size=config.batch_size, gamma=config.gamma, tau=config.tau,
                              exploration_sigma=config.exploration_sigma, policy_noise=config.policy_noise,
                              noise_clip=config.noise_clip, policy_delay=config.policy_delay,
                              learning_starts=config.learning_starts,
                              shared_actor=(shared_actor_layout(config.scenario, config.opponent_state)
                                            if config.actor == "shared" else None))


def joint_view(scenario: str) -> tuple:
    """What the learner sees of a scenario: two scenarios with the same joint view (simulator,
    state, joint action layout, reward) give bit-identical training runs, so one run serves both.

    ant-2x4 and ant-4x2 are one: their agents' actuators concatenate to the same order.
    """
    backend = make(scenario)._backend
    if hasattr(backend.env, "agent_action_partitions"):
        order = tuple(i for part in backend.env.agent_action_partitions for node in part
                      for i in np.atleast_1d(node.act_ids).tolist())
        return ("mamujoco", backend.env.single_agent_env.spec.id, order)
    return ("scenario", scenario)


# Fields that steer only what happens after training (choosing and scoring the roles): a
# finished or resumed run may be re-selected with other values.
AFTER_TRAINING = ("selection_episodes", "selection_candidates", "final_eval_episodes", "medium_check_episodes")


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    # The budget may grow (it only says where the run ends), and a scenario with the
    # same joint view may take over the run; nothing else may change but AFTER_TRAINING.
    # Fields added to TrainConfig after a checkpoint was written take their defaults
    # (what that run used).
    config = TrainConfig.from_dict(config).to_dict()
    return {key: value for key, value in config.items()
            if key not in ("steps", "scenario", *AFTER_TRAINING)} | {"joint_view": joint_view(config["scenario"])}


def check_resumable(saved: dict[str, Any], meta: dict[str, Any], run_dir: Path, config: TrainConfig, resume: bool,
                    record: bool) -> None:
    """A saved run may continue only when asked to, with the same configuration, within its budget."""
    if not resume:
        raise MadataError(f"{run_dir} holds a training checkpoint at step {saved['trainer']['state'].step}; "
                          f"pass --resume to continue it or remove the folder to start again")
    if _comparable(saved["meta"]["config"]) != _comparable(meta["config"]):
        raise MadataError(f"the checkpoint in {run_dir} was made with another configuration; "
                          f"resume with the same options or remove the folder")
    if saved["trainer"]["state"].step > config.steps:
        raise MadataError(f"the checkpoint in {run_dir} is at step {saved['trainer']['state'].step}, "
                          f"past --env-steps {config.steps}")
    if record:
        raise MadataError("recording needs a run from step 0, not a resumed one")


def restore(trainer: Any, run_dir: Path | None, meta: dict[str, Any], config: TrainConfig, resume: bool,
            record: bool) -> None:
    """Load the run folder's saved state into `trainer` when there is one and it may continue."""
    if run_dir is None:
        return
    saved = load_checkpoint(run_dir)
    if saved is not None:
        check_resumable(saved, meta, run_dir, config, resume, record)
        trainer.from_checkpoint(saved["trainer"])


def replay_checksum(trainer: TD3Trainer, steps: int) -> str:
    """sha256 over the first `steps` transitions of the learner's replay buffer."""
    digest = hashlib.sha256()
    for name in ("states", "actions", "rewards", "next_states", "not_done"):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(getattr(trainer, name)[:steps].numpy()).tobytes())
    return digest.hexdigest()


def run_td3(config: TrainConfig, evaluate: bool = True, stop_at: int | None = None, record: bool = False,
            progress: bool = True, run_dir: Path | None = None, resume: bool = False,
            save_every_seconds: float = 300.0,
            stop_when: Callable[[int, float, MLPActor], bool] | None = None
            ) -> tuple[list[Checkpoint], JointEnv, TD3Trainer]:
    """Train (or continue training) TD3; returns the checkpoints, the env and the trainer.

    With `run_dir`, the trainer's state is saved there at episode boundaries (every
    `save_every_seconds` and at the end); `resume=True` starts from that state.
    `stop_when(step, eval_mean, actor)` ends the run after the first periodic evaluation it accepts.
    Recording (`record=True`, for medium-replay) needs a run from step 0.
    """
    torch.set_num_threads(1)
    env = JointEnv(config.scenario, config.seed, config.learning_starts, record=record,
                   reward_shaping=config.reward_shaping,
                   shaping_lead=config.shaping_lead)
    full_dim = env.observation_space.shape[0]
    seen = config.state_dims or full_dim
    if not 0 < seen <= full_dim:
        raise MadataError(f"state_dims must be between 1 and the state size {full_dim}, got {config.state_dims}")
    trainer = TD3Trainer(seen, env.action_space.shape[0], config.steps, config.seed, hyperparameters(config))
    meta = {"config": config.to_dict()}
    restore(trainer, run_dir, meta, config, resume, record)
    env.episode_index = trainer.state.episode_index
    env.total_steps = trainer.state.step

    def env_reset(episode_index: int) -> np.ndarray:
        env.episode_index = episode_index
        return env.reset()[0][:seen]

    def env_step(action: np.ndarray) -> tuple[np.ndarray, float, bool, bool]:
        state, reward, terminated, truncated, _ = env.step(action)
        return state[:seen], reward, terminated, truncated

    def actor_of(weights: list[np.ndarray], biases: list[np.ndarray]) -> MLPActor:
        # Zero input weights on the state entries the learner does not see.
        first = np.zeros((full_dim, weights[0].shape[1]), dtype=np.float32)
        first[:seen] = weights[0]
        return MLPActor([first, *weights[1:]], list(biases))

    bar = progress_bar(config, trainer.state.step, stop_at, progress)
    on_snapshot = snapshot_evaluator(config, bar, evaluate, progress,
                                     lambda learner: actor_of(*learner.actor.numpy_layers()), stop_when)
    save = checkpoint_saver(run_dir, meta)
    try:
        trainer.run(config.steps, env_reset, env_step, on_snapshot, config.eval_every, save=save,
                    save_every_seconds=save_every_seconds, stop_at=stop_at,
                    on_step=stop_after(on_snapshot, lambda step: bar.update(1)))
    except TargetReached:
        pass
    bar.close()
    checkpoints = [Checkpoint(s["step"], actor_of(s["weights"], s["biases"]), s.get("eval_mean"), s.get("eval_std"),
                              s["before_updates"]) for s in trainer.state.snapshots]
    return checkpoints, env, trainer
