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

from typing import Any, Callable

import numpy as np
from gymnasium import spaces
from pettingzoo.utils.env import ParallelEnv

from madatasets.backends import _Backend, _MaMuJoCoBackend, _MPEBackend
from madatasets.errors import MadataError
from madatasets.mpe_world import WorldCommObservations
from madatasets.spec import REFERENCE_SCORES_PATH, ScenarioSpec, _load_reference_scores  # noqa: F401 (re-exported)

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

    def pursuit_distance(self, lead: float = 0.0) -> float:
        """Predator-prey scenarios only: the adversaries' summed distance to the nearest prey."""
        if not hasattr(self._backend, "pursuit_distance"):
            raise MadataError(f"{self.spec.name} is not a predator-prey scenario; pursuit_distance needs mpe tag/world")
        return self._backend.pursuit_distance(lead)

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


def _mpe(module: str, team: tuple[str, ...], batched: Callable[[Any], Any] | None = None,
         **env_kwargs: Any) -> Callable[[ScenarioSpec], _Backend]:
    def build(spec: ScenarioSpec) -> _Backend:
        import importlib
        env_module = importlib.import_module(f"mpe2.{module}")
        return _MPEBackend(lambda: env_module.parallel_env(
            continuous_actions=True, max_cycles=spec.episode_limit, **env_kwargs), team, batched)
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
                       batched=WorldCommObservations, num_good=2, num_adversaries=4, num_obstacles=1, num_food=2, num_forests=2))

# scenario name -> (gymnasium-robotics MaMuJoCo scenario, agent conf): which single-agent
# MuJoCo task (`<scenario>-v5`) each one factorizes (the Minari importer matches on it).
MAMUJOCO_TASKS: dict[str, tuple[str, str]] = {}

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
    MAMUJOCO_TASKS[_name] = (_scenario, _conf)


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


def _no_simulator(spec: ScenarioSpec) -> _Backend:
    from madatasets.smac import no_simulator_message
    raise MadataError(no_simulator_message(spec.name))


def _register_smac() -> None:
    from madatasets.smac import SMAC_MAPS, SMAC_PACKAGES
    for name, smac_map in SMAC_MAPS.items():
        obs, actions, state = smac_map.shapes()
        _register(name=name, version=0, family="smac", action_kind="discrete", simulator=False,
                  description=f"SMAC (StarCraft II) {smac_map.map_name}: {smac_map.description}; import-only "
                              f"(no simulator here), {smac_map.episode_limit} steps",
                  agents=tuple(f"agent_{i}" for i in range(smac_map.allies)), obs_sizes=(obs,) * smac_map.allies,
                  act_sizes=(actions,) * smac_map.allies, state_dim=state, episode_limit=smac_map.episode_limit,
                  packages=SMAC_PACKAGES, builder=_no_simulator)


_register_smac()


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
    if not spec.simulator:
        from madatasets.smac import no_simulator_message
        raise MadataError(no_simulator_message(name))
    if spec.family == "smax":
        from madatasets.smax_env import SmaxEnv
        return SmaxEnv(spec)
    return ScenarioEnv(spec)


def episode_return(rewards: np.ndarray) -> float:
    """Score of one episode: sum over steps of the mean reward over agents; rewards (T, N)."""
    return float(np.asarray(rewards, dtype=np.float64).mean(axis=1).sum())


def episode_returns(rewards: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """`episode_return` of every episode of concatenated rows (episode k's rows end at ends[k]),
    computed the same way, so the numbers are identical."""
    means = np.asarray(rewards, dtype=np.float64).mean(axis=1)
    starts = np.concatenate([[0], ends[:-1]]).tolist()
    return np.array([means[s:e].sum() for s, e in zip(starts, np.asarray(ends).tolist())], dtype=np.float64)
