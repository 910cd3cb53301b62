"""TD3 for the behaviour zoo: a lean, resumable, deterministic learner.

Fujimoto, van Hoof and Meger, "Addressing Function Approximation Error in
Actor-Critic Methods" (ICML 2018), Algorithm 1: twin critics with clipped double-Q
targets, target-policy smoothing (noise 0.2 clipped to 0.5), a delayed actor and
delayed Polyak-averaged targets (every 2 critic updates), Gaussian exploration.

Why our own and not stable-baselines3's: on this 2-core CPU the update is the cost,
so the twin critics run as one batched network (one `baddbmm` per layer for both
heads) and the loop carries no callback or logger machinery
(`benchmarks/train_behavior_speed.py` measures the ratio); and a run must survive
the end of a session: `TD3Trainer.save` writes networks, optimizers, the replay
buffer, the generator state, the step and episode counters and the checkpoints
taken so far, atomically, at an episode boundary, and a resumed run continues
bit for bit as the uninterrupted one would (every random number comes from one
numpy generator whose state is saved; torch draws nothing after initialisation).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from collectors.trainer_state import TrainerState  # noqa: F401 (also: checkpoints pickled before the split name it here)
from collectors.zoo_networks import Actor, SharedActor, TwinCritic
from madatasets.errors import MadataError

CHECKPOINT_FORMAT = 1


@dataclass
class TD3Hyperparameters:
    # Fujimoto et al. (2018), Section 6.1 and Table 3, with stable-baselines3 zoo's
    # MuJoCo choices where they differ (256x256 networks, batch 256, lr 1e-3).
    hidden: tuple[int, ...] = (256, 256)
    learning_rate: float = 1e-3
    batch_size: int = 256
    gamma: float = 0.99
    tau: float = 0.005
    exploration_sigma: float = 0.1
    policy_noise: float = 0.2
    noise_clip: float = 0.5
    policy_delay: int = 2
    learning_starts: int = 10_000
    # None: one joint actor on the whole state. Else (obs index per agent, action sizes):
    # a parameter-shared per-agent actor (`SharedActor`).
    shared_actor: tuple[list[list[int]], list[int]] | None = None


class TD3Trainer:
    """One TD3 run on a gymnasium-style env whose reset is seeded by episode index.

    `env_reset(episode_index) -> state` and `env_step(action) -> (state, reward,
    terminated, truncated)` are supplied by the caller (the zoo's `JointEnv`), so
    the trainer knows nothing of scenarios.
    """

    def __init__(self, state_dim: int, action_dim: int, capacity: int, seed: int, params: TD3Hyperparameters):
        self.params = params
        self.state_dim, self.action_dim, self.capacity = state_dim, action_dim, capacity
        generator = torch.Generator().manual_seed(seed)
        def make_actor() -> nn.Module:
            if params.shared_actor is not None:
                return SharedActor(state_dim, *params.shared_actor, params.hidden, generator)
            return Actor([state_dim, *params.hidden, action_dim], generator)
        self.actor = make_actor()
        self.critic = TwinCritic([state_dim + action_dim, *params.hidden, 1], generator)
        self.actor_target = make_actor()
        self.critic_target = TwinCritic([state_dim + action_dim, *params.hidden, 1], generator)
        self.actor_target.load_state_dict(self.actor.state_dict())
        self.critic_target.load_state_dict(self.critic.state_dict())
        for network in (self.actor_target, self.critic_target):
            network.requires_grad_(False)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=params.learning_rate)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=params.learning_rate)
        self.rng = np.random.default_rng(np.random.SeedSequence([seed, 3571]))
        self.states = torch.zeros(capacity, state_dim)
        self.actions = torch.zeros(capacity, action_dim)
        self.rewards = torch.zeros(capacity)
        self.next_states = torch.zeros(capacity, state_dim)
        self.not_done = torch.zeros(capacity)
        self.state = TrainerState()

    # -- acting -----------------------------------------------------------------
    def explore(self, state: np.ndarray) -> np.ndarray:
        """Uniform random during warm-up, then pi(s) + N(0, sigma^2) clipped to [-1, 1]."""
        if self.state.step < self.params.learning_starts:
            return self.rng.uniform(-1.0, 1.0, self.action_dim).astype(np.float32)
        with torch.no_grad():
            action = self.actor(torch.as_tensor(state, dtype=torch.float32)[None])[0].numpy()
        noise = self.params.exploration_sigma * self.rng.standard_normal(self.action_dim)
        return np.clip(action + noise, -1.0, 1.0).astype(np.float32)

    def store(self, state: np.ndarray, action: np.ndarray, reward: float, next_state: np.ndarray,
              terminated: bool) -> None:
        k = self.state.step
        if k >= self.capacity:
            raise MadataError(f"replay buffer full ({self.capacity} steps)")
        self.states[k] = torch.from_numpy(np.asarray(state, dtype=np.float32))
        self.actions[k] = torch.from_numpy(action)
        self.rewards[k] = reward
        self.next_states[k] = torch.from_numpy(np.asarray(next_state, dtype=np.float32))
        self.not_done[k] = 0.0 if terminated else 1.0   # truncation bootstraps
        self.state.step += 1

    # -- learning ---------------------------------------------------------------
    def update(self) -> None:
        """One critic update; every `policy_delay` of them also the actor and the targets."""
        p = self.params
        index = torch.from_numpy(self.rng.integers(0, self.state.step, p.batch_size))
        noise = torch.from_numpy(self.rng.standard_normal((p.batch_size, self.action_dim), dtype=np.float32))
        states, actions = self.states[index], self.actions[index]
        with torch.no_grad():
            next_states = self.next_states[index]
            smoothed = (self.actor_target(next_states) + (p.policy_noise * noise).clamp(-p.noise_clip, p.noise_clip))
            target_q = self.critic_target(next_states, smoothed.clamp(-1.0, 1.0)).min(dim=0).values
            target = self.rewards[index] + p.gamma * self.not_done[index] * target_q
        q = self.critic(states, actions)
        critic_loss = ((q - target) ** 2).mean(dim=1).sum()
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optimizer.step()
        self.state.updates += 1
        if self.state.updates % p.policy_delay:
            return
        actor_loss = -self.critic(states, self.actor(states), heads=1).mean()
        self.actor_optimizer.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_optimizer.step()
        with torch.no_grad():
            for online, target in ((self.actor, self.actor_target), (self.critic, self.critic_target)):
                torch._foreach_lerp_(list(target.parameters()), list(online.parameters()), p.tau)

    # -- the loop ---------------------------------------------------------------
    def run(self, total_steps: int, env_reset: Callable[[int], np.ndarray],
            env_step: Callable[[np.ndarray], tuple[np.ndarray, float, bool, bool]],
            on_snapshot: Callable[[int, "TD3Trainer"], dict[str, Any]], snapshot_every: int,
            save: Callable[["TD3Trainer"], None] | None = None, save_every_seconds: float = 300.0,
            stop_at: int | None = None, on_step: Callable[[int], None] | None = None) -> None:
        """Train to `total_steps` (or `stop_at`), whole episodes at a time.

        Every `snapshot_every` steps (and at the end of warm-up) `on_snapshot` is called
        before that step's update and its dict stored with the actor's layers. `save` is
        called at episode boundaries only, at most every `save_every_seconds` and at the
        last boundary of the run.
        """
        end = total_steps if stop_at is None else min(stop_at, total_steps)
        last_save = time.monotonic()
        started = time.monotonic()
        base_wall = self.state.wall_seconds
        while self.state.step < end:
            state = env_reset(self.state.episode_index)
            self.state.episode_index += 1
            self.state.episode_starts.append(self.state.step)
            episode_over = False
            while self.state.step < end:
                action = self.explore(state)
                next_state, reward, terminated, truncated = env_step(action)
                self.store(state, action, reward, next_state, terminated)
                step = self.state.step
                warmup_end = step == self.params.learning_starts and step > 0
                if step % snapshot_every == 0 or warmup_end:
                    self._snapshot(step, on_snapshot)
                if step >= self.params.learning_starts:
                    self.update()
                if on_step is not None:
                    on_step(step)
                state = next_state
                if terminated or truncated:
                    episode_over = True
                    break
            self.state.wall_seconds = base_wall + time.monotonic() - started
            # Only a state between episodes can be resumed exactly (the simulator's
            # mid-episode state is not saved): a run that ends mid-episode keeps its last
            # boundary, and resuming it redoes the tail, bit for bit.
            due = time.monotonic() - last_save >= save_every_seconds or self.state.step >= end
            if save is not None and episode_over and due:
                save(self)
                last_save = time.monotonic()

    def _snapshot(self, step: int, on_snapshot: Callable[[int, "TD3Trainer"], dict[str, Any]]) -> None:
        weights, biases = self.actor.numpy_layers()
        record = {"step": step, "weights": weights, "biases": biases,
                  "before_updates": step <= self.params.learning_starts}
        record.update(on_snapshot(step, self))
        self.state.snapshots.append(record)

    # -- checkpoints ------------------------------------------------------------
    def to_checkpoint(self) -> dict[str, Any]:
        filled = self.state.step
        return {
            "format": CHECKPOINT_FORMAT, "state": self.state, "rng": self.rng.bit_generator.state,
            "networks": {name: getattr(self, name).state_dict()
                         for name in ("actor", "critic", "actor_target", "critic_target")},
            "optimizers": {"actor": self.actor_optimizer.state_dict(), "critic": self.critic_optimizer.state_dict()},
            "replay": {name: getattr(self, name)[:filled].numpy().copy()
                       for name in ("states", "actions", "rewards", "next_states", "not_done")},
        }

    def from_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if checkpoint.get("format") != CHECKPOINT_FORMAT:
            raise MadataError(f"unsupported trainer checkpoint format {checkpoint.get('format')!r}")
        self.state = checkpoint["state"]
        self.rng.bit_generator.state = checkpoint["rng"]
        for name, values in checkpoint["networks"].items():
            getattr(self, name).load_state_dict(values)
        self.actor_optimizer.load_state_dict(checkpoint["optimizers"]["actor"])
        self.critic_optimizer.load_state_dict(checkpoint["optimizers"]["critic"])
        for name, values in checkpoint["replay"].items():
            getattr(self, name)[: len(values)] = torch.from_numpy(values)
