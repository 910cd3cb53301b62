"""`madata collect`: roll out a quality tier's behaviour policy and store the dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from collectors.rollout import BehaviorPolicy, UniformRandomPolicy, assemble, rollout
from madatasets.cards import build_card, return_statistics
from madatasets.errors import MadataError
from madatasets.scenarios import REFERENCE_SCORES_PATH, ScenarioSpec, episode_return, get_spec
from madatasets.store import QUALITIES, DatasetId, Store

DEFAULT_STEPS = 1_000_000

# quality -> factory(spec, seed) of its behaviour policy. Tiers driven by trained
# policies register themselves here from the behaviour-policy zoo.
TIER_POLICIES: dict[str, Callable[[ScenarioSpec, int], BehaviorPolicy]] = {
    "random": lambda spec, seed: UniformRandomPolicy(spec.act_mask),
}


def available_qualities() -> list[str]:
    return [q for q in QUALITIES if q in TIER_POLICIES]


def episode_returns(episodes: list[dict[str, Any]]) -> np.ndarray:
    return np.array([episode_return(e["rewards"]) for e in episodes])


def collect(scenario: str, quality: str, steps: int = DEFAULT_STEPS, seed: int = 0, workers: int = 1,
            store: str | Store | None = None, overwrite: bool = False, version: int = 0,
            progress: bool = True) -> Path:
    """Collect and write `<scenario>/<quality>-v<version>`; returns the dataset's path."""
    spec = get_spec(scenario)
    if quality not in TIER_POLICIES:
        raise MadataError(f"unknown or unavailable quality {quality!r}; valid: {', '.join(available_qualities())}")
    if steps < 1:
        raise MadataError(f"--steps must be a positive number of environment steps, got {steps}")
    if workers < 1:
        raise MadataError(f"--workers must be at least 1, got {workers}")
    store = store if isinstance(store, Store) else Store(store, create=True)
    if not store.exists:
        store = Store(store.root, create=True)
    dataset_id = DatasetId(scenario, quality, version)
    policy = TIER_POLICIES[quality](spec, seed)
    with store.writing(dataset_id, overwrite) as write:
        episodes = rollout(scenario, policy, steps, seed, workers, progress, description=str(dataset_id))
        arrays = assemble(episodes, spec.n_agents)
        # A budget-cut last episode is incomplete: keep it out of the return statistics.
        complete = [e for e in episodes if not e["budget_cut"]]
        card = build_card(
            dataset_id=str(dataset_id), spec_dict=spec.to_dict(), quality=quality, version=version,
            behavior_policies=policy.describe(), seed=seed, total_steps=int(arrays["actions"].shape[0]),
            total_episodes=len(episodes), returns=return_statistics(episode_returns(complete or episodes)),
            reference_scores=spec.reference_scores, layout="joint",
            collection={"steps_requested": steps, "action_noise": None, "episode_seeding":
                        "SeedSequence([seed, episode_index])"})
        return write(arrays, card)


def measure_random_reference(scenario: str, episodes: int = 100, seed: int = 1_000_003, workers: int = 1,
                             progress: bool = True) -> dict[str, Any]:
    """Mean return of uniform random actions over `episodes` whole episodes."""
    spec = get_spec(scenario)
    rolled = rollout(scenario, UniformRandomPolicy(spec.act_mask), None, seed, workers, progress,
                     description=f"{scenario} random reference", episodes_wanted=episodes)
    returns = episode_returns(rolled)
    return {"mean": float(returns.mean()), "std": float(returns.std()), "episodes": int(returns.size),
            "seed": seed, "scenario_version": spec.version, "package_versions": spec.package_versions(),
            "policy": "uniform-random"}


def save_reference(scenario: str, tier: str, entry: dict[str, Any], path: Path = REFERENCE_SCORES_PATH) -> None:
    scores = json.loads(path.read_text()) if path.exists() else {}
    scores.setdefault(scenario, {})[tier] = entry
    path.write_text(json.dumps(scores, indent=2, sort_keys=True) + "\n")
    from madatasets.scenarios import _load_reference_scores
    _load_reference_scores.cache_clear()
