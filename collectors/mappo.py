"""MAPPO for the behaviour zoo's MPE scenarios: a lean, resumable, deterministic learner.

Yu, Velu, Vinitsky, Gao, Wang, Bayen and Wu, "The Surprising Effectiveness of PPO in
Cooperative Multi-Agent Games" (NeurIPS 2022 Datasets and Benchmarks), Algorithm 1:
one parameter-shared Gaussian actor on each agent's own observation and id, a
centralized value function on the global state, GAE, PPO's clipped surrogate, value
normalization, many environment copies per rollout. The paper's MPE values (Table 13:
lr 7e-4, gamma 0.99, GAE lambda 0.95, clip 0.2, 10 epochs, entropy 0.01, gradient-norm
clip 10) are the defaults.

Why it is here next to TD3 (collectors/td3.py): on MPE the simulator is cheap and
TD3's one-update-per-step is the cost; PPO does ~40 minibatch updates per 3,200
environment steps, so a 2-core CPU reaches millions of steps per hour
(docs/zoo.md measures both on the same scenarios).

Team reward: every agent of an MPE team is trained on the team's mean reward, so the
joint policy's log-probability is the sum over agents' action dimensions and one
value per state suffices. Episodes have a fixed length (MPE never terminates): a
rollout is a whole number of episodes in every copy, so the trainer is saved between
rollouts with no simulator state to keep, and a resumed run continues bit for bit.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from collectors.trainer_state import TrainerState
from collectors.zoo_networks import Actor, SharedActor
from madatasets.errors import MadataError

CHECKPOINT_FORMAT = 1


@dataclass
class PPOHyperparameters:
    hidden: tuple[int, ...] = (64, 64)
    learning_rate: float = 7e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    n_epochs: int = 10
    minibatches: int = 4
    entropy_coef: float = 0.01
    value_coef: float = 1.0
    max_grad_norm: float = 10.0
    n_envs: int = 32
    episodes_per_rollout: int = 4          # per environment copy
    log_std_init: float = -0.5
    anneal_steps: int = 0                  # linear learning-rate decay to 0 over these env steps (0: constant)


class ValueNorm:
    """Running mean and variance of value targets (MAPPO's value normalization), exact counts."""

    def __init__(self) -> None:
        self.count, self.mean, self.m2 = 0, 0.0, 0.0

    def update(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64).ravel()
        n, mean = values.size, float(values.mean())
        delta = mean - self.mean
        total = self.count + n
        self.m2 += float(((values - mean) ** 2).sum()) + delta ** 2 * self.count * n / total
        self.mean += delta * n / total
        self.count = total

    @property
    def std(self) -> float:
        return max(float(np.sqrt(self.m2 / max(self.count, 1))), 1e-3)

    def normalize(self, values: torch.Tensor) -> torch.Tensor:
        return (values - self.mean) / self.std

    def denormalize(self, values: np.ndarray) -> np.ndarray:
        return values * self.std + self.mean


class PPOTrainer:
    """One MAPPO run over `n_envs` copies of a fixed-horizon scenario.

    `env_reset(copy, episode_index) -> state` and `env_step(copy, joint_action) ->
    (state, reward, terminated, truncated)` are supplied by the caller (JointEnv copies).
    """

    def __init__(self, state_dim: int, action_dim: int, layout: tuple[list[list[int]], list[int]] | None,
                 horizon: int, seed: int, params: PPOHyperparameters, output_map: np.ndarray | None = None):
        # `output_map` (environment action dims x learner action dims, one +-1 or nothing per row):
        # the learner acts in a smaller space (e.g. MPE's 2-D forces, collectors/mpe_forces.py) and
        # the environment gets `output_map @ action`; the exported actor folds it into its last layer.
        self.params, self.state_dim, self.action_dim, self.horizon = params, state_dim, action_dim, horizon
        self.output_map = None if output_map is None else np.asarray(output_map, dtype=np.float32)
        if self.output_map is not None and self.output_map.shape[1] != action_dim:
            raise MadataError(f"output_map maps {self.output_map.shape[1]} learner action dims, not {action_dim}")
        generator = torch.Generator().manual_seed(seed)
        if layout is not None:
            # One log-std per action dimension of the shared output, as each agent's columns use it.
            self.actor: nn.Module = SharedActor(state_dim, *layout, params.hidden, generator)
            mean_layers, n_std, self.std_index = self.actor.mlp, self.actor.act_max, self.actor.columns % self.actor.act_max
        else:
            # A joint actor on the whole state (PPO on the scenario's joint view, e.g. Swimmer).
            self.actor = Actor([state_dim, *params.hidden, action_dim], generator)
            mean_layers, n_std, self.std_index = self.actor, action_dim, torch.arange(action_dim)
        self.log_std = nn.Parameter(torch.full((n_std,), params.log_std_init))
        with torch.no_grad():   # near-zero initial means, as MAPPO's 0.01-gain output layer
            mean_layers.weights[-1].mul_(0.01)
            mean_layers.biases[-1].mul_(0.01)
        # The value network: Actor's layers, read by `value` with a linear head (Actor's forward ends in tanh).
        self.critic = Actor([state_dim, *params.hidden, 1], generator)
        self.optimizer = torch.optim.Adam([*self.actor.parameters(), self.log_std, *self.critic.parameters()],
                                          lr=params.learning_rate, eps=1e-5)
        self.rng = np.random.default_rng(np.random.SeedSequence([seed, 7919]))
        self.value_norm = ValueNorm()
        self.state = TrainerState()
        self.rollout_chain = "0" * 64   # sha256 chain over every rollout's transitions (medium-replay's checksum)

    # -- networks ---------------------------------------------------------------
    def value(self, states: torch.Tensor) -> torch.Tensor:
        shape = states.shape[:-1]
        hidden = states.reshape(-1, states.shape[-1])
        for weight, bias in zip(self.critic.weights[:-1], self.critic.biases[:-1]):
            hidden = torch.relu(torch.addmm(bias, hidden, weight))
        return torch.addmm(self.critic.biases[-1], hidden, self.critic.weights[-1]).reshape(shape)

    def exported_layers(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The actor as a joint MLP in the environment's action space. Exact with an output map:
        each row of the map has at most one +-1, and tanh is odd, so tanh(M z) = M tanh(z)."""
        weights, biases = self.actor.numpy_layers()
        if self.output_map is not None:
            weights[-1] = (weights[-1] @ self.output_map.T).astype(np.float32)
            biases[-1] = (self.output_map @ biases[-1]).astype(np.float32)
        return weights, biases

    def env_actions(self, actions: np.ndarray) -> np.ndarray:
        return actions if self.output_map is None else actions @ self.output_map.T

    def log_prob(self, means: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        log_std = self.log_std[self.std_index]
        z = (actions - means) / log_std.exp()
        return (-0.5 * z ** 2 - log_std - 0.5 * np.log(2 * np.pi)).sum(-1)

    # -- one rollout ------------------------------------------------------------
    def collect(self, env_reset: Callable[[int, int], np.ndarray],
                env_step: Callable[[int, np.ndarray], tuple[np.ndarray, float, bool, bool]]) -> dict[str, np.ndarray]:
        """`episodes_per_rollout` whole episodes in each copy; arrays shaped (E, H[+1], ...)."""
        p, h = self.params, self.horizon
        n_episodes = p.n_envs * p.episodes_per_rollout
        states = np.zeros((n_episodes, h + 1, self.state_dim), np.float32)
        actions = np.zeros((n_episodes, h, self.action_dim), np.float32)
        rewards = np.zeros((n_episodes, h), np.float32)
        std = self.log_std[self.std_index].detach().exp().numpy()
        for round_ in range(p.episodes_per_rollout):
            rows = slice(round_ * p.n_envs, (round_ + 1) * p.n_envs)
            block = states[rows]
            for copy in range(p.n_envs):
                block[copy, 0] = env_reset(copy, self.state.episode_index)
                self.state.episode_starts.append(self.state.step + copy * h)
                self.state.episode_index += 1
            for t in range(h):
                with torch.no_grad():
                    means = self.actor(torch.from_numpy(block[:, t])).numpy()
                sampled = means + std * self.rng.standard_normal(means.shape, dtype=np.float32)
                actions[rows, t] = sampled
                to_env = self.env_actions(sampled)
                for copy in range(p.n_envs):
                    next_state, reward, terminated, truncated = env_step(copy, to_env[copy])
                    if terminated or truncated != (t == h - 1):
                        raise MadataError(f"this PPO learner needs fixed {h}-step episodes without termination; "
                                          f"an episode ended at step {t + 1}")
                    block[copy, t + 1] = next_state
                    rewards[rows.start + copy, t] = reward
            self.state.step += p.n_envs * h
        digest = hashlib.sha256(self.rollout_chain.encode())
        for array in (states, actions, rewards):
            digest.update(np.ascontiguousarray(array).tobytes())
        self.rollout_chain = digest.hexdigest()
        return {"states": states, "actions": actions, "rewards": rewards}

    # -- one update -------------------------------------------------------------
    def update(self, batch: dict[str, np.ndarray]) -> None:
        p = self.params
        states = torch.from_numpy(batch["states"])
        with torch.no_grad():
            values = self.value_norm.denormalize(self.value(states).numpy().astype(np.float64))
        rewards = batch["rewards"].astype(np.float64)
        # GAE over each whole episode; the last state is a time-limit cut, so it bootstraps.
        advantages = np.zeros_like(rewards)
        running = np.zeros(rewards.shape[0])
        for t in reversed(range(rewards.shape[1])):
            delta = rewards[:, t] + p.gamma * values[:, t + 1] - values[:, t]
            running = delta + p.gamma * p.gae_lambda * running
            advantages[:, t] = running
        targets = advantages + values[:, :-1]
        self.value_norm.update(targets)
        flat_states = states[:, :-1].reshape(-1, self.state_dim)
        flat_actions = torch.from_numpy(batch["actions"]).reshape(-1, self.action_dim)
        flat_adv = torch.from_numpy(advantages.ravel().astype(np.float32))
        flat_adv = (flat_adv - flat_adv.mean()) / (flat_adv.std() + 1e-8)
        flat_targets = self.value_norm.normalize(torch.from_numpy(targets.ravel())).float()
        with torch.no_grad():
            old_log_prob = self.log_prob(self.actor(flat_states), flat_actions)
        if p.anneal_steps:   # the rate at this rollout's first step: a function of the step count, exact on resume
            rollout_start = self.state.step - p.n_envs * p.episodes_per_rollout * self.horizon
            for group in self.optimizer.param_groups:
                group["lr"] = p.learning_rate * max(0.0, 1.0 - rollout_start / p.anneal_steps)
        size = flat_states.shape[0]
        per_batch = size // p.minibatches
        for _ in range(p.n_epochs):
            order = torch.from_numpy(self.rng.permutation(size))
            for k in range(p.minibatches):
                index = order[k * per_batch:(k + 1) * per_batch]
                log_prob = self.log_prob(self.actor(flat_states[index]), flat_actions[index])
                ratio = (log_prob - old_log_prob[index]).exp()
                adv = flat_adv[index]
                policy_loss = -torch.min(ratio * adv, ratio.clamp(1 - p.clip_range, 1 + p.clip_range) * adv).mean()
                value_loss = ((self.value(flat_states[index]) - flat_targets[index]) ** 2).mean()
                entropy = (self.log_std[self.std_index] + 0.5 * np.log(2 * np.pi * np.e)).sum()
                loss = policy_loss + p.value_coef * value_loss - p.entropy_coef * entropy
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_([*self.actor.parameters(), self.log_std, *self.critic.parameters()],
                                         p.max_grad_norm)
                self.optimizer.step()
                self.state.updates += 1

    # -- the loop ---------------------------------------------------------------
    def run(self, total_steps: int, env_reset: Callable[[int, int], np.ndarray],
            env_step: Callable[[int, np.ndarray], tuple[np.ndarray, float, bool, bool]],
            on_snapshot: Callable[[int, "PPOTrainer"], dict[str, Any]], snapshot_every: int,
            save: Callable[["PPOTrainer"], None] | None = None, save_every_seconds: float = 300.0,
            stop_at: int | None = None, on_rollout: Callable[[int, dict[str, np.ndarray]], None] | None = None
            ) -> None:
        """Rollout, update, repeat until `total_steps` (or `stop_at`); a snapshot of the actor
        (and `on_snapshot`'s dict) whenever a rollout crosses a multiple of `snapshot_every`."""
        end = total_steps if stop_at is None else min(stop_at, total_steps)
        if not self.state.snapshots:
            self._snapshot(0, on_snapshot)
        last_save, started, base_wall = time.monotonic(), time.monotonic(), self.state.wall_seconds
        while self.state.step < end:
            before = self.state.step
            batch = self.collect(env_reset, env_step)
            if on_rollout is not None:
                on_rollout(self.state.step, batch)
            self.update(batch)
            if self.state.step // snapshot_every > before // snapshot_every or self.state.step >= end:
                self._snapshot(self.state.step, on_snapshot)
            self.state.wall_seconds = base_wall + time.monotonic() - started
            due = time.monotonic() - last_save >= save_every_seconds or self.state.step >= end
            if save is not None and due:
                save(self)
                last_save = time.monotonic()

    def _snapshot(self, step: int, on_snapshot: Callable[[int, "PPOTrainer"], dict[str, Any]]) -> None:
        weights, biases = self.exported_layers()
        record = {"step": step, "weights": weights, "biases": biases, "before_updates": step == 0,
                  "rollout_chain": self.rollout_chain}
        record.update(on_snapshot(step, self))
        self.state.snapshots.append(record)

    # -- checkpoints (written by collectors.trainer_state.save_checkpoint) -------
    def to_checkpoint(self) -> dict[str, Any]:
        return {"format": CHECKPOINT_FORMAT, "learner": "mappo", "state": self.state,
                "rng": self.rng.bit_generator.state, "rollout_chain": self.rollout_chain,
                "value_norm": vars(self.value_norm).copy(),
                "networks": {"actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
                             "log_std": self.log_std.detach().clone()},
                "optimizer": self.optimizer.state_dict()}

    def from_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if checkpoint.get("format") != CHECKPOINT_FORMAT or checkpoint.get("learner") != "mappo":
            raise MadataError("the run folder's checkpoint is not a MAPPO checkpoint of this format")
        self.state = checkpoint["state"]
        self.rng.bit_generator.state = checkpoint["rng"]
        self.rollout_chain = checkpoint["rollout_chain"]
        vars(self.value_norm).update(checkpoint["value_norm"])
        self.actor.load_state_dict(checkpoint["networks"]["actor"])
        self.critic.load_state_dict(checkpoint["networks"]["critic"])
        with torch.no_grad():
            self.log_std.copy_(checkpoint["networks"]["log_std"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])

