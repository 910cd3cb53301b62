"""The SMAX scenarios as a PettingZoo ParallelEnv, with madata's array interface.

Discrete actions (`Discrete(A)` per ally) with legal-action masks: `infos[agent]
["action_mask"]` after every reset and step (PettingZoo's convention), and
`legal_actions()` (N, A) bool for the array interface. Every ally stays in `agents`
until the episode ends (a dead unit may only stop), as in SMAC. `state()` is SMAX's
`world_state`.

Reset with `seed=s` plays the episode whose key is `PRNGKey(s)`; `reset_key`
takes a key directly (collection episode k is `fold_in(PRNGKey(seed), k)`, see
`madatasets.smax_vector`). Without a seed, seeds come from a generator seeded at
construction, so a script without seeds is still repeatable.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo.utils.env import ParallelEnv

from madatasets.errors import MadataError
from madatasets.smax import SMAX_MAPS, STOP_ACTION, core, import_jax, seed_key


class SmaxEnv(ParallelEnv):
    """One SMAX map (allies learn, the heuristic enemy is part of the environment)."""

    metadata = {"render_modes": [], "is_parallelizable": True}

    def __init__(self, spec: Any):
        self.spec = spec
        self.metadata = {**SmaxEnv.metadata, "name": spec.name}
        self.possible_agents = list(spec.agents)
        self.agents: list[str] = []
        self.render_mode = None
        self._core = core(SMAX_MAPS[spec.name][0])
        self._observation_spaces = {a: spaces.Box(-np.inf, np.inf, (spec.obs_dim,), np.float32) for a in spec.agents}
        self._action_spaces = {a: spaces.Discrete(spec.act_dim) for a in spec.agents}
        self.state_space = spaces.Box(-np.inf, np.inf, (spec.state_dim,), np.float32)
        self._seeds = np.random.default_rng(0)
        self._key: Any = None
        self._env_state: Any = None
        self._t = 0
        self._last: Any = None
        self.won = False

    # -- PettingZoo API -------------------------------------------------------
    def observation_space(self, agent: str) -> spaces.Box:
        return self._observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, _ = self.reset_arrays(seed)
        self.agents = list(self.possible_agents)
        return {a: obs[i] for i, a in enumerate(self.agents)}, self._infos()

    def step(self, actions: dict[str, Any]):
        """PettingZoo step. An illegal action (PettingZoo's API test samples without masks) is
        replaced by stop, the one action always legal, and flagged in `infos[agent]
        ["illegal_action"]`; the array interface refuses it instead."""
        joint = np.array([int(actions[a]) for a in self.possible_agents], dtype=np.int32)
        legal = self.legal_actions()
        illegal = (joint < 0) | (joint >= self.spec.act_dim)
        illegal |= ~legal[np.arange(len(joint)), np.clip(joint, 0, self.spec.act_dim - 1)]
        obs, _, reward, terminated, truncated = self.step_arrays(np.where(illegal, STOP_ACTION, joint))
        agents = self.agents
        infos = self._infos()
        for i, agent in enumerate(self.possible_agents):
            infos[agent]["illegal_action"] = bool(illegal[i])
        result = ({a: obs[i] for i, a in enumerate(agents)}, {a: float(reward[i]) for i, a in enumerate(agents)},
                  {a: terminated for a in agents}, {a: truncated for a in agents}, infos)
        if terminated or truncated:
            self.agents = []
        return result

    def _infos(self) -> dict[str, dict[str, Any]]:
        legal = self.legal_actions()
        return {a: {"action_mask": legal[i].astype(np.int8)} for i, a in enumerate(self.possible_agents)}

    def state(self) -> np.ndarray:
        return np.array(self._last.state, dtype=np.float32)

    def render(self):
        return None

    def close(self):
        pass

    # -- array interface ------------------------------------------------------
    def reset_arrays(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Reset; returns observations (N, O) and the global state (S,)."""
        if seed is None:
            seed = int(self._seeds.integers(0, 2**31 - 1))
        return self.reset_key(seed_key(seed))

    def reset_key(self, key: Any) -> tuple[np.ndarray, np.ndarray]:
        self._key, self._t, self.won = key, 0, False
        self._env_state, self._last = self._core.reset(key)
        return np.array(self._last.obs), np.array(self._last.state)

    def legal_actions(self) -> np.ndarray:
        """(N, A) bool: which actions each ally may take now."""
        return np.array(self._last.legal, dtype=bool)

    def step_arrays(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool, bool]:
        """Step with integer actions (N,); returns obs, state, rewards (N,), terminated, truncated.

        An illegal action raises instead of being silently replaced (SMAX would turn
        it into something else), so that recorded actions are the actions taken.
        """
        if self._env_state is None:
            raise MadataError("call reset before step")
        actions = np.asarray(actions)
        legal = np.asarray(self._last.legal)
        if actions.shape != (self.spec.n_agents,) or not np.issubdtype(actions.dtype, np.integer):
            raise MadataError(f"{self.spec.name} takes integer actions of shape ({self.spec.n_agents},), "
                              f"got {actions.dtype} {actions.shape}")
        if ((actions < 0) | (actions >= self.spec.act_dim)).any() or \
                not legal[np.arange(len(actions)), actions].all():
            raise MadataError(f"illegal action in {actions.tolist()}; legal per ally: "
                              f"{[np.flatnonzero(row).tolist() for row in legal]}")
        import_jax()
        import jax.numpy as jnp
        self._env_state, self._last = self._core.step(self._key, self._t, self._env_state,
                                                      jnp.asarray(actions, dtype=jnp.int32))
        self._t += 1
        self.won = bool(self._last.won)
        return (np.array(self._last.obs), np.array(self._last.state), np.array(self._last.reward),
                bool(self._last.terminated), bool(self._last.truncated))
