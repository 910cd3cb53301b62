"""The scenario registry: named multi-agent environments with fixed semantics.

Every scenario is exposed as a PettingZoo ``ParallelEnv`` (`ScenarioEnv`) whose
learning agents all have the same padded observation and action size, so that
datasets and networks can stack agents on one axis:

* observations are float32, zero-padded to the largest agent observation; the
  spec's ``obs_mask`` says which entries are real;
* actions are float32 in [-1, 1] for every scenario, zero-padded to the largest
  agent action (``act_mask``); the environment rescales them to the simulator's
  native bounds (MPE's [0, 1], MuJoCo's actuator ranges), so policies with a
  tanh output fit every scenario unchanged;
* rewards are per agent as the simulator defines them (a shared team reward
  where there is one); the episode return used for scores is the sum over steps
  of the mean reward over learning agents.

The array interface (`reset_arrays` / `step_arrays`) is what collectors and
evaluation use: one call per environment step with (N, O) and (N, A) arrays.

A scenario's ``version`` is bumped whenever its semantics change (rewards,
scripted opponents, limits); returns are only comparable within one version and
one set of simulator package versions, which every dataset card records.
"""

from __future__ import annotations

import contextlib
import functools
import io
import importlib.metadata
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from gymnasium import spaces
from pettingzoo.utils.env import ParallelEnv

from madatasets.errors import MadataError
from madatasets.scripted import EvasivePrey

REFERENCE_SCORES_PATH = Path(__file__).with_name("reference_scores.json")


@dataclass(frozen=True)
class ScenarioSpec:
    name: str
    version: int
    family: str
    description: str
    agents: tuple[str, ...]
    obs_sizes: tuple[int, ...]
    act_sizes: tuple[int, ...]
    state_dim: int
    episode_limit: int
    packages: tuple[str, ...]
    builder: Callable[["ScenarioSpec"], "_Backend"] = field(repr=False, compare=False)
    # "continuous": float actions (N, A) in [-1, 1]; "discrete": integer actions (N,) among
    # act_dim choices, with legal-action masks (SMAX; docs/smax.md).
    action_kind: str = "continuous"

    @property
    def discrete(self) -> bool:
        return self.action_kind == "discrete"

    @property
    def n_agents(self) -> int:
        return len(self.agents)

    @property
    def obs_dim(self) -> int:
        return max(self.obs_sizes)

    @property
    def act_dim(self) -> int:
        return max(self.act_sizes)

    @property
    def obs_mask(self) -> np.ndarray:
        return np.arange(self.obs_dim)[None, :] < np.asarray(self.obs_sizes)[:, None]

    @property
    def act_mask(self) -> np.ndarray:
        return np.arange(self.act_dim)[None, :] < np.asarray(self.act_sizes)[:, None]

    def package_versions(self) -> dict[str, str]:
        return {name: _installed_version(name) for name in self.packages}

    @property
    def reference_scores(self) -> dict[str, float]:
        """{'random': R, 'expert': R} where measured (see reference_scores.json)."""
        entry = _load_reference_scores().get(self.name, {})
        return {tier: float(info["mean"]) for tier, info in entry.items()
                if info.get("scenario_version") == self.version}

    @property
    def reference_details(self) -> dict[str, dict[str, Any]]:
        """Per reference: mean, standard error, episodes, policy, and the zoo version of zoo-made ones."""
        entry = _load_reference_scores().get(self.name, {})
        keys = ("mean", "stderr", "std", "episodes", "policy", "zoo_version", "seed")
        return {tier: {k: info[k] for k in keys if k in info} for tier, info in entry.items()
                if info.get("scenario_version") == self.version}

    def to_dict(self) -> dict[str, Any]:
        # Continuous scenarios keep the keys they always had (their cards stay as they were).
        discrete = {"action_kind": self.action_kind, "legal_actions": True} if self.discrete else {}
        return discrete | {
            "name": self.name, "version": self.version, "family": self.family,
            "description": self.description, "agents": list(self.agents),
            "obs_sizes": list(self.obs_sizes), "act_sizes": list(self.act_sizes),
            "obs_dim": self.obs_dim, "act_dim": self.act_dim, "state_dim": self.state_dim,
            "episode_limit": self.episode_limit,
            "package_versions": self.package_versions(),
        }


def _installed_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


@functools.lru_cache(maxsize=1)
def _load_reference_scores() -> dict[str, dict[str, dict[str, Any]]]:
    if not REFERENCE_SCORES_PATH.exists():
        return {}
    return json.loads(REFERENCE_SCORES_PATH.read_text())


class _Backend:
    """Drives one simulator; speaks native actions and unpadded observations."""

    def reset(self, seed: int | None) -> tuple[list[np.ndarray], np.ndarray]:
        raise NotImplementedError

    def step(self, native_actions: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, bool, bool]:
        raise NotImplementedError

    def native_bounds(self) -> list[tuple[np.ndarray, np.ndarray]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _MPEBackend(_Backend):
    """mpe2 parallel env; agents outside the learning team follow `EvasivePrey`."""

    def __init__(self, make_env: Callable[[], Any], team: tuple[str, ...]):
        self.env = make_env()
        self.team = team
        self.world = self.env.unwrapped.world
        self.prey = EvasivePrey()
        self.rng = np.random.default_rng(0)

    def reset(self, seed):
        observations, _ = self.env.reset(seed=seed)
        if seed is not None:
            # The prey's noise stream is tied to the reset seed so that an episode
            # is a pure function of its seed and the team's actions.
            self.rng = np.random.default_rng([seed, 7919])
        return [observations[a] for a in self.team], self._state(observations)

    def _state(self, observations: dict[str, np.ndarray]) -> np.ndarray:
        # mpe2's state() is the concatenation of every agent's observation; rebuilding
        # it from the observations already returned avoids computing them twice.
        return np.concatenate([observations[a] for a in self.env.possible_agents])

    def _scripted_actions(self) -> dict[str, np.ndarray]:
        actions = {}
        others = [a for a in self.world.agents if a.name not in self.team]
        if not others:
            return actions
        adversaries = np.array([a.state.p_pos for a in self.world.agents if getattr(a, "adversary", False)])
        for agent in others:
            size = self.env.action_space(agent.name).shape[0]
            actions[agent.name] = self.prey.native_action(agent.state.p_pos, adversaries, self.rng, size)
        return actions

    def step(self, native_actions):
        actions = dict(zip(self.team, native_actions))
        actions.update(self._scripted_actions())
        observations, rewards, terminations, truncations, _ = self.env.step(actions)
        obs = [observations[a] for a in self.team]
        reward = np.array([rewards[a] for a in self.team], dtype=np.float32)
        return (obs, self._state(observations), reward,
                any(terminations[a] for a in self.team), any(truncations[a] for a in self.team))

    def native_bounds(self):
        return [(self.env.action_space(a).low, self.env.action_space(a).high) for a in self.team]

    def pursuit_distance(self) -> float:
        """Sum over adversaries of the distance to the nearest good agent.

        This is the term mpe2's predator-prey scenarios subtract (times 0.1) from the
        adversaries' reward when built with shape=True; behaviour-policy training may
        use it as a dense signal. Datasets always keep the environment's own reward.
        """
        adversaries = np.array([a.state.p_pos for a in self.world.agents if getattr(a, "adversary", False)])
        prey = np.array([a.state.p_pos for a in self.world.agents if not getattr(a, "adversary", False)])
        if adversaries.size == 0 or prey.size == 0:
            raise MadataError("pursuit_distance needs a predator-prey scenario (adversaries and good agents)")
        distances = np.linalg.norm(adversaries[:, None, :] - prey[None, :, :], axis=-1)
        return float(distances.min(axis=1).sum())


def _mujoco_warning(message: str) -> None:
    # gymnasium's own MuJoCo assets use a compiler attribute that MuJoCo now flags as
    # deprecated on every model compile; it changes nothing for us. Anything else
    # becomes a Python warning instead of a stderr line plus a MUJOCO_LOG.TXT file.
    if "is deprecated" not in message:
        warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=2)


class _MaMuJoCoBackend(_Backend):
    def __init__(self, scenario: str, conf: str):
        import mujoco
        mujoco.set_mju_user_warning(_mujoco_warning)
        # gymnasium_robotics prints a notice about unrelated Adroit environments on import.
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            from gymnasium_robotics import mamujoco_v1
            self.env = mamujoco_v1.parallel_env(scenario, conf, agent_obsk=1)
        self.team = tuple(self.env.possible_agents)

    def reset(self, seed):
        observations, _ = self.env.reset(seed=seed)
        return [observations[a] for a in self.team], self.env.state()

    def step(self, native_actions):
        observations, rewards, terminations, truncations, _ = self.env.step(dict(zip(self.team, native_actions)))
        obs = [observations[a] for a in self.team]
        reward = np.array([rewards[a] for a in self.team], dtype=np.float32)
        return (obs, self.env.state(), reward,
                bool(terminations[self.team[0]]), bool(truncations[self.team[0]]))

    def native_bounds(self):
        return [(self.env.action_space(a).low, self.env.action_space(a).high) for a in self.team]

    def close(self):
        self.env.close()


class ScenarioEnv(ParallelEnv):
    """PettingZoo ParallelEnv over one registered scenario (padded, float32, actions in [-1, 1])."""

    metadata = {"render_modes": [], "is_parallelizable": True}

    def __init__(self, spec: ScenarioSpec):
        self.spec = spec
        self.metadata = {**ScenarioEnv.metadata, "name": spec.name}
        self.possible_agents = list(spec.agents)
        self.agents: list[str] = []
        self.render_mode = None
        self._backend = spec.builder(spec)
        bounds = self._backend.native_bounds()
        # Affine map from [-1, 1] to the native box, padded dims map to nothing.
        self._action_dtype = [np.asarray(low).dtype for low, _ in bounds]
        self._action_low = [np.asarray(low, dtype=np.float64) for low, _ in bounds]
        self._action_span = [np.asarray(high, dtype=np.float64) - np.asarray(low, dtype=np.float64) for low, high in bounds]
        # The same map as padded (N, A) arrays, so that one vectorised expression serves
        # every agent (element for element the same float64 arithmetic as per agent).
        self._padded_low = np.zeros((spec.n_agents, spec.act_dim))
        self._padded_span = np.zeros((spec.n_agents, spec.act_dim))
        for i, size in enumerate(spec.act_sizes):
            self._padded_low[i, :size], self._padded_span[i, :size] = self._action_low[i], self._action_span[i]
        self._common_dtype = self._action_dtype[0] if len(set(self._action_dtype)) == 1 else None
        self._observation_spaces = {
            a: spaces.Box(-np.inf, np.inf, (spec.obs_dim,), np.float32) for a in spec.agents}
        self._action_spaces = {
            a: spaces.Box(-1.0, 1.0, (spec.act_dim,), np.float32) for a in spec.agents}
        self.state_space = spaces.Box(-np.inf, np.inf, (spec.state_dim,), np.float32)
        self._state = np.zeros(spec.state_dim, dtype=np.float32)
        self._obs = np.zeros((spec.n_agents, spec.obs_dim), dtype=np.float32)
        self._obs_mask = spec.obs_mask
        self._equal_obs_sizes = all(size == spec.obs_dim for size in spec.obs_sizes)

    # -- PettingZoo API -------------------------------------------------------
    def observation_space(self, agent: str) -> spaces.Box:
        return self._observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Box:
        return self._action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, _ = self.reset_arrays(seed)
        self.agents = list(self.possible_agents)
        return {a: obs[i] for i, a in enumerate(self.agents)}, {a: {} for a in self.agents}

    def step(self, actions: dict[str, np.ndarray]):
        joint = np.zeros((self.spec.n_agents, self.spec.act_dim), dtype=np.float32)
        for i, agent in enumerate(self.possible_agents):
            joint[i] = actions[agent]
        obs, _, reward, terminated, truncated = self.step_arrays(joint)
        agents = self.agents
        result = ({a: obs[i] for i, a in enumerate(agents)},
                  {a: float(reward[i]) for i, a in enumerate(agents)},
                  {a: terminated for a in agents}, {a: truncated for a in agents},
                  {a: {} for a in agents})
        if terminated or truncated:
            self.agents = []
        return result

    def state(self) -> np.ndarray:
        return self._state.copy()

    def render(self):
        return None

    def close(self):
        self._backend.close()

    # -- array interface ------------------------------------------------------
    def _pack(self, obs_list: list[np.ndarray], state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._equal_obs_sizes:
            obs = np.array(obs_list, dtype=np.float32)
        else:
            obs = np.zeros((self.spec.n_agents, self.spec.obs_dim), dtype=np.float32)
            for i, o in enumerate(obs_list):
                obs[i, : o.shape[0]] = o
        self._obs = obs
        self._state = np.asarray(state, dtype=np.float32)
        return obs, self._state.copy()

    def pursuit_distance(self) -> float:
        """Predator-prey scenarios only: the adversaries' summed distance to the nearest prey."""
        if not hasattr(self._backend, "pursuit_distance"):
            raise MadataError(f"{self.spec.name} is not a predator-prey scenario; pursuit_distance needs mpe tag/world")
        return self._backend.pursuit_distance()

    def reset_arrays(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Reset; returns padded observations (N, O) and the global state (S,)."""
        return self._pack(*self._backend.reset(seed))

    def step_arrays(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool, bool]:
        """Step with actions (N, A) in [-1, 1]; returns obs, state, rewards (N,), terminated, truncated."""
        # A fresh float64 copy clipped in place (np.clip's Python wrapper costs more than the work).
        actions = np.array(actions, dtype=np.float64)
        np.minimum(np.maximum(actions, -1.0, out=actions), 1.0, out=actions)
        # Cast to the simulator's own dtype: mpe2 rejects float64 into its float32 boxes.
        scaled = self._padded_low + (actions + 1.0) * 0.5 * self._padded_span
        if self._common_dtype is not None:
            scaled = scaled.astype(self._common_dtype)
            native = [scaled[i, :size] for i, size in enumerate(self.spec.act_sizes)]
        else:
            native = [scaled[i, :size].astype(dtype)
                      for i, (size, dtype) in enumerate(zip(self.spec.act_sizes, self._action_dtype))]
        obs_list, state, reward, terminated, truncated = self._backend.step(native)
        obs, state = self._pack(obs_list, state)
        return obs, state, reward, bool(terminated), bool(truncated)


# -- the registry -------------------------------------------------------------
_REGISTRY: dict[str, ScenarioSpec] = {}

_MPE_PACKAGES = ("mpe2", "pettingzoo", "gymnasium")
_MUJOCO_PACKAGES = ("gymnasium-robotics", "mujoco", "gymnasium")


def _register(**kwargs: Any) -> None:
    spec = ScenarioSpec(**kwargs)
    _REGISTRY[spec.name] = spec


def _mpe(module: str, team: tuple[str, ...], **env_kwargs: Any) -> Callable[[ScenarioSpec], _Backend]:
    def build(spec: ScenarioSpec) -> _Backend:
        import importlib
        env_module = importlib.import_module(f"mpe2.{module}")
        return _MPEBackend(lambda: env_module.parallel_env(
            continuous_actions=True, max_cycles=spec.episode_limit, **env_kwargs), team)
    return build


def _mamujoco(scenario: str, conf: str) -> Callable[[ScenarioSpec], _Backend]:
    return lambda spec: _MaMuJoCoBackend(scenario, conf)


_register(name="mpe-spread-3", version=0, family="mpe",
          description="mpe2 simple_spread_v3, 3 agents cover 3 landmarks, local_ratio 0.5, 25 steps",
          agents=("agent_0", "agent_1", "agent_2"), obs_sizes=(18, 18, 18), act_sizes=(5, 5, 5),
          state_dim=54, episode_limit=25, packages=_MPE_PACKAGES,
          builder=_mpe("simple_spread_v3", ("agent_0", "agent_1", "agent_2"), N=3))
_register(name="mpe-tag-3v1", version=0, family="mpe",
          description="mpe2 simple_tag_v3, 3 learning predators vs 1 scripted evasive prey, 2 obstacles, 25 steps",
          agents=("adversary_0", "adversary_1", "adversary_2"), obs_sizes=(16, 16, 16), act_sizes=(5, 5, 5),
          state_dim=62, episode_limit=25, packages=_MPE_PACKAGES,
          builder=_mpe("simple_tag_v3", ("adversary_0", "adversary_1", "adversary_2"),
                       num_good=1, num_adversaries=3, num_obstacles=2))
_register(name="mpe-world-4v2", version=0, family="mpe",
          description="mpe2 simple_world_comm_v3, leader + 3 learning adversaries vs 2 scripted evasive agents, 25 steps",
          agents=("leadadversary_0", "adversary_0", "adversary_1", "adversary_2"),
          obs_sizes=(34, 34, 34, 34), act_sizes=(9, 5, 5, 5),
          state_dim=192, episode_limit=25, packages=_MPE_PACKAGES,
          builder=_mpe("simple_world_comm_v3", ("leadadversary_0", "adversary_0", "adversary_1", "adversary_2"),
                       num_good=2, num_adversaries=4, num_obstacles=1, num_food=2, num_forests=2))

for _name, _scenario, _conf, _obs, _act, _state in [
    ("halfcheetah-2x3", "HalfCheetah", "2x3", (12, 12), (3, 3), 17),
    ("hopper-3x1", "Hopper", "3x1", (8, 9, 8), (1, 1, 1), 11),
    ("walker2d-2x3", "Walker2d", "2x3", (12, 12), (3, 3), 17),
    ("ant-2x4", "Ant", "2x4", (63, 63), (4, 4), 105),
    ("ant-4x2", "Ant", "4x2", (42, 42, 42, 42), (2, 2, 2, 2), 105),
    ("swimmer-2x1", "Swimmer", "2x1", (6, 6), (1, 1), 8),
]:
    _register(name=_name, version=0, family="mamujoco",
              description=f"gymnasium-robotics mamujoco_v1 {_scenario}-v5 {_conf}, agent_obsk=1, 1000 steps",
              agents=tuple(f"agent_{i}" for i in range(len(_obs))), obs_sizes=_obs, act_sizes=_act,
              state_dim=_state, episode_limit=1000, packages=_MUJOCO_PACKAGES,
              builder=_mamujoco(_scenario, _conf))


def _smax_builder(spec: ScenarioSpec) -> _Backend:
    raise MadataError(f"{spec.name} is a SMAX scenario; create it with madatasets.scenarios.make")


def _register_smax() -> None:
    from madatasets.smax import SMAX_MAPS, SMAX_MAX_STEPS, SMAX_PACKAGES, smax_shapes
    for name, (map_name, allies, enemies) in SMAX_MAPS.items():
        obs, actions, state = smax_shapes(allies, enemies)
        _register(name=name, version=0, family="smax", action_kind="discrete",
                  description=f"jaxmarl HeuristicEnemySMAX {map_name}: {allies} learning allies vs {enemies} "
                              f"heuristic enemies (closest, shooting), unit_list obs, {SMAX_MAX_STEPS} steps",
                  agents=tuple(f"ally_{i}" for i in range(allies)), obs_sizes=(obs,) * allies,
                  act_sizes=(actions,) * allies, state_dim=state, episode_limit=SMAX_MAX_STEPS,
                  packages=SMAX_PACKAGES, builder=_smax_builder)


_register_smax()


def scenario_names() -> list[str]:
    return list(_REGISTRY)


def get_spec(name: str) -> ScenarioSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise MadataError(f"unknown scenario {name!r}; valid: {', '.join(_REGISTRY)}") from None


def make(name: str) -> ScenarioEnv:
    """Create the environment of a registered scenario."""
    spec = get_spec(name)
    if spec.family == "smax":
        from madatasets.smax_env import SmaxEnv
        return SmaxEnv(spec)
    return ScenarioEnv(spec)


def episode_return(rewards: np.ndarray) -> float:
    """Score of one episode: sum over steps of the mean reward over agents; rewards (T, N)."""
    return float(np.asarray(rewards, dtype=np.float64).mean(axis=1).sum())
