"""Behaviour policies: train one joint policy per scenario with stable-baselines3 and
keep checkpoints of it in the zoo (`madata train-behavior`).

The learner sees the scenario through `JointEnv`, a single-agent gymnasium view:
observation = the global state, action = every agent's real action dimensions
concatenated in agent order, reward = the mean reward over agents (so a training
episode's return is exactly the scenario's `episode_return`). "Agent i acts policy
P" then means: agent i executes its slice of P's joint action.

One run keeps (see `select_checkpoints`):

* ``expert``: the checkpoint with the best periodic evaluation;
* ``medium``: the first checkpoint whose periodic evaluation reaches one third of
  the way from the random reference to expert's evaluation (D4RL's "about 1/3 of
  expert", measured from random so that it also means something for negative
  returns);
* ``early``: the last checkpoint before medium (for the mixed tier);
* the replay buffer from step 0 to the medium checkpoint (``medium-replay``).

Each checkpoint is exported as a small numpy MLP (`MLPActor`, float32 ``.npz``)
with a sha256 over its weights, so that collection needs neither stable-baselines3
nor torch and a policy is evaluated for all agents in one batched call.

Runs are deterministic: SB3 is seeded, torch runs with one thread, and every
training episode resets with a seed derived from (seed, episode index). The
medium-replay tier relies on this: it re-runs training up to the medium step and
checks that the re-run reproduces the zoo's medium checksum.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
from tqdm.auto import tqdm

from collectors.rollout import assemble, episode_seeds, rollout
from madatasets.errors import ChecksumError, MadataError
from madatasets.optional import require
from madatasets.scenarios import ScenarioSpec, episode_return, get_spec, make, scenario_names
from madatasets.store import array_checksum

ZOO_DIR = Path(__file__).with_name("zoo")
ZOO_INDEX = "index.json"
ZOO_FORMAT = 1
# The zoo's version: what "medium" or "expert" means. New behaviour policies bump it;
# datasets collected from zoo version N get `-vN` ids and record it on their card.
# Version 0: SB3 TD3 64x64 with 7.5k-200k steps (see docs/zoo.md, history).
ZOO_VERSION = 1
ROLES = ("early", "medium", "expert")
# Seeds of evaluation episodes; the final 100-episode evaluation uses the same seed
# as the random reference scores so that both references see the same starts.
PERIODIC_EVAL_SEED = 2_000_003
FINAL_EVAL_SEED = 1_000_003
MEDIUM_FRACTION = 1.0 / 3.0


# -- training configuration ------------------------------------------------------
@dataclass(frozen=True)
class TrainConfig:
    scenario: str
    steps: int
    seed: int = 0
    algorithm: str = "td3"                # "td3" (collectors/td3.py), or SB3's "sb3-td3", "sac", "ppo"
    hidden: tuple[int, ...] = (64, 64)    # actor and critic hidden layers
    learning_rate: float = 1e-3
    batch_size: int = 256
    gamma: float = 0.99
    tau: float = 0.005
    exploration_sigma: float = 0.1        # TD3's Gaussian exploration noise (SAC ignores it)
    learning_starts: int = 2_000          # uniform random warm-up steps (off-policy only; 0 for PPO)
    n_steps: int = 2_048                  # PPO: environment steps per rollout (one update per rollout)
    n_epochs: int = 10                    # PPO: passes over each rollout
    # Training signal only: subtract this times the predators' summed distance to the
    # nearest prey (mpe2's shape=True term, which uses 0.1). Evaluations, checkpoint
    # choice and every recorded transition use the environment's own reward.
    reward_shaping: float = 0.0
    policy_noise: float = 0.2             # TD3 (ours): target-policy smoothing noise, clipped at noise_clip
    noise_clip: float = 0.5
    policy_delay: int = 2                 # TD3 (ours): critic updates per actor/target update
    # TD3 (ours): the learner sees only the first `state_dims` state entries (0: all). Ant-v5's
    # state ends with 78 contact forces, large and noisy; the exported actor still takes the
    # whole state, with zero weights on the entries the learner did not see.
    state_dims: int = 0
    # TD3 (ours): "joint" (one actor on the whole state) or "shared" (one parameter-shared
    # actor on each agent's own observation and id: MPE, where the state is the team's
    # observations concatenated).
    actor: str = "joint"
    eval_every: int = 5_000               # checkpoint + periodic evaluation interval
    eval_episodes: int = 5                # episodes per periodic evaluation
    final_eval_episodes: int = 100        # episodes per kept checkpoint at the end
    selection_candidates: int = 5         # best periodic checkpoints re-evaluated to choose the expert
    selection_episodes: int = 0           # episodes of that re-evaluation (0: expert = best periodic)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"hidden": list(self.hidden)}

    @staticmethod
    def from_dict(values: dict[str, Any]) -> "TrainConfig":
        return TrainConfig(**(values | {"hidden": tuple(values["hidden"])}))


# Zoo v1 budgets: our TD3 (collectors/td3.py) with the TD3 paper's settings (256x256,
# batch 100, lr 1e-3, 10k uniform warm-up on HalfCheetah and Ant, 1k elsewhere as in
# the paper), 300k-500k steps: 20-45 minutes per run at one torch thread here
# (docs/zoo.md gives the measured wall time per scenario). Periodic evaluations of 10
# episodes every 10k steps; the 5 best are re-evaluated on 50 fresh episodes to
# choose the expert. MPE: 25-step episodes with no termination, gamma 0.95, and
# more evaluation episodes (they are cheap and contacts are rare on tag/world).
_TD3 = dict(algorithm="td3", hidden=(256, 256), batch_size=100, learning_rate=1e-3, learning_starts=1_000,
            eval_every=10_000, eval_episodes=10, selection_episodes=50)
# MPE: one parameter-shared actor on each agent's own observation (`actor="shared"`); a
# joint actor on the 54-dim state learned spread slowly (-16.8 at 80k steps against the
# scripted -6.6; docs/zoo.md).
_MPE = dict(_TD3, gamma=0.95, eval_every=10_000, eval_episodes=50, actor="shared")
ALGORITHMS = ("td3", "sb3-td3", "sac", "ppo")
# PPO (on-policy, no replay warm-up): SB3's usual settings, larger minibatches.
_PPO = dict(algorithm="ppo", learning_starts=0, learning_rate=3e-4, batch_size=256, n_steps=2_048, n_epochs=10,
            hidden=(64, 64), selection_episodes=0)
_SB3 = dict(hidden=(64, 64), batch_size=256, learning_starts=2_000, selection_episodes=0)
ALGORITHM_DEFAULTS: dict[str, dict[str, Any]] = {"ppo": _PPO, "sb3-td3": _SB3, "sac": _SB3, "td3": _TD3}
BUDGETS: dict[str, dict[str, Any]] = {
    "mpe-spread-3": dict(steps=200_000, **_MPE),
    # tag/world: the environment's reward is +10 per predator-prey contact and nothing
    # else; training alone adds mpe2's distance shaping (evaluations use the true reward).
    "mpe-tag-3v1": dict(steps=200_000, reward_shaping=0.1, **_MPE),
    "mpe-world-4v2": dict(steps=200_000, reward_shaping=0.1, **_MPE),
    "halfcheetah-2x3": dict(steps=150_000, **(_TD3 | {"learning_starts": 10_000})),
    "walker2d-2x3": dict(steps=400_000, **_TD3),
    "hopper-3x1": dict(steps=200_000, **_TD3),
    # Ant: the learner sees positions and velocities (the state's first 27 entries), not the 78
    # contact forces (a first run on all 105 reached 556 in 140k steps, below standing still).
    # ant-2x4 and ant-4x2 have the same joint view (collectors/train_td3.joint_view): one run
    # serves both (`--run-dir .madata-runs/ant-4x2-seed0`).
    "ant-4x2": dict(steps=500_000, state_dims=27, **(_TD3 | {"learning_starts": 10_000})),
    "ant-2x4": dict(steps=500_000, state_dims=27, **(_TD3 | {"learning_starts": 10_000})),
    # Swimmer needs a long horizon (the zoo of stable-baselines3 uses gamma 0.9999).
    "swimmer-2x1": dict(steps=200_000, **(_TD3 | {"gamma": 0.9999})),
}


def default_config(scenario: str, steps: int | None = None, seed: int = 0, **overrides: Any) -> TrainConfig:
    get_spec(scenario)
    values = dict(BUDGETS.get(scenario, {"steps": 50_000}))
    overrides = {key: value for key, value in overrides.items() if value is not None}
    algorithm = overrides.get("algorithm", values.get("algorithm", "td3"))
    if algorithm != values.get("algorithm", "td3"):
        # Another algorithm than the budget's: keep the budget's steps and evaluation
        # schedule but take that algorithm's own defaults.
        values = {key: values[key] for key in ("steps", "gamma", "eval_every", "eval_episodes") if key in values}
        values.update(ALGORITHM_DEFAULTS.get(algorithm, {}))
    if steps is not None:
        values["steps"] = steps
    values.update(overrides)
    config = TrainConfig(scenario=scenario, seed=seed, **values)
    validate_config(config)
    return config


def validate_config(config: TrainConfig) -> None:
    if config.algorithm not in ALGORITHMS:
        raise MadataError(f"unknown algorithm {config.algorithm!r}; valid: {', '.join(ALGORITHMS)}")
    if config.reward_shaping and get_spec(config.scenario).family != "mpe":
        raise MadataError(f"reward_shaping applies to MPE predator-prey scenarios only, not {config.scenario}")
    if config.algorithm == "ppo" and config.learning_starts != 0:
        raise MadataError("PPO has no random warm-up; learning_starts must be 0")
    if config.eval_every < 1 or config.steps < 2 * config.eval_every:
        raise MadataError(f"--steps ({config.steps}) must be at least two checkpoint intervals "
                          f"(2 x {config.eval_every}) so that early/medium/expert can be told apart")
    if config.learning_starts >= config.steps:
        raise MadataError(f"--steps ({config.steps}) must exceed the {config.learning_starts} warm-up steps")


# -- the exported actor ------------------------------------------------------------
@dataclass
class MLPActor:
    """out(W_k relu(... relu(W_1 x + b_1) ...) + b_k): joint input -> joint action in [-1, 1].

    `out` is tanh for TD3/SAC actors and a clip to [-1, 1] for PPO, whose deterministic
    action is its Gaussian mean clipped to the action box.
    """

    weights: list[np.ndarray]   # (in, out) float32
    biases: list[np.ndarray]    # (out,) float32
    output: str = "tanh"        # "tanh" or "clip"

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        hidden = np.asarray(inputs, dtype=np.float32)
        for weight, bias in zip(self.weights[:-1], self.biases[:-1]):
            hidden = np.maximum(hidden @ weight + bias, 0.0)
        last = hidden @ self.weights[-1] + self.biases[-1]
        return np.clip(last, -1.0, 1.0) if self.output == "clip" else np.tanh(last)

    @property
    def input_size(self) -> int:
        return int(self.weights[0].shape[0])

    @property
    def output_size(self) -> int:
        return int(self.weights[-1].shape[1])

    @property
    def checksum(self) -> str:
        """sha256 over the layers' dtype, shape and bytes, in order (file timestamps do not enter)."""
        digest = hashlib.sha256()
        for weight, bias in zip(self.weights, self.biases):
            digest.update(array_checksum(weight).encode())
            digest.update(array_checksum(bias).encode())
        if self.output != "tanh":   # tanh actors keep the checksums they were published with
            digest.update(self.output.encode())
        return digest.hexdigest()

    def save(self, path: Path) -> None:
        arrays = {}
        for k, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            arrays[f"w{k}"], arrays[f"b{k}"] = weight, bias
        if self.output != "tanh":
            arrays["output"] = np.array(self.output)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            # Compressed: block-diagonal actors (parameter-shared agents) are mostly zeros.
            np.savez_compressed(handle, **arrays)

    @staticmethod
    def load(path: Path) -> "MLPActor":
        with np.load(path) as data:
            layers = sum(name.startswith("w") for name in data.files)
            output = str(data["output"]) if "output" in data.files else "tanh"
            return MLPActor([data[f"w{k}"] for k in range(layers)], [data[f"b{k}"] for k in range(layers)], output)


def export_actor(model: Any, algorithm: str) -> MLPActor:
    """Copy the deterministic actor of an SB3 SAC/TD3/PPO model into an `MLPActor`."""
    import torch.nn as nn
    if algorithm == "ppo":
        policy = model.policy
        linears = [m for m in policy.mlp_extractor.policy_net if isinstance(m, nn.Linear)] + [policy.action_net]
        return MLPActor([m.weight.detach().cpu().numpy().T.astype(np.float32).copy() for m in linears],
                        [m.bias.detach().cpu().numpy().astype(np.float32).copy() for m in linears], "clip")
    actor = model.policy.actor
    if algorithm == "sac":
        linears = [m for m in actor.latent_pi if isinstance(m, nn.Linear)] + [actor.mu]
    else:
        linears = [m for m in actor.mu if isinstance(m, nn.Linear)]
    return MLPActor([m.weight.detach().cpu().numpy().T.astype(np.float32).copy() for m in linears],
                    [m.bias.detach().cpu().numpy().astype(np.float32).copy() for m in linears])


@functools.lru_cache(maxsize=None)
def action_layout(spec: ScenarioSpec) -> tuple[np.ndarray, np.ndarray]:
    """The (N, A) real-action mask and the flat indices of the real action dimensions,
    computed once per scenario (read-only): rollouts need them on every step."""
    mask = spec.act_mask
    columns = np.flatnonzero(mask.ravel())
    mask.flags.writeable = columns.flags.writeable = False
    return mask, columns


def joint_to_padded(spec: ScenarioSpec, joint: np.ndarray) -> np.ndarray:
    """(..., sum(act_sizes)) joint actions -> (..., N, A) padded per-agent actions."""
    joint = np.asarray(joint, dtype=np.float32)
    padded = np.zeros(joint.shape[:-1] + (spec.n_agents * spec.act_dim,), dtype=np.float32)
    padded[..., action_layout(spec)[1]] = joint
    return padded.reshape(joint.shape[:-1] + (spec.n_agents, spec.act_dim))


@dataclass
class ActorPolicy:
    """Rolls out one joint actor for every agent, with optional Gaussian action noise.

    Noise N(0, sigma^2) is added to each real action dimension and the result clipped
    to [-1, 1]; it is drawn from the per-episode generator the rollout passes in, so
    data do not depend on the worker count.
    """

    scenario: str
    actor: MLPActor
    sigma: float = 0.0
    policy_id: str = "actor"
    description: str = ""

    @property
    def spec(self) -> ScenarioSpec:
        # Held by name: specs carry their simulator builder, which workers cannot unpickle.
        return get_spec(self.scenario)

    def describe(self) -> list[dict[str, Any]]:
        return [{"id": self.policy_id, "checksum": self.actor.checksum, "description": self.description,
                 "action_noise_sigma": self.sigma}]

    def start_episode(self, episode_index: int, rng: np.random.Generator) -> None:
        pass

    def act(self, observations: np.ndarray, state: np.ndarray,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        spec = self.spec
        actions = joint_to_padded(spec, self.actor(state[None])[0])
        if self.sigma > 0:
            actions = np.clip(actions + self.sigma * rng.standard_normal(actions.shape, dtype=np.float32),
                              -1.0, 1.0) * action_layout(spec)[0]
        return actions.astype(np.float32), np.zeros(spec.n_agents, dtype=np.int16)


def evaluate_actor(scenario: str, actor: MLPActor, episodes: int, seed: int, workers: int = 1,
                   progress: bool = False, description: str = "evaluate") -> np.ndarray:
    """Returns of `episodes` whole episodes of the deterministic actor (no noise)."""
    policy = ActorPolicy(scenario, actor)
    rolled = rollout(scenario, policy, None, seed, workers, progress, description=description,
                     episodes_wanted=episodes)
    return np.array([episode_return(e["rewards"]) for e in rolled])


# -- the joint single-agent view ---------------------------------------------------
class JointEnv(gymnasium.Env):
    """A scenario as one agent: state in, concatenated real action dims out, mean reward.

    With `record=True` it keeps every transition it executes in the dataset schema
    (per-agent observations, states, padded actions, per-agent rewards), which is the
    replay buffer content that medium-replay stores. Behaviour id 0 marks the uniform
    random warm-up steps, 1 the learner's exploration policy.
    """

    metadata = {"render_modes": []}

    def __init__(self, scenario: str, seed: int, learning_starts: int = 0, record: bool = False,
                 reward_shaping: float = 0.0):
        self.env = make(scenario)
        self.reward_shaping = reward_shaping
        self.spec = self.env.spec
        self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (self.spec.state_dim,), np.float32)
        self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (int(sum(self.spec.act_sizes)),), np.float32)
        self.seed_value = seed
        self.learning_starts = learning_starts
        self.record = record
        self.episode_index = 0
        self.total_steps = 0
        self.episodes: list[dict[str, Any]] = []
        self._current: dict[str, list] | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        # Episode k always starts from SeedSequence([seed, k]) whatever SB3 passes.
        env_seed, _ = episode_seeds(self.seed_value, self.episode_index)
        self.episode_index += 1
        obs, state = self.env.reset_arrays(env_seed)
        if self.record:
            self._current = {"observations": [obs], "states": [state], "actions": [], "rewards": [],
                             "behavior_ids": []}
        return state, {}

    def step(self, action: np.ndarray):
        padded = joint_to_padded(self.spec, np.clip(action, -1.0, 1.0))
        obs, state, reward, terminated, truncated = self.env.step_arrays(padded)
        if self.record:
            behavior = 0 if self.total_steps < self.learning_starts else 1
            current = self._current
            current["observations"].append(obs)
            current["states"].append(state)
            current["actions"].append(padded)
            current["rewards"].append(reward)
            current["behavior_ids"].append(np.full(self.spec.n_agents, behavior, dtype=np.int16))
            if terminated or truncated:
                self.episodes.append(self._finish(terminated, truncated, budget_cut=False))
                self._current = None
        self.total_steps += 1
        training_reward = float(np.mean(reward, dtype=np.float64))
        if self.reward_shaping:
            training_reward -= self.reward_shaping * self.env.pursuit_distance()
        return state, training_reward, terminated, truncated, {}

    def _finish(self, terminated: bool, truncated: bool, budget_cut: bool) -> dict[str, Any]:
        current = self._current
        return {name: np.stack(values) for name, values in current.items()} | {
            "terminated": terminated, "truncated": truncated, "budget_cut": budget_cut}

    def recorded_episodes(self) -> list[dict[str, Any]]:
        """Every transition executed so far; an unfinished last episode is cut (truncated)."""
        episodes = list(self.episodes)
        if self._current is not None and self._current["actions"]:
            episodes.append(self._finish(False, True, budget_cut=True))
        return episodes


def buffer_checksum(episodes: list[dict[str, Any]], n_agents: int) -> str:
    arrays = assemble(episodes, n_agents)
    digest = hashlib.sha256()
    for name in sorted(arrays):
        digest.update(f"{name}:{array_checksum(arrays[name])}".encode())
    return digest.hexdigest()


# -- training ------------------------------------------------------------------------
@dataclass
class Checkpoint:
    step: int
    actor: MLPActor
    eval_mean: float | None = None
    eval_std: float | None = None
    before_updates: bool = False   # the snapshot taken at the end of warm-up, before any update
    selection_mean: float | None = None   # mean over the expert-selection episodes, if re-evaluated


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
                   reward_shaping=config.reward_shaping)
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


def select_checkpoints(eval_means: list[float], random_reference: float,
                       before_updates: list[bool] | None = None, expert: int | None = None) -> dict[str, int]:
    """Indices of the kept checkpoints, from their periodic evaluation means (in step order).

    expert: the best trained checkpoint; medium: the first trained checkpoint reaching
    random + (expert - random) / 3 (at most expert's value), not after expert; early: the checkpoint just before
    medium, which may be the untrained end-of-warm-up snapshot (medium itself if none).
    """
    means = np.asarray(eval_means, dtype=np.float64)
    untrained = np.asarray(before_updates if before_updates is not None else [False] * means.size)
    trained = np.flatnonzero(~untrained)
    if trained.size < 2:
        raise MadataError("need at least two trained checkpoints to choose early, medium and expert")
    if expert is None:
        expert = int(trained[np.argmax(means[trained])])
    # If no checkpoint beats random the target lies above expert; clamp it so that
    # medium is then the first checkpoint as good as expert (the roles mean little then).
    target = min(random_reference + MEDIUM_FRACTION * (means[expert] - random_reference), means[expert])
    medium = int(next(k for k in trained if k <= expert and means[k] >= target))
    early = max(medium - 1, 0)
    return {"early": early, "medium": medium, "expert": expert}


SELECTION_EVAL_SEED = 3_000_017


def refine_expert(config: TrainConfig, checkpoints: list[Checkpoint], chosen: dict[str, int],
                  progress: bool = False) -> dict[str, int]:
    """Re-evaluate the `selection_candidates` best trained checkpoints over `selection_episodes`
    (episode seeds of their own, neither the periodic nor the final ones) and make the best the expert.

    A periodic evaluation of a few episodes favours lucky checkpoints; the final 100-episode
    figure then disappoints. Medium keeps its rule, re-applied if expert moved earlier.
    """
    if config.selection_episodes <= 0:
        return chosen
    trained = [k for k, c in enumerate(checkpoints) if not c.before_updates]
    ranked = sorted(trained, key=lambda k: checkpoints[k].eval_mean, reverse=True)[: config.selection_candidates]
    scores = {}
    for k in ranked:
        returns = evaluate_actor(config.scenario, checkpoints[k].actor, config.selection_episodes,
                                 SELECTION_EVAL_SEED + config.seed, progress=progress,
                                 description=f"select step {checkpoints[k].step}")
        scores[k] = float(returns.mean())
        checkpoints[k].selection_mean = scores[k]
    expert = max(scores, key=lambda k: (scores[k], -k))
    return chosen | {"expert": expert}


def train_behavior(config: TrainConfig, zoo_dir: Path = ZOO_DIR, progress: bool = True,
                   command: str | None = None, run_dir: Path | None = None, resume: bool = False) -> dict[str, Any]:
    """Train, pick early/medium/expert, evaluate each over `final_eval_episodes`, write them to the zoo."""
    spec = get_spec(config.scenario)
    random_reference = spec.reference_scores.get("random")
    if random_reference is None:
        raise MadataError(f"no random reference score for {config.scenario}; run "
                          f"`madata reference {config.scenario}` first (medium is defined relative to it)")
    started = time.time()
    if config.algorithm == "td3":
        from collectors.train_td3 import replay_checksum, run_td3
        # Without a run folder the run is not resumable (the CLI always gives one).
        checkpoints, env, trainer = run_td3(config, evaluate=True, progress=progress,
                                            run_dir=Path(run_dir) if run_dir is not None else None, resume=resume)
        train_seconds = trainer.state.wall_seconds
    else:
        checkpoints, env = run_training(config, evaluate=True, record=True, progress=progress)
        train_seconds = time.time() - started
    chosen = select_checkpoints([c.eval_mean for c in checkpoints], random_reference,
                                [c.before_updates for c in checkpoints])
    chosen = refine_expert(config, checkpoints, chosen, progress)
    chosen = select_checkpoints([c.eval_mean for c in checkpoints], random_reference,
                                [c.before_updates for c in checkpoints], expert=chosen["expert"])
    medium_step = checkpoints[chosen["medium"]].step
    if config.algorithm == "td3":
        starts = trainer.state.episode_starts
        medium_replay = {"steps": medium_step, "episodes": sum(1 for s in starts if s < medium_step),
                         "stop_step": medium_step, "sha256": replay_checksum(trainer, medium_step),
                         "sha256_of": "learner replay buffer (states, actions, rewards, next_states, not_done)"}
    else:
        replay = cut_at_step(env.recorded_episodes(), medium_step)
        medium_replay = {"steps": int(sum(len(e["actions"]) for e in replay)), "episodes": len(replay),
                         "stop_step": medium_step, "sha256": buffer_checksum(replay, spec.n_agents)}
    entry: dict[str, Any] = {
        "zoo_version": ZOO_VERSION, "scenario_version": spec.version, "package_versions": spec.package_versions(),
        "torch_version": _version("torch"),
        "machine": platform.machine(), "algorithm": config.algorithm, "config": config.to_dict(),
        "seed": config.seed, "training_steps": config.steps, "train_wall_seconds": round(train_seconds, 1),
        "command": command or f"madata train-behavior {config.scenario} --steps {config.steps} --seed {config.seed}",
        "input": "state", "joint_action_size": int(sum(spec.act_sizes)),
        "random_reference": random_reference,
        "checkpoints": [{"step": c.step, "eval_mean": c.eval_mean, "eval_std": c.eval_std,
                         "before_updates": c.before_updates}
                        | ({"selection_mean": c.selection_mean} if c.selection_mean is not None else {})
                        for c in checkpoints],
        "medium_replay": medium_replay,
        "policies": {},
    }
    if config.algorithm != "td3":
        entry["stable_baselines3_version"] = _version("stable-baselines3")
    scenario_dir = zoo_dir / config.scenario
    for role in ROLES:
        checkpoint = checkpoints[chosen[role]]
        returns = evaluate_actor(config.scenario, checkpoint.actor, config.final_eval_episodes, FINAL_EVAL_SEED,
                                 progress=progress, description=f"{config.scenario} {role} evaluation")
        path = scenario_dir / f"{role}.npz"
        checkpoint.actor.save(path)
        entry["policies"][role] = {
            "id": f"zoo/{config.scenario}/{role}", "file": f"{config.scenario}/{role}.npz",
            "sha256": checkpoint.actor.checksum, "step": checkpoint.step,
            "periodic_eval_mean": checkpoint.eval_mean, "return_mean": float(returns.mean()),
            "return_std": float(returns.std()), "episodes": int(returns.size), "eval_seed": FINAL_EVAL_SEED,
            "hidden": list(config.hidden)}
    entry["total_wall_seconds"] = round(time.time() - started, 1)
    update_zoo_index(zoo_dir, config.scenario, entry)
    return entry


def cut_at_step(episodes: list[dict[str, Any]], step: int) -> list[dict[str, Any]]:
    """The first `step` transitions; the episode running at `step` is cut and marked truncated."""
    kept, total = [], 0
    for episode in episodes:
        length = len(episode["actions"])
        if total + length <= step:
            kept.append(episode)
            total += length
            continue
        remaining = step - total
        if remaining > 0:
            kept.append({name: value[: remaining + 1] if name in ("observations", "states") else value[:remaining]
                         for name, value in episode.items() if isinstance(value, np.ndarray)}
                        | {"terminated": False, "truncated": True, "budget_cut": True})
        break
    return kept


def _version(package: str) -> str:
    import importlib.metadata
    return importlib.metadata.version(package)


# -- the zoo -----------------------------------------------------------------------------
def read_zoo_index(zoo_dir: Path = ZOO_DIR) -> dict[str, Any]:
    path = Path(zoo_dir) / ZOO_INDEX
    if not path.exists():
        return {"format": ZOO_FORMAT, "zoo_version": ZOO_VERSION, "scenarios": {}}
    index = json.loads(path.read_text())
    index.setdefault("zoo_version", 0)   # indexes written before versioning are version 0
    return index


def update_zoo_index(zoo_dir: Path, scenario: str, entry: dict[str, Any]) -> None:
    zoo_dir = Path(zoo_dir)
    zoo_dir.mkdir(parents=True, exist_ok=True)
    index = read_zoo_index(zoo_dir)
    if index["zoo_version"] != ZOO_VERSION and index["scenarios"]:
        raise MadataError(f"the zoo at {zoo_dir} is version {index['zoo_version']}, this code writes version "
                          f"{ZOO_VERSION}; train into an empty --zoo folder")
    index["zoo_version"] = ZOO_VERSION
    index["scenarios"][scenario] = entry
    index["scenarios"] = dict(sorted(index["scenarios"].items()))
    staging = zoo_dir / f".{ZOO_INDEX}.{os.getpid()}"
    staging.write_text(json.dumps(index, indent=2) + "\n")
    os.replace(staging, zoo_dir / ZOO_INDEX)


def zoo_entry(scenario: str, zoo_dir: Path | None = None) -> dict[str, Any]:
    """The zoo's record of `scenario`; MadataError if it has no trained policy."""
    spec = get_spec(scenario)
    zoo_dir = Path(zoo_dir) if zoo_dir is not None else ZOO_DIR
    scenarios = read_zoo_index(zoo_dir)["scenarios"]
    entry = scenarios.get(scenario)
    if entry is None:
        trained = ", ".join(scenarios) or "none"
        raise MadataError(f"no behaviour policy for {scenario} in the zoo at {zoo_dir} (trained: {trained}); "
                          f"train one with `madata train-behavior {scenario}`")
    if entry["scenario_version"] != spec.version:
        raise MadataError(f"the zoo policy of {scenario} was trained on scenario version "
                          f"{entry['scenario_version']}, the registry has version {spec.version}; retrain it")
    return entry


def load_zoo_actor(scenario: str, role: str, zoo_dir: Path | None = None) -> tuple[MLPActor, dict[str, Any]]:
    """The zoo checkpoint `role` of `scenario`, checked against its recorded sha256."""
    if role not in ROLES:
        raise MadataError(f"unknown zoo role {role!r}; valid: {', '.join(ROLES)}")
    zoo_dir = Path(zoo_dir) if zoo_dir is not None else ZOO_DIR
    info = zoo_entry(scenario, zoo_dir)["policies"][role]
    actor = MLPActor.load(zoo_dir / info["file"])
    if actor.checksum != info["sha256"]:
        raise ChecksumError(f"zoo policy {info['id']} checksum mismatch (expected {info['sha256'][:16]}..., "
                            f"got {actor.checksum[:16]}...); the file {zoo_dir / info['file']} is corrupt")
    return actor, info


def regenerate_medium_replay(scenario: str, zoo_dir: Path | None = None,
                             progress: bool = True) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Re-run the zoo's seeded training up to its medium checkpoint, recording every transition.

    Returns the recorded episodes and a report saying whether the re-run reproduced
    the zoo's medium actor and replay-buffer checksums (floating-point results can
    differ across CPUs and torch builds; the report then says so and the data is
    still the replay buffer of a run with the same seed and configuration).
    """
    entry = zoo_entry(scenario, zoo_dir)
    config = TrainConfig.from_dict(entry["config"])
    stop = entry["medium_replay"]["stop_step"]
    spec = get_spec(scenario)
    if config.algorithm == "td3":
        from collectors.train_td3 import replay_checksum, run_td3
        checkpoints, env, trainer = run_td3(config, evaluate=False, stop_at=stop, record=True, progress=progress)
        rerun_buffer = replay_checksum(trainer, stop)
    else:
        checkpoints, env = run_training(config, evaluate=False, stop_at=stop, record=True, progress=progress)
    episodes = cut_at_step(env.recorded_episodes(), stop)
    if config.algorithm != "td3":
        rerun_buffer = buffer_checksum(episodes, spec.n_agents)
    rerun_actor = next(c.actor for c in checkpoints if c.step == stop)
    report = {
        "stop_step": stop, "zoo_medium_sha256": entry["policies"]["medium"]["sha256"],
        "rerun_medium_sha256": rerun_actor.checksum,
        "zoo_buffer_sha256": entry["medium_replay"]["sha256"],
        "rerun_buffer_sha256": rerun_buffer,
        "training_command": entry["command"], "training_config": entry["config"],
    }
    report["reproduced"] = (report["zoo_medium_sha256"] == report["rerun_medium_sha256"]
                            and report["zoo_buffer_sha256"] == report["rerun_buffer_sha256"])
    return episodes, report


def backfill_warmup_snapshot(scenario: str, zoo_dir: Path | None = None, progress: bool = False) -> dict[str, Any]:
    """Add the end-of-warm-up snapshot to a zoo entry trained before such snapshots were taken.

    The actor at step `learning_starts` has had no update, so re-running the seeded
    training to that step reproduces it exactly; it is evaluated like any checkpoint,
    the roles are re-selected with the same rule, and a changed `early` is re-exported.
    """
    zoo_dir = Path(zoo_dir) if zoo_dir is not None else ZOO_DIR
    entry = zoo_entry(scenario, zoo_dir)
    if any(c.get("before_updates") for c in entry["checkpoints"]):
        return entry
    config = TrainConfig.from_dict(entry["config"])
    snapshots, _ = run_training(config, evaluate=False, stop_at=config.learning_starts, progress=progress)
    snapshot = snapshots[-1]
    if not snapshot.before_updates:
        raise MadataError(f"{scenario}: the end of warm-up coincides with a periodic checkpoint; nothing to add")
    returns = evaluate_actor(scenario, snapshot.actor, config.eval_episodes, PERIODIC_EVAL_SEED + config.seed)
    checkpoints = [{"step": snapshot.step, "eval_mean": float(returns.mean()), "eval_std": float(returns.std()),
                    "before_updates": True}] + [c | {"before_updates": False} for c in entry["checkpoints"]]
    chosen = select_checkpoints([c["eval_mean"] for c in checkpoints], entry["random_reference"],
                                [c["before_updates"] for c in checkpoints])
    entry["checkpoints"] = checkpoints
    for role in ("medium", "expert"):
        if checkpoints[chosen[role]]["step"] != entry["policies"][role]["step"]:
            raise MadataError(f"{scenario}: re-selection moved {role}; retrain instead of backfilling")
    early_step = checkpoints[chosen["early"]]["step"]
    if early_step != entry["policies"]["early"]["step"]:
        if early_step != snapshot.step:
            raise MadataError(f"{scenario}: the new early checkpoint at step {early_step} was not kept; retrain")
        returns = evaluate_actor(scenario, snapshot.actor, config.final_eval_episodes, FINAL_EVAL_SEED)
        snapshot.actor.save(zoo_dir / scenario / "early.npz")
        entry["policies"]["early"] |= {
            "sha256": snapshot.actor.checksum, "step": snapshot.step, "periodic_eval_mean": checkpoints[0]["eval_mean"],
            "return_mean": float(returns.mean()), "return_std": float(returns.std()), "episodes": int(returns.size)}
    entry["warmup_snapshot_backfilled"] = (f"python -c \"from collectors.behavior import backfill_warmup_snapshot; "
                                           f"backfill_warmup_snapshot('{scenario}')\"")
    update_zoo_index(zoo_dir, scenario, entry)
    return entry


def zoo_scenarios(zoo_dir: Path | None = None) -> list[str]:
    scenarios = read_zoo_index(Path(zoo_dir) if zoo_dir is not None else ZOO_DIR)["scenarios"]
    return [name for name in scenario_names() if name in scenarios]
