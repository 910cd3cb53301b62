"""mpe2's simple_world_comm observations and adversary rewards for every agent in one pass.

mpe2 builds each agent's observation on its own, testing every entity against every
forest again (about 170 `is_collision` calls per step for six agents); that was most
of a step's time on mpe-world-4v2. Here the forest tests are one array operation and
each observation is filled from them. Every value is computed with the same float64
operations as mpe2's (differences of positions; sqrt(dx*dx + dy*dy) < size sum; the
rewards' additions in mpe2's order), so the results are identical bit for bit
(tests/test_mpe_step.py steps both and compares the bytes).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """mpe2's sqrt(sum(square(a_i - b_j))) for every pair (i, j), with its float64 operations."""
    delta = a[:, None, :] - b[None, :, :]
    square = delta * delta
    return np.sqrt(square[..., 0] + square[..., 1])


class WorldCommObservations:
    """Batched `observation` and `adversary_reward` of mpe2's simple_world_comm scenario."""

    def __init__(self, world: Any):
        self.agents = list(world.agents)
        self.forests = list(world.forests)
        self.landmarks = [entity for entity in world.landmarks if not entity.boundary]
        self.adversary = np.array([agent.adversary for agent in self.agents])
        self.leader = np.array([agent.leader for agent in self.agents])
        sizes = np.array([agent.size for agent in self.agents])
        forest_sizes = np.array([forest.size for forest in self.forests])
        self._agent_forest_radius = sizes[:, None] + forest_sizes[None, :]
        good, adversaries = ~self.adversary, self.adversary
        # is_collision(good, adversary) adds good.size + adversary.size, in that order.
        self._good_adversary_radius = sizes[good][:, None] + sizes[adversaries][None, :]
        n = len(self.agents)
        self._others = [np.array([j for j in range(n) if j != i]) for i in range(n)]
        self._good_others = [np.array([j for j in range(n) if j != i and not self.adversary[j]]) for i in range(n)]

    def _positions(self) -> tuple[np.ndarray, np.ndarray]:
        return (np.array([agent.state.p_pos for agent in self.agents]),
                np.array([agent.state.p_vel for agent in self.agents]))

    def __call__(self, world: Any) -> list[np.ndarray]:
        """Every agent's observation (float32), in world.agents order."""
        positions, velocities = self._positions()
        forests = np.array([forest.state.p_pos for forest in self.forests])
        landmarks = np.array([entity.state.p_pos for entity in self.landmarks])
        in_forest = _distances(positions, forests) < self._agent_forest_radius      # is_collision, (agents, forests)
        # mpe2 shows agent j to agent i when they share a forest, when neither is in one,
        # or always to the leader; otherwise its position (and a prey's velocity) reads 0.
        alone = ~in_forest.any(axis=1)
        shown = ((in_forest[:, None, :] & in_forest[None, :, :]).any(axis=2)
                 | (alone[:, None] & alone[None, :]) | self.leader[:, None])
        relative = np.where(shown[..., None], positions[None, :, :] - positions[:, None, :], 0.0)  # [i, j]: p_j - p_i
        seen_velocity = np.where(shown[..., None], velocities[None, :, :], 0.0)
        to_landmarks = landmarks[None, :, :] - positions[:, None, :]
        flags = np.where(in_forest, 1.0, -1.0)
        comm = np.asarray(self.agents[0].state.c)
        result = []
        for i, agent in enumerate(self.agents):
            others, good_others = self._others[i], self._good_others[i]
            head = [velocities[i], positions[i], to_landmarks[i].ravel(), relative[i, others].ravel()]
            if agent.adversary:
                parts = head + [seen_velocity[i, good_others].ravel(), flags[i], comm]
            else:
                parts = head + [flags[i], seen_velocity[i, good_others].ravel()]
            result.append(np.concatenate(parts).astype(np.float32))
        return result

    def adversary_rewards(self, world: Any) -> list[float]:
        """`adversary_reward` of every adversary, in world.agents order among them."""
        positions, _ = self._positions()
        distances = _distances(positions[~self.adversary], positions[self.adversary])   # (good, adversaries)
        contacts = int((distances < self._good_adversary_radius).sum())
        rewards = []
        for k, agent in enumerate(a for a in self.agents if a.adversary):
            reward = 0 - 0.1 * min(distances[:, k])
            if agent.collide:
                for _ in range(contacts):
                    reward += 5
            rewards.append(float(reward))
        return rewards


class ContactForces:
    """mpe2's `World.apply_environment_force` (soft contact between every pair of colliding
    entities) with the pair forces computed as arrays; each entity's forces are then added
    in mpe2's pair order (f + p_force, a then b), so the sums are mpe2's to the bit."""

    def __init__(self, world: Any):
        entities = list(world.entities)
        colliders = [i for i, entity in enumerate(entities) if entity.collide]
        self.pairs = [(a, b) for a in colliders for b in colliders if b > a]
        self.first = np.array([a for a, _ in self.pairs], dtype=np.int64)
        self.second = np.array([b for _, b in self.pairs], dtype=np.int64)
        self.radius = np.array([entities[a].size + entities[b].size for a, b in self.pairs])
        self.movable = [entity.movable for entity in entities]

    def __call__(self, world: Any, p_force: list) -> list:
        if not self.pairs:
            return p_force
        positions = np.array([entity.state.p_pos for entity in world.entities])
        delta = positions[self.first] - positions[self.second]
        square = delta * delta
        distance = np.sqrt(square[:, 0] + square[:, 1])
        k = world.contact_margin
        penetration = np.logaddexp(0, -(distance - self.radius) / k) * k
        forces = world.contact_force * delta / distance[:, None] * penetration[:, None]
        for (a, b), force in zip(self.pairs, forces):
            if self.movable[a]:
                p_force[a] = force + (0.0 if p_force[a] is None else p_force[a])
            if self.movable[b]:
                p_force[b] = -force + (0.0 if p_force[b] is None else p_force[b])
        return p_force


def world_step(world: Any, contact_forces: ContactForces) -> None:
    """mpe2's `World.step` with `contact_forces` in place of `apply_environment_force`."""
    for agent in world.scripted_agents:
        if agent.action_callback is not None:
            agent.action = agent.action_callback(agent, world)
    p_force: list = [None] * len(world.entities)
    p_force = world.apply_action_force(p_force)
    p_force = contact_forces(world, p_force)
    world.integrate_state(p_force)
    for agent in world.agents:
        world.update_agent_state(agent)
