"""Fixed, seeded policies for the agents that are part of the environment.

In `mpe-tag-3v1` and `mpe-world-4v2` only the predators learn; the prey are part of
the environment. They follow a scripted evasion rule so that every dataset and
every evaluation faces the same opponent:

* move away from the adversaries, each weighted by 1 / distance^2 (near ones
  dominate);
* when farther than `home_radius` from the origin, add a pull back toward it
  (simple_tag has no walls; without the pull the prey would leave the arena
  and the task would degenerate);
* add Gaussian noise with standard deviation `noise_std` drawn from the
  environment's own seeded generator, so the prey is not trivially predictable
  yet episodes stay reproducible for a given reset seed.

The rule reads entity positions from the simulator's world, not from
observations, so it does not depend on observation layouts.
"""

from __future__ import annotations

import numpy as np


class EvasivePrey:
    """Scripted evasion for MPE good agents (continuous action layout of mpe2)."""

    def __init__(self, noise_std: float = 0.3, home_radius: float = 1.0, home_gain: float = 2.0):
        self.noise_std = noise_std
        self.home_radius = home_radius
        self.home_gain = home_gain

    def movement(self, prey_position: np.ndarray, adversary_positions: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
        offsets = prey_position[None, :] - adversary_positions
        sq_distances = np.maximum((offsets ** 2).sum(axis=1, keepdims=True), 1e-4)
        direction = (offsets / sq_distances).sum(axis=0)
        norm = np.linalg.norm(direction)
        if norm > 0:
            direction = direction / norm
        radius = np.linalg.norm(prey_position)
        if radius > self.home_radius:
            direction = direction - self.home_gain * (radius - self.home_radius) * prey_position / radius
        direction = direction + rng.normal(0.0, self.noise_std, size=2)
        return np.clip(direction, -1.0, 1.0)

    def native_action(self, prey_position: np.ndarray, adversary_positions: np.ndarray,
                      rng: np.random.Generator, action_size: int) -> np.ndarray:
        """mpe2's continuous layout: u_x = a[2] - a[1], u_y = a[4] - a[3], each in [0, 1]."""
        move = self.movement(prey_position, adversary_positions, rng)
        action = np.zeros(action_size, dtype=np.float32)
        action[1], action[2] = max(-move[0], 0.0), max(move[0], 0.0)
        action[3], action[4] = max(-move[1], 0.0), max(move[1], 0.0)
        return action
