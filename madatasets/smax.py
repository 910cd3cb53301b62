"""SMAX (JaxMARL's JAX re-implementation of SMAC-like maps) as jitted array functions.

One `SmaxCore` per map holds a `HeuristicEnemySMAX` (the allies learn, the built-in
heuristic enemy AI is part of the environment) and jitted single-environment and
vmapped functions over it. Everything here speaks arrays:

* observations (N, O) float32 and the global state (`world_state`) (S,) float32;
* actions (N,) integer indices; legal-action masks (N, A) bool from
  `get_avail_actions` (dead units may only stop);
* rewards (N,) float32: SMAX's shared team reward, repeated per ally;
* `terminated` (a side is wiped out), `truncated` (the step limit was reached with
  both sides alive) and `won` (every enemy dead, some ally alive).

Randomness is a pure function of the episode's integer seed: the episode key is
`PRNGKey(seed)`, the reset uses `fold_in(key, 0)` and step t (from 0) uses
`fold_in(key, t + 1)`, split into an environment key (`fold_in(., 0)`) and an action
key (`fold_in(., 1)`, for random behaviour). The single environment and the vmapped
batch derive the same keys, so they step identically.

We call `step_env`, never `step`: JaxMARL's `step` auto-resets when the episode ends
and returns the reset observation, which would lose the true terminal next
observation and state.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
from dataclasses import dataclass
from typing import Any, NamedTuple

# (jaxmarl map name, allies, enemies) per registered scenario.
SMAX_MAPS: dict[str, tuple[str, int, int]] = {
    "smax-3m": ("3m", 3, 3),
    "smax-8m": ("8m", 8, 8),
    "smax-2s3z": ("2s3z", 5, 5),
    "smax-3s5z": ("3s5z", 8, 8),
    "smax-5m_vs_6m": ("5m_vs_6m", 5, 6),
    "smax-10m_vs_11m": ("10m_vs_11m", 10, 11),
    "smax-3s_vs_5z": ("3s_vs_5z", 3, 5),
    "smax-6h_vs_8z": ("6h_vs_8z", 6, 8),
    "smax-smacv2-5": ("smacv2_5_units", 5, 5),
}
SMAX_MAX_STEPS = 100          # SMAX's default episode limit (each step is 8 world steps)
SMAX_PACKAGES = ("jaxmarl", "jax", "jaxlib")
MOVE_ACTIONS = 5              # 0-3 move, 4 stop; 5 + i attacks enemy i
STOP_ACTION = 4


def smax_shapes(allies: int, enemies: int) -> tuple[int, int, int]:
    """(observation, actions, state) sizes of SMAX's unit_list observations.

    Own features (health, x, y, cooldown, 6 unit-type bits) = 10, per other unit 13,
    state 12 per unit; `tests/test_smax.py` checks these against the environment.
    """
    return 13 * (allies - 1) + 13 * enemies + 10, enemies + MOVE_ACTIONS, 12 * (allies + enemies)


def import_jax() -> Any:
    """Import jax and jaxmarl quietly (`import jaxmarl` prints to stdout)."""
    from madatasets.errors import MadataError
    # XLA's C++ log prints an error-level line per cached program whose compile-time CPU
    # features name tuning flags (+prefer-no-gather) the loader does not recognise; the
    # programs run correctly, and those lines would bury the CLI's output.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        with quiet_stdout():
            import jax
            import jaxmarl  # noqa: F401
            import jaxmarl.environments.smax  # noqa: F401 (the module that prints)
    except ImportError:
        raise MadataError("SMAX scenarios need jaxmarl; install them with `pip install -e .[smax]`") from None
    _persistent_cache(jax)
    return jax


@functools.lru_cache(maxsize=1)
def _persistent_cache(jax: Any) -> None:
    # Compiling one vmapped SMAX chunk takes tens of seconds on a small CPU; JAX's on-disk
    # cache makes every later process start in seconds. MADATA_JAX_CACHE=0 turns it off.
    where = os.environ.get("MADATA_JAX_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "madata", "jax"))
    if where != "0":
        jax.config.update("jax_compilation_cache_dir", where)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


@contextlib.contextmanager
def quiet_stdout() -> Any:
    """Silence stdout at the file-descriptor level: jaxmarl's import-time prints escape
    `contextlib.redirect_stdout` (something it imports rebinds sys.stdout)."""
    import sys
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(io.StringIO()):
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


class Step(NamedTuple):
    obs: Any          # (..., N, O) float32
    state: Any        # (..., S) float32
    legal: Any        # (..., N, A) bool
    reward: Any       # (..., N) float32
    terminated: Any   # (...) bool
    truncated: Any    # (...) bool
    won: Any          # (...) bool


@dataclass(frozen=True)
class SmaxCore:
    """Jitted SMAX functions for one map (cached per map by `core`)."""

    map_name: str

    @functools.cached_property
    def env(self) -> Any:
        import_jax()
        with quiet_stdout():
            from jaxmarl import make
            from jaxmarl.environments.smax import map_name_to_scenario
            return make("HeuristicEnemySMAX", scenario=map_name_to_scenario(self.map_name),
                        enemy_shoots=True, attack_mode="closest", max_steps=SMAX_MAX_STEPS)

    # -- pure functions of one environment (jit/vmap them) ---------------------
    def _observe(self, obs: dict, env_state: Any) -> tuple[Any, Any, Any]:
        import jax.numpy as jnp
        agents = self.env.agents
        legal = self.env.get_avail_actions(env_state)
        return (jnp.stack([obs[a] for a in agents]).astype(jnp.float32),
                obs["world_state"].astype(jnp.float32),
                jnp.stack([legal[a] for a in agents]).astype(bool))

    def reset_fn(self, seed_key: Any) -> tuple[Any, Step]:
        import jax
        import jax.numpy as jnp
        obs, env_state = self.env.reset(jax.random.fold_in(seed_key, 0))
        o, s, legal = self._observe(obs, env_state)
        n = self.env.num_agents
        false = jnp.zeros((), bool)
        return env_state, Step(o, s, legal, jnp.zeros((n,), jnp.float32), false, false, false)

    def step_fn(self, seed_key: Any, t: Any, env_state: Any, actions: Any) -> tuple[Any, Step]:
        import jax
        import jax.numpy as jnp
        key = jax.random.fold_in(jax.random.fold_in(seed_key, t + 1), 0)
        agents = self.env.agents
        obs, env_state, rewards, _, _ = self.env.step_env(key, env_state, {a: actions[i] for i, a in enumerate(agents)})
        o, s, legal = self._observe(obs, env_state)
        alive = env_state.state.unit_alive
        allies_alive = alive[: self.env.num_allies].any()
        enemies_alive = alive[self.env.num_allies:].any()
        terminated = ~allies_alive | ~enemies_alive
        truncated = (env_state.state.step >= SMAX_MAX_STEPS) & ~terminated
        reward = jnp.stack([rewards[a] for a in agents]).astype(jnp.float32)
        return env_state, Step(o, s, legal, reward, terminated, truncated, allies_alive & ~enemies_alive)

    def random_actions_fn(self, seed_key: Any, t: Any, legal: Any) -> Any:
        """Uniform over each agent's legal actions, from the step's action key."""
        import jax
        import jax.numpy as jnp
        key = jax.random.fold_in(jax.random.fold_in(seed_key, t + 1), 1)
        logits = jnp.where(legal, 0.0, -jnp.inf)
        return jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)

    # -- jitted entry points -----------------------------------------------------
    @functools.cached_property
    def reset(self) -> Any:
        import_jax()
        import jax
        return jax.jit(self.reset_fn)

    @functools.cached_property
    def step(self) -> Any:
        import_jax()
        import jax
        return jax.jit(self.step_fn)

    @functools.cached_property
    def random_actions(self) -> Any:
        import_jax()
        import jax
        return jax.jit(self.random_actions_fn)

    @functools.cached_property
    def batch_reset(self) -> Any:
        jax = import_jax()
        return jax.jit(jax.vmap(self.reset_fn))

    @functools.cached_property
    def batch_step(self) -> Any:
        """(keys (E,), t (E,), env states, actions (E, N)) -> (env states, Step of (E, ...))."""
        jax = import_jax()
        return jax.jit(jax.vmap(self.step_fn))


@functools.lru_cache(maxsize=None)
def core(map_name: str) -> SmaxCore:
    return SmaxCore(map_name)


def seed_key(seed: int) -> Any:
    jax = import_jax()
    return jax.random.PRNGKey(int(seed))


def seed_keys(seeds: Any) -> Any:
    """Episode keys (E, 2) for integer seeds (E,), the same as `seed_key` of each."""
    jax = import_jax()
    import jax.numpy as jnp
    return jax.vmap(jax.random.PRNGKey)(jnp.asarray(seeds, dtype=jnp.uint32))


def single_thread_flags() -> None:
    """Keep XLA's CPU backend on one thread unless the user chose otherwise (before jax loads)."""
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
