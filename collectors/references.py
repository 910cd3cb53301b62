"""Reference scores: the yardsticks normalized scores are measured against.

`random` (uniform random actions), `scripted` (the MPE yardstick controllers of
`collectors/yardsticks.py`) and `expert` (the zoo's deterministic expert) are each
the mean return over many whole episodes on the reference episode seeds
(`SeedSequence([1000003, k])`), recorded with their standard error and, for the
expert, the zoo version it belongs to. Normalized score = 100 (R - random) /
(expert - random); a dataset's card keeps the references it was made with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from collectors.rollout import UniformRandomPolicy, rollout
from madatasets.scenarios import episode_return, get_spec
from madatasets.spec import record_reference

REFERENCE_SEED = 1_000_003
# MPE episodes are 25 steps: 1,000 of them keep the random reference's standard error
# below 2% of the random-to-expert span; MuJoCo's 1,000-step episodes get 100.
DEFAULT_EPISODES = {"mpe": 1_000, "mamujoco": 100, "smax": 1_000}


def default_episodes(scenario: str) -> int:
    return DEFAULT_EPISODES.get(get_spec(scenario).family, 100)


def summarize_returns(returns: np.ndarray) -> dict[str, Any]:
    returns = np.asarray(returns, dtype=np.float64)
    return {"mean": float(returns.mean()), "std": float(returns.std()),
            "stderr": float(returns.std(ddof=1) / np.sqrt(returns.size)) if returns.size > 1 else float("nan"),
            "episodes": int(returns.size)}


def measure_reference(scenario: str, policy: str, episodes: int | None = None, seed: int = REFERENCE_SEED,
                      workers: int = 1, progress: bool = True, zoo: str | Path | None = None) -> dict[str, Any]:
    """Mean return (and standard error) of `policy` in {'random', 'scripted', 'expert'} over whole episodes."""
    from madatasets.errors import MadataError
    spec = get_spec(scenario)
    episodes = episodes or default_episodes(scenario)
    if spec.discrete:
        return _measure_smax_reference(scenario, policy, episodes, seed, zoo)
    extra: dict[str, Any] = {}
    if policy == "random":
        behavior = UniformRandomPolicy(spec.act_mask, spec.episode_limit)
        extra["policy"] = "uniform-random"
    elif policy == "scripted":
        from collectors.yardsticks import scripted_policy
        behavior = scripted_policy(scenario)
        extra["policy"] = behavior.describe()[0]["id"]
    elif policy == "expert":
        from collectors.behavior import ActorPolicy, ZOO_DIR, load_zoo_actor, read_zoo_index
        zoo_dir = Path(zoo) if zoo is not None else ZOO_DIR
        actor, info = load_zoo_actor(scenario, "expert", zoo_dir)
        behavior = ActorPolicy(scenario, actor)
        extra |= {"policy": info["id"], "checksum": info["sha256"],
                  "zoo_version": read_zoo_index(zoo_dir).get("zoo_version", 0)}
    else:
        raise MadataError(f"unknown reference policy {policy!r}; valid: random, scripted, expert")
    rolled = rollout(scenario, behavior, None, seed, workers, progress, description=f"{scenario} {policy} reference",
                     episodes_wanted=episodes)
    returns = np.array([episode_return(e["rewards"]) for e in rolled])
    return summarize_returns(returns) | {"seed": seed, "scenario_version": spec.version,
                                         "package_versions": spec.package_versions()} | extra


def save_reference(scenario: str, tier: str, entry: dict[str, Any], path: Path | None = None) -> None:
    """Record `entry` as `tier`'s reference of `scenario` (madatasets owns the table)."""
    record_reference(scenario, tier, entry, path)


def _measure_smax_reference(scenario: str, policy: str, episodes: int, seed: int,
                            zoo: str | Path | None) -> dict[str, Any]:
    """SMAX: uniform-legal random, JaxMARL's heuristic allies (`scripted`) or the zoo's greedy
    expert, whole episodes through the vectorized rollout; the win rate beside the return."""
    from madatasets.errors import MadataError
    from madatasets.smax import SMAX_MAPS, core, single_thread_flags
    single_thread_flags()
    from madatasets.smax_vector import POLICIES, VectorRollout
    spec = get_spec(scenario)
    smax = core(SMAX_MAPS[scenario][0])
    extra: dict[str, Any] = {}
    if policy in ("random", "scripted"):
        behavior = POLICIES["random" if policy == "random" else "heuristic"](smax)
        extra["policy"] = "uniform-legal-random" if policy == "random" else "jaxmarl-heuristic-allies"
    elif policy == "expert":
        from collectors.zoo_index import ZOO_DIR, load_zoo_actor, read_zoo_index
        zoo_dir = Path(zoo) if zoo is not None else ZOO_DIR
        actor, info = load_zoo_actor(scenario, "expert", zoo_dir)
        behavior = actor.jax_policy(smax, "greedy")
        extra |= {"policy": info["id"], "checksum": info["sha256"],
                  "zoo_version": read_zoo_index(zoo_dir).get("zoo_version", 0)}
    else:
        raise MadataError(f"unknown reference policy {policy!r}; valid: random, scripted, expert")
    played = VectorRollout(smax, behavior, min(episodes, 256)).run(seed, episodes=episodes)
    returns = np.array([episode_return(e["rewards"]) for e in played])
    return summarize_returns(returns) | {"win_rate": float(np.mean([e["won"] for e in played])), "seed": seed,
                                         "scenario_version": spec.version,
                                         "package_versions": spec.package_versions()} | extra
